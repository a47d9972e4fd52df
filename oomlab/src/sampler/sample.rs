//! One row of `samples.csv`, and how it is written.

use memstats::AllocatorStats;

/// One row of `samples.csv`.
#[derive(Debug, Clone, Default, PartialEq)]
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

    /// The row, CSV-encoded by the `csv` crate: a free-text field (a stage or
    /// process name from another target's `/debug/memory`) with a comma or a
    /// quote is quoted, so the columns never shift.
    pub(super) fn csv_row(&self) -> String {
        fn opt<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let je = self.jemalloc;
        let fields = [
            format!("{:.3}", self.t_ms as f64 / 1000.0),
            self.generation.to_string(),
            self.rss.to_string(),
            self.rss_anon.to_string(),
            self.rss_file.to_string(),
            self.hwm.to_string(),
            self.processes.to_string(),
            opt(self.cgroup_usage),
            opt(je.map(|j| j.allocated)),
            opt(je.map(|j| j.active)),
            opt(je.map(|j| j.resident)),
            opt(self.queue_depth),
            opt(self.jobs_in_flight),
            self.stages.clone().unwrap_or_default(),
            self.rss_sum.to_string(),
            self.per_process.clone().unwrap_or_default(),
        ];
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail; a field is text, never invalid.
        let _ = w.write_record(&fields);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .trim_end_matches('\n')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_with_commas_and_quotes_is_quoted_and_reads_back_whole() {
        let s = Sample {
            stages: Some("7:pdf, page 2;8:\"photos\"".into()),
            per_process: Some("pid 1 (gunicorn: master): 3".into()),
            ..Sample::default()
        };
        let row = s.csv_row();
        let text = format!("{}\n{row}\n", Sample::CSV_HEADER);
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers().unwrap().clone();
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(rec.len(), headers.len(), "{row}");
        let col = |name: &str| {
            rec.get(headers.iter().position(|h| h == name).unwrap())
                .unwrap()
        };
        assert_eq!(col("stages"), "7:pdf, page 2;8:\"photos\"");
        assert_eq!(col("per_process"), "pid 1 (gunicorn: master): 3");
        assert_eq!(col("rss_sum_bytes"), "0");
    }
}
