//! One row of `samples.csv`, and how it is written.

use memstats::AllocatorStats;

/// One row of `samples.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Milliseconds since the run started.
    pub t_ms: u64,
    /// Server start number (0, then 1 after a restart...).
    pub generation: u32,
    /// Resident set of the server's process tree, bytes.
    pub rss: u64,
    /// Anonymous part of it, bytes.
    pub rss_anon: u64,
    /// File-backed part of it, bytes.
    pub rss_file: u64,
    /// The kernel's high-water mark (`VmHWM`), bytes.
    pub hwm: u64,
    /// Processes in the server's tree.
    pub processes: u32,
    /// The plain sum of the tree's processes' `VmRSS`, bytes (equal to
    /// `rss` for one process; above it when processes share pages).
    pub rss_sum: u64,
    /// Each process of a tree of more than one: `pid name pss_bytes`,
    /// `;`-separated; `None` for one process.
    pub per_process: Option<String>,
    /// The cgroup's usage, bytes (`--enforce cgroup` only).
    pub cgroup_usage: Option<u64>,
    /// jemalloc figures, on the first row after a new `/debug/memory` reading.
    pub jemalloc: Option<AllocatorStats>,
    /// Jobs in flight at the latest `/debug/memory` reading (same rows).
    pub jobs_in_flight: Option<u32>,
    /// Queue depth at that reading.
    pub queue_depth: Option<u64>,
    /// `job:stage` pairs at that reading, `;`-separated.
    pub stages: Option<String>,
}

impl Sample {
    /// The CSV header.
    pub const CSV_HEADER: &'static str = "t_s,generation,rss_bytes,rss_anon_bytes,rss_file_bytes,vmhwm_bytes,processes,cgroup_usage_bytes,jemalloc_allocated_bytes,jemalloc_active_bytes,jemalloc_resident_bytes,queue_depth,jobs_in_flight,stages,rss_sum_bytes,per_process";

    pub(super) fn csv_row(&self) -> String {
        fn opt<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let je = self.jemalloc;
        format!(
            "{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.t_ms as f64 / 1000.0,
            self.generation,
            self.rss,
            self.rss_anon,
            self.rss_file,
            self.hwm,
            self.processes,
            opt(self.cgroup_usage),
            opt(je.map(|j| j.allocated)),
            opt(je.map(|j| j.active)),
            opt(je.map(|j| j.resident)),
            opt(self.queue_depth),
            opt(self.jobs_in_flight),
            csv_text(self.stages.as_deref().unwrap_or_default()),
            self.rss_sum,
            csv_text(self.per_process.as_deref().unwrap_or_default()),
        )
    }
}

/// A free-text CSV field: a comma (a stage or process name from another
/// target) would shift the columns, so it is replaced.
fn csv_text(s: &str) -> String {
    s.replace([',', '\n', '\r'], "_")
}
