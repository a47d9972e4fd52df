//! `/metrics` in Prometheus text format, built with `prometheus-client`.
//! Memory gauges are refreshed at scrape time from the same readings as
//! `/debug/memory`, so both endpoints agree.

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
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
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
    memory_bytes: Family<SourceLabel, Gauge>,
    queue_depth: Gauge,
    jobs_in_flight: Family<StageLabel, Gauge>,
    db_connections: Family<StatusLabel, Gauge>,
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
        let mut registry = Registry::with_prefix("report_server");
        let m = Metrics {
            jobs_started: Counter::default(),
            jobs_finished: Family::default(),
            job_seconds: Histogram::new([0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]),
            submissions: Counter::default(),
            photo_uploads: Counter::default(),
            photo_bytes: Counter::default(),
            photo_failures: Counter::default(),
            report_downloads: Counter::default(),
            memory_bytes: Family::default(),
            queue_depth: Gauge::default(),
            jobs_in_flight: Family::default(),
            db_connections: Family::default(),
            stage_allocated: Family::default(),
            stage_high_water: Family::default(),
            stage_seconds: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "jobs_started",
            "Jobs taken up by a worker",
            m.jobs_started.clone(),
        );
        registry.register(
            "jobs_finished",
            "Jobs finished, by status",
            m.jobs_finished.clone(),
        );
        registry.register_with_unit(
            "job_duration",
            "Time from a job's start to its end",
            Unit::Seconds,
            m.job_seconds.clone(),
        );
        registry.register(
            "submissions",
            "Submissions acknowledged",
            m.submissions.clone(),
        );
        registry.register(
            "photo_uploads",
            "Photos uploaded through the server",
            m.photo_uploads.clone(),
        );
        registry.register_with_unit(
            "photo_download",
            "Photo bytes downloaded from Cloudinary",
            Unit::Bytes,
            m.photo_bytes.clone(),
        );
        registry.register(
            "photo_download_failures",
            "Photos that could not be downloaded after retries",
            m.photo_failures.clone(),
        );
        registry.register(
            "report_downloads",
            "Reports served",
            m.report_downloads.clone(),
        );
        registry.register_with_unit(
            "memory",
            "Memory by source: jemalloc_allocated, jemalloc_active, jemalloc_resident, jemalloc_mapped, jemalloc_retained, jemalloc_metadata, process_rss, process_hwm, modelled_runtime, uncollected (finished jobs' buffers awaiting the modelled cyclic collection)",
            Unit::Bytes,
            m.memory_bytes.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs waiting in the queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "jobs_in_flight",
            "Jobs being processed, by stage",
            m.jobs_in_flight.clone(),
        );
        registry.register(
            "db_connections",
            "Database pool connections: open, idle, peak",
            m.db_connections.clone(),
        );
        registry.register_with_unit(
            "stage_allocated",
            "Bytes allocated by job threads during each stage (jemalloc per-thread counters), summed over jobs",
            Unit::Bytes,
            m.stage_allocated.clone(),
        );
        registry.register_with_unit(
            "stage_high_water",
            "jemalloc stats.allocated high-water mark during the last finished job's stage",
            Unit::Bytes,
            m.stage_high_water.clone(),
        );
        registry.register_with_unit(
            "stage_duration",
            "Time spent in each stage, summed over jobs",
            Unit::Seconds,
            m.stage_seconds.clone(),
        );
        Metrics { registry, ..m }
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

    /// Refresh the gauges from a memory reading and encode everything.
    pub fn render(&self, mem: &DebugMemory, pool: PoolStatus) -> String {
        let set = |source: &str, v: u64| {
            self.memory_bytes
                .get_or_create(&SourceLabel {
                    source: source.to_string(),
                })
                .set(v as i64);
        };
        if let Some(j) = mem.jemalloc {
            set("jemalloc_allocated", j.allocated);
            set("jemalloc_active", j.active);
            set("jemalloc_resident", j.resident);
            set("jemalloc_mapped", j.mapped);
            set("jemalloc_retained", j.retained);
            set("jemalloc_metadata", j.metadata);
        }
        set("process_rss", mem.process.rss);
        set("process_hwm", mem.process.hwm);
        set("modelled_runtime", mem.modelled_runtime_bytes);
        set("uncollected", mem.uncollected_bytes);
        self.queue_depth.set(mem.queue_depth as i64);
        self.jobs_in_flight.clear();
        for j in &mem.jobs_in_flight {
            self.jobs_in_flight
                .get_or_create(&StageLabel {
                    stage: j.stage.clone(),
                })
                .inc();
        }
        for (k, v) in [
            ("open", pool.open),
            ("idle", pool.idle),
            ("peak", pool.peak_open),
        ] {
            self.db_connections
                .get_or_create(&StatusLabel { status: k.into() })
                .set(v as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
