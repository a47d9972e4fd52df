//! [`PeakAttribution`]: whether the per-job live bytes and idle memory add up
//! to what jemalloc says is allocated at the peak.

use memstats::JobInFlight;
use serde::{Deserialize, Serialize};

use crate::sampler::PeakReading;

/// The attribution check at the `/debug/memory` reading with the highest
/// jemalloc `allocated`: per-job live bytes (jemalloc per-thread counters
/// of each job's worker thread) plus idle memory, against what jemalloc
/// says is allocated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeakAttribution {
    /// When the reading was taken, seconds.
    pub at_s: f64,
    /// Server start number of that reading.
    pub generation: u32,
    /// jemalloc `stats.allocated` at that reading, bytes.
    pub jemalloc_allocated_bytes: u64,
    /// jemalloc `stats.allocated` at the latest earlier reading of the same
    /// server start with no job in flight, bytes (the memory no job holds);
    /// When that server start had no job-free reading before the peak (a
    /// restarted server taking up its jobs at once), the first job-free
    /// reading of the run; `None` if there was none (counted as 0).
    pub idle_allocated_bytes: Option<u64>,
    /// Whether `idle_allocated_bytes` was read in an earlier server start.
    #[serde(default)]
    pub idle_from_earlier_start: bool,
    /// Sum of the jobs' live bytes at that reading (allocated minus freed
    /// by each job's worker thread since the job started), bytes; can be
    /// negative when a thread frees more than it allocated.
    pub jobs_live_bytes: i64,
    /// The jobs in flight at that reading, with their stage and live bytes.
    pub jobs: Vec<JobInFlight>,
    /// Memory finished jobs left for a collection at that reading
    /// (`model.release = "cyclic_gc"`), bytes: no job in flight holds it.
    #[serde(default)]
    pub uncollected_bytes: u64,
    /// `jobs_live_bytes + idle_allocated_bytes`, with the uncollected
    /// memory of the idle reading replaced by that of this one, bytes.
    pub attributed_bytes: i64,
    /// `(attributed_bytes - jemalloc_allocated_bytes) /
    /// jemalloc_allocated_bytes * 100`, percent (negative: less attributed
    /// than allocated).
    pub difference_pct: f64,
    /// Whether `difference_pct` is within [`ATTRIBUTION_TOLERANCE_PCT`];
    /// when not, the run's warnings say so.
    #[serde(default)]
    pub within_tolerance: bool,
}

/// How far the attributed bytes may be from jemalloc's `allocated` before
/// the report warns that the per-job figures do not add up, percent.
pub const ATTRIBUTION_TOLERANCE_PCT: f64 = 10.0;

impl PeakAttribution {
    /// The check from the reading at the jemalloc peak.
    pub fn from_reading(r: &PeakReading) -> PeakAttribution {
        let jobs_live_bytes: i64 = r.jobs.iter().filter_map(|j| j.live_bytes).sum();
        let attributed_bytes = jobs_live_bytes + r.idle_allocated.unwrap_or(0) as i64
            - r.idle_uncollected as i64
            + r.uncollected as i64;
        let difference_pct = if r.allocated > 0 {
            (attributed_bytes - r.allocated as i64) as f64 / r.allocated as f64 * 100.0
        } else {
            0.0
        };
        PeakAttribution {
            at_s: r.at_ms as f64 / 1000.0,
            generation: r.generation,
            jemalloc_allocated_bytes: r.allocated,
            idle_allocated_bytes: r.idle_allocated,
            idle_from_earlier_start: r.idle_from_earlier_start,
            jobs_live_bytes,
            jobs: r.jobs.clone(),
            uncollected_bytes: r.uncollected,
            attributed_bytes,
            difference_pct,
            within_tolerance: difference_pct.abs() <= ATTRIBUTION_TOLERANCE_PCT,
        }
    }
}
