//! The memory trend of a run (`trend` in `run.json`) and its settle step
//! (`settle`): does memory come back after each job, stay, or grow?
//!
//! Each completed job contributes one cycle point: the first sample taken
//! at or after the moment its report was ready (the server's `finished_at`,
//! placed on the run's clock as submission + the server's
//! created-to-finished time; the poll that saw it done for a target that
//! gives no timestamps). The same point of every cycle, so the points
//! differ by what each cycle left behind, not by where in a job they fell.
//! The anonymous part of the RSS (`RssAnon`) is read there, and jemalloc's
//! `allocated` (the allocator's live bytes) where the target publishes it.
//! File-backed pages are left out of the trend: they are the program's code
//! and mapped files, paged in as code paths first run (3.5 MiB over a debug
//! `lean` soak) and reclaimable, never a leak. [`crate::trend`] fits and judges
//! the series; this module only picks the points and the levels.

use serde::{Deserialize, Serialize};

use super::JobReport;
use crate::sampler::Sample;
use crate::trend::{self, Assessment, CyclePoint, LeakVerdict, Levels, Slope};
use crate::units::mb;

mod markdown;
pub use markdown::markdown;

/// How far after a report is ready an allocator reading may be and still
/// count for that cycle, milliseconds (`/debug/memory` is read every
/// 100 ms; a busy server can answer late).
const ALLOCATOR_READING_WINDOW_MS: u64 = 1000;

/// Where each cycle point is read, in words (recorded in `run.json`).
pub const CYCLE_POINT: &str = "the first sample at or after each completed job's report was ready";

/// The idle step at the end of a run, before the target is stopped: memory
/// held until a collection or a purge comes back in it, memory that never
/// comes back does not. RSS and jemalloc `allocated` before and after,
/// bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettleReport {
    /// When it started (the load done, job details read), seconds.
    pub started_at_s: f64,
    /// When it ended, seconds.
    pub ended_at_s: f64,
    /// RSS at its start (the last sample before it), bytes.
    pub rss_before_bytes: u64,
    /// RSS at its end (the last sample in it), bytes.
    pub rss_after_bytes: u64,
    /// Anonymous RSS (`RssAnon`) at its start, bytes.
    pub rss_anon_before_bytes: u64,
    /// Anonymous RSS at its end, bytes.
    pub rss_anon_after_bytes: u64,
    /// jemalloc `allocated` at its start, bytes; `None` without readings.
    pub allocated_before_bytes: Option<u64>,
    /// jemalloc `allocated` at its end, bytes.
    pub allocated_after_bytes: Option<u64>,
}

impl SettleReport {
    /// The settle step between `start_ms` and `end_ms`, from the samples;
    /// `None` when no sample was taken before it.
    pub fn from_samples(samples: &[Sample], start_ms: u64, end_ms: u64) -> Option<SettleReport> {
        let before = samples.iter().rfind(|s| s.t_ms <= start_ms)?;
        let after = samples.iter().rfind(|s| s.t_ms <= end_ms)?;
        let allocated_at = |t: u64| {
            samples
                .iter()
                .rfind(|s| s.t_ms <= t && s.jemalloc.is_some())
                .and_then(|s| s.jemalloc.map(|j| j.allocated))
        };
        Some(SettleReport {
            started_at_s: start_ms as f64 / 1000.0,
            ended_at_s: end_ms as f64 / 1000.0,
            rss_before_bytes: before.rss,
            rss_after_bytes: after.rss,
            rss_anon_before_bytes: before.rss_anon,
            rss_anon_after_bytes: after.rss_anon,
            allocated_before_bytes: allocated_at(start_ms),
            allocated_after_bytes: allocated_at(end_ms),
        })
    }
}

/// Where a series' end level comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndLevel {
    /// The end of the settle step.
    Settle,
    /// The median of the last three cycle points (no settle step ran).
    LastCycles,
}

/// One cycle point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendPoint {
    /// The job whose report was ready.
    pub job_id: String,
    /// When the point was read, seconds.
    pub at_s: f64,
    /// The figure, bytes.
    pub bytes: u64,
}

/// One figure's series over the cycles, fitted and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SeriesTrend {
    /// What was read: `rss_anon` (the anonymous part of the resident set)
    /// or `jemalloc_allocated`.
    pub source: String,
    /// Every cycle point, in the order the reports were ready (the first
    /// `warmup_jobs` of the trend are not fitted).
    pub points: Vec<TrendPoint>,
    /// The level before the load (the target idle), bytes.
    pub reference_bytes: u64,
    /// The level at the end, bytes.
    pub end_bytes: u64,
    /// Where `end_bytes` comes from.
    pub end_from: EndLevel,
    /// Slope per job after the warm-up, bytes: the Theil-Sen estimate and
    /// its 95% interval.
    pub slope_per_job: Slope,
    /// Slope per hour after the warm-up, bytes.
    pub slope_per_hour: Option<Slope>,
    /// How far from the reference the end may be and still `returns`, and
    /// how much the fitted rise must exceed to `grows`, bytes.
    pub tolerance_bytes: u64,
    /// The verdict on this figure.
    pub verdict: LeakVerdict,
    /// For `grows`: jobs until the limit at this slope, from the end level.
    pub jobs_to_limit: Option<f64>,
    /// For `grows`: hours until the limit at the hourly slope.
    pub hours_to_limit: Option<f64>,
}

/// The memory trend of a run with at least [`trend::MIN_JOBS`] completed
/// jobs of one server start: one point per completed job, read right after
/// its report was ready, a Theil-Sen slope after a warm-up, and the leak
/// verdict (returns, plateaus, grows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrendReport {
    /// Where each cycle point is read ([`CYCLE_POINT`]).
    pub cycle_point: String,
    /// Cycle points (completed jobs with a sample after their report).
    pub jobs: u32,
    /// Of them, the first ones left out of the fit as warm-up.
    pub warmup_jobs: u32,
    /// The verdict, from the anonymous RSS (what a memory limit counts,
    /// less the program's reclaimable file-backed pages).
    pub verdict: LeakVerdict,
    /// The verdict in one line, with the slope and its interval.
    pub summary: String,
    /// The anonymous RSS series (`RssAnon`; for a process tree, as
    /// sampled).
    pub rss: SeriesTrend,
    /// jemalloc's `allocated` series, where the target publishes it.
    pub allocated: Option<SeriesTrend>,
}

/// What the trend is built from.
pub struct TrendInputs<'a> {
    /// Every sample of the run.
    pub samples: &'a [Sample],
    /// Every acknowledged job.
    pub jobs: &'a [JobReport],
    /// When the load started, milliseconds.
    pub load_start_ms: u64,
    /// The settle step, if one ran.
    pub settle: Option<&'a SettleReport>,
    /// The memory limit, bytes.
    pub limit: u64,
}

/// The trend of a run; `None` with fewer than [`trend::MIN_JOBS`] cycle
/// points, or when the target was restarted (cycles of different starts do
/// not form one series).
pub fn trend(i: &TrendInputs<'_>) -> Option<TrendReport> {
    if i.samples.iter().any(|s| s.generation > 0) {
        return None;
    }
    let mut ready: Vec<(f64, &JobReport)> = i
        .jobs
        .iter()
        .filter(|j| j.status == memstats::JobStatus::Completed.as_str())
        .filter_map(|j| Some((ready_at_s(j)?, j)))
        .collect();
    ready.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rss = Vec::new();
    let mut allocated = Vec::new();
    for (at_s, j) in ready {
        let at_ms = (at_s * 1000.0).ceil() as u64;
        let Some(s) = i.samples.iter().find(|s| s.t_ms >= at_ms) else {
            continue;
        };
        rss.push(TrendPoint {
            job_id: j.job_id.clone(),
            at_s: s.t_ms as f64 / 1000.0,
            bytes: s.rss_anon,
        });
        if let Some((t_ms, a)) = i
            .samples
            .iter()
            .filter(|s| s.t_ms >= at_ms && s.t_ms <= at_ms + ALLOCATOR_READING_WINDOW_MS)
            .find_map(|s| Some((s.t_ms, s.jemalloc?)))
        {
            allocated.push(TrendPoint {
                job_id: j.job_id.clone(),
                at_s: t_ms as f64 / 1000.0,
                bytes: a.allocated,
            });
        }
    }
    let before_load = i.samples.iter().rfind(|s| s.t_ms < i.load_start_ms);
    let rss_reference = before_load.or(i.samples.first())?.rss_anon;
    let rss_end = i.settle.map(|s| s.rss_anon_after_bytes);
    let rss = series("rss_anon", rss, rss_reference, rss_end, i.limit)?;
    let allocated = (allocated.len() == rss.points.len())
        .then(|| {
            let reference = i
                .samples
                .iter()
                .filter(|s| s.t_ms < i.load_start_ms)
                .rev()
                .chain(i.samples.iter())
                .find_map(|s| s.jemalloc)?
                .allocated;
            let end = i.settle.and_then(|s| s.allocated_after_bytes);
            series("jemalloc_allocated", allocated, reference, end, i.limit)
        })
        .flatten();
    let jobs = rss.points.len() as u32;
    let warmup_jobs = trend::warmup_of(rss.points.len()) as u32;
    Some(TrendReport {
        cycle_point: CYCLE_POINT.into(),
        jobs,
        warmup_jobs,
        verdict: rss.verdict,
        summary: summary(&rss, jobs, warmup_jobs),
        rss,
        allocated,
    })
}

/// When job `j`'s report was ready on the run's clock, seconds.
fn ready_at_s(j: &JobReport) -> Option<f64> {
    let from_server = j
        .server_times
        .as_ref()
        .and_then(|t| super::job_time_spans(t).2);
    match from_server {
        Some(d) => Some(j.submitted_at_s + d),
        None => j.finished_at_s,
    }
}

fn series(
    source: &str,
    points: Vec<TrendPoint>,
    reference: u64,
    end: Option<u64>,
    limit: u64,
) -> Option<SeriesTrend> {
    let cycle: Vec<CyclePoint> = points
        .iter()
        .map(|p| CyclePoint {
            at_s: p.at_s,
            bytes: p.bytes,
        })
        .collect();
    let (end, end_from) = match end {
        Some(e) => (e, EndLevel::Settle),
        None => (trend::last_cycles_level(&cycle)?, EndLevel::LastCycles),
    };
    let a: Assessment = trend::assess(
        &cycle,
        Levels {
            reference,
            end,
            limit,
        },
    )?;
    Some(SeriesTrend {
        source: source.into(),
        points,
        reference_bytes: reference,
        end_bytes: end,
        end_from,
        slope_per_job: a.per_job,
        slope_per_hour: a.per_hour,
        tolerance_bytes: a.tolerance,
        verdict: a.verdict,
        jobs_to_limit: a.jobs_to_limit,
        hours_to_limit: a.hours_to_limit,
    })
}

/// A slope in MiB per unit with its interval: `+1.02 MiB/job (95%: +0.98 to
/// +1.05)`.
pub fn slope_text(s: &Slope, unit: &str) -> String {
    let f = |b: f64| format!("{:+.2}", b / 1048576.0);
    match (s.low, s.high) {
        (Some(l), Some(h)) => format!("{} MiB/{unit} (95%: {} to {})", f(s.estimate), f(l), f(h)),
        _ => format!(
            "{} MiB/{unit} (too few points for an interval)",
            f(s.estimate)
        ),
    }
}

/// A projected time: `3.2 h`, `14 min` or `40 s`.
pub fn hours_text(h: f64) -> String {
    if h >= 1.0 {
        format!("{h:.1} h")
    } else if h * 60.0 >= 1.0 {
        format!("{:.0} min", h * 60.0)
    } else {
        format!("{:.0} s", h * 3600.0)
    }
}

fn summary(rss: &SeriesTrend, jobs: u32, warmup: u32) -> String {
    let end = match rss.end_from {
        EndLevel::Settle => "after the settle step",
        EndLevel::LastCycles => "over the last cycles (no settle step)",
    };
    let mut s = format!(
        "{}: anonymous RSS {} over {} jobs after {} warm-up; {} {end} against {} before the load (tolerance {})",
        rss.verdict.as_str(),
        slope_text(&rss.slope_per_job, "job"),
        jobs - warmup,
        warmup,
        mb(rss.end_bytes),
        mb(rss.reference_bytes),
        mb(rss.tolerance_bytes),
    );
    if let Some(j) = rss.jobs_to_limit {
        s.push_str(&format!("; the limit in about {j:.0} more jobs"));
        if let Some(h) = rss.hours_to_limit {
            s.push_str(&format!(" ({} at this run's pace)", hours_text(h)));
        }
    }
    s
}

#[cfg(test)]
mod tests;
