//! `/metrics`, built with `prometheus-client`. Memory gauges are refreshed
//! at scrape time from the same readings as `/debug/memory`, so both
//! endpoints agree.
//!
//! One family, one quantity: each family holds one measured thing in one
//! unit (stated by its suffix and, in OpenMetrics, its `# UNIT` line), and
//! a label only splits that thing (by stage, by status), never names a
//! different quantity. So `process_resident_memory_bytes` and
//! `jemalloc_allocated_bytes` are families of their own, not values of a
//! `source` label: a sum or a `max by` over a family means something.
//! Families that describe the process or the allocator rather than the
//! report server carry their conventional names (`process_`, as the
//! Prometheus client libraries' process collectors; `jemalloc_`), the
//! others the `report_server_` prefix.
//!
//! # Layout
//! - [`exposition`]: the two formats the endpoint answers in (OpenMetrics
//!   when asked for, else Prometheus text 0.0.4, what `promtool` and
//!   `curl` read).

pub mod exposition;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use memstats::DebugMemory;

use crate::db::PoolStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

/// The process's memory as the kernel counts it.
#[derive(Default)]
struct ProcessGauges {
    resident: Gauge,
    high_water: Gauge,
}

/// jemalloc's `stats.*` figures (absent under another allocator).
#[derive(Default)]
struct JemallocGauges {
    allocated: Gauge,
    active: Gauge,
    resident: Gauge,
    mapped: Gauge,
    retained: Gauge,
    metadata: Gauge,
}

/// The database pool's connections.
#[derive(Default)]
struct PoolGauges {
    open: Gauge,
    idle: Gauge,
    peak: Gauge,
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    pub jobs_started: Counter,
    pub jobs_finished: Family<StatusLabel, Counter>,
    pub job_seconds: Histogram,
    pub submissions: Counter,
    pub photo_uploads: Counter,
    pub photo_bytes: Counter,
    pub photo_failures: Counter,
    pub report_downloads: Counter,
    /// CPU burned by `[model.cpu]` on top of the jobs' own work, seconds.
    pub model_cpu_seconds: Counter<f64>,
    process: ProcessGauges,
    jemalloc: JemallocGauges,
    modelled_runtime: Gauge,
    uncollected: Gauge,
    queue_depth: Gauge,
    jobs_in_flight: Family<StageLabel, Gauge>,
    db: PoolGauges,
    stage_allocated: Family<StageLabel, Counter>,
    stage_high_water: Family<StageLabel, Gauge>,
    stage_seconds: Family<StageLabel, Counter<f64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            jobs_started: Counter::default(),
            jobs_finished: Family::default(),
            job_seconds: Histogram::new([0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]),
            submissions: Counter::default(),
            photo_uploads: Counter::default(),
            photo_bytes: Counter::default(),
            photo_failures: Counter::default(),
            report_downloads: Counter::default(),
            model_cpu_seconds: Counter::default(),
            process: ProcessGauges::default(),
            jemalloc: JemallocGauges::default(),
            modelled_runtime: Gauge::default(),
            uncollected: Gauge::default(),
            queue_depth: Gauge::default(),
            jobs_in_flight: Family::default(),
            db: PoolGauges::default(),
            stage_allocated: Family::default(),
            stage_high_water: Family::default(),
            stage_seconds: Family::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::default();
        m.register_process(&mut registry);
        m.register_server(registry.sub_registry_with_prefix("report_server"));
        Metrics { registry, ..m }
    }

    /// The process's and the allocator's families, under their
    /// conventional names.
    fn register_process(&self, root: &mut Registry) {
        let process = root.sub_registry_with_prefix("process");
        process.register_with_unit(
            "resident_memory",
            "Resident set size of the server process (VmRSS)",
            Unit::Bytes,
            self.process.resident.clone(),
        );
        let jemalloc = root.sub_registry_with_prefix("jemalloc");
        let j = &self.jemalloc;
        for (name, help, gauge) in [
            (
                "allocated",
                "Bytes in live allocations (jemalloc stats.allocated)",
                &j.allocated,
            ),
            (
                "active",
                "Bytes in active pages, allocations and their page slack (jemalloc stats.active)",
                &j.active,
            ),
            (
                "resident",
                "Bytes in physically resident pages the allocator maps, metadata included (jemalloc stats.resident)",
                &j.resident,
            ),
            (
                "mapped",
                "Bytes in extents the allocator maps for active use (jemalloc stats.mapped)",
                &j.mapped,
            ),
            (
                "retained",
                "Bytes of virtual memory kept mapped but returned to the OS (jemalloc stats.retained)",
                &j.retained,
            ),
            (
                "metadata",
                "Bytes of the allocator's own metadata (jemalloc stats.metadata)",
                &j.metadata,
            ),
        ] {
            jemalloc.register_with_unit(name, help, Unit::Bytes, gauge.clone());
        }
    }

    /// The report server's own families (`report_server_` prefix).
    fn register_server(&self, r: &mut Registry) {
        r.register(
            "jobs_started",
            "Jobs taken up by a worker",
            self.jobs_started.clone(),
        );
        r.register(
            "jobs_finished",
            "Jobs finished, by status",
            self.jobs_finished.clone(),
        );
        r.register_with_unit(
            "job_duration",
            "Time from a job's start to its end",
            Unit::Seconds,
            self.job_seconds.clone(),
        );
        r.register(
            "submissions",
            "Submissions acknowledged",
            self.submissions.clone(),
        );
        r.register(
            "photo_uploads",
            "Photos uploaded through the server",
            self.photo_uploads.clone(),
        );
        r.register_with_unit(
            "photo_download",
            "Photo bytes downloaded from Cloudinary",
            Unit::Bytes,
            self.photo_bytes.clone(),
        );
        r.register_with_unit(
            "model_cpu",
            "CPU time the jobs burned to reach the modelled app's ([model.cpu]), on top of their own work",
            Unit::Seconds,
            self.model_cpu_seconds.clone(),
        );
        r.register(
            "photo_download_failures",
            "Photos that could not be downloaded after retries",
            self.photo_failures.clone(),
        );
        r.register(
            "report_downloads",
            "Reports served",
            self.report_downloads.clone(),
        );
        r.register_with_unit(
            "memory_high_water",
            "Highest resident set size of the server process since it started (VmHWM)",
            Unit::Bytes,
            self.process.high_water.clone(),
        );
        r.register_with_unit(
            "modelled_runtime",
            "Memory held from start to stand in for the modelled interpreter (model.runtime_mb, a declared input, not a measurement)",
            Unit::Bytes,
            self.modelled_runtime.clone(),
        );
        r.register_with_unit(
            "uncollected",
            "Finished jobs' buffers still allocated, awaiting the modelled cyclic collection",
            Unit::Bytes,
            self.uncollected.clone(),
        );
        r.register(
            "queue_depth",
            "Jobs waiting in the queue",
            self.queue_depth.clone(),
        );
        r.register(
            "jobs_in_flight",
            "Jobs being processed, by stage",
            self.jobs_in_flight.clone(),
        );
        for (name, help, gauge) in [
            (
                "db_connections_open",
                "Database pool connections open (idle and in use)",
                &self.db.open,
            ),
            (
                "db_connections_idle",
                "Database pool connections open and idle",
                &self.db.idle,
            ),
            (
                "db_connections_open_peak",
                "Most database pool connections open at once since start",
                &self.db.peak,
            ),
        ] {
            r.register(name, help, gauge.clone());
        }
        r.register_with_unit(
            "stage_allocated",
            "Bytes allocated by job threads during each stage (jemalloc per-thread counters), summed over jobs",
            Unit::Bytes,
            self.stage_allocated.clone(),
        );
        r.register_with_unit(
            "stage_high_water",
            "jemalloc stats.allocated high-water mark during the last finished job's stage",
            Unit::Bytes,
            self.stage_high_water.clone(),
        );
        r.register_with_unit(
            "stage_duration",
            "Time spent in each stage, summed over jobs",
            Unit::Seconds,
            self.stage_seconds.clone(),
        );
    }

    /// Record a finished job's per-stage figures.
    pub fn record_stages(&self, stages: &[memstats::StageMemory]) {
        for st in stages {
            let label = StageLabel {
                stage: st.stage.clone(),
            };
            if let Some(a) = st.thread_allocated {
                self.stage_allocated.get_or_create(&label).inc_by(a);
            }
            self.stage_high_water
                .get_or_create(&label)
                .set(st.allocated_high_water as i64);
            self.stage_seconds
                .get_or_create(&label)
                .inc_by(st.duration_ms as f64 / 1000.0);
        }
    }

    pub fn job_started(&self) {
        self.jobs_started.inc();
    }

    pub fn job_finished(&self, status: &str) {
        self.jobs_finished
            .get_or_create(&StatusLabel {
                status: status.to_string(),
            })
            .inc();
    }

    /// Refresh the gauges from a memory reading and encode everything in
    /// OpenMetrics text ([`exposition`] turns it into the other format).
    pub fn render(&self, mem: &DebugMemory, pool: PoolStatus) -> String {
        let set = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        if let Some(j) = mem.jemalloc {
            let g = &self.jemalloc;
            set(&g.allocated, j.allocated);
            set(&g.active, j.active);
            set(&g.resident, j.resident);
            set(&g.mapped, j.mapped);
            set(&g.retained, j.retained);
            set(&g.metadata, j.metadata);
        }
        set(&self.process.resident, mem.process.rss);
        set(&self.process.high_water, mem.process.hwm);
        set(&self.modelled_runtime, mem.modelled_runtime_bytes);
        set(&self.uncollected, mem.uncollected_bytes);
        set(&self.queue_depth, mem.queue_depth);
        self.jobs_in_flight.clear();
        for j in &mem.jobs_in_flight {
            self.jobs_in_flight
                .get_or_create(&StageLabel {
                    stage: j.stage.clone(),
                })
                .inc();
        }
        set(&self.db.open, pool.open as u64);
        set(&self.db.idle, pool.idle as u64);
        set(&self.db.peak, pool.peak_open as u64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests;
