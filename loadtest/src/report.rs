//! [`RunReport`], the one result type of a run, and its exporters.
//!
//! Every other output is drawn from it: `run.json` is its serde form
//! (pinned by `loadtest/schema/run.schema.json`), `report.md`
//! ([`markdown`]) and `memory.svg` ([`svg`]) render it, and `samples.csv` is
//! the sample stream it summarises. Memory is in bytes, time in seconds
//! (since the run started) unless a field's name says otherwise.

pub mod markdown;
pub mod svg;

use std::path::{Path, PathBuf};

use anyhow::Context;
use memstats::{JobInFlight, StageMemory};
use serde::{Deserialize, Serialize};

use crate::cgroup::{CgroupReading, CgroupVersion};
use crate::sampler::{PeakReading, Sample, StageSpan};
use crate::watchdog::{Enforce, OomEvent};

/// The version of the `run.json` format; bumped when a field changes meaning
/// or is removed.
pub const SCHEMA_VERSION: u32 = 1;

/// The result of one `oomlab run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Version of this format ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of oomlab that wrote it.
    pub oomlab_version: String,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// Wall-clock duration of the run, seconds.
    pub duration_s: f64,
    /// The server profile that ran.
    pub profile: InputFile,
    /// The scenario that drove the load.
    pub scenario: InputFile,
    /// The memory limit and how it was enforced.
    pub limit: LimitReport,
    /// The outcome in one line, and the exit code.
    pub verdict: Verdict,
    /// Highest memory by source.
    pub peaks: Peaks,
    /// Bytes the server holds from start to stand in for the modelled
    /// interpreter: a declared model input, not a measurement (included in
    /// the measured figures, shown apart). `None` when never read.
    pub modelled_runtime_bytes: Option<u64>,
    /// Limit crossings, in order (one per server start at most).
    pub oom_events: Vec<OomEvent>,
    /// The server process: its command line and every exit.
    pub server: ServerReport,
    /// What the load did.
    pub load: LoadReport,
    /// Every acknowledged job.
    pub jobs: Vec<JobReport>,
    /// Job stages as seen by the `/debug/memory` poller (bands on the
    /// timeline).
    pub stage_spans: Vec<StageSpan>,
    /// How memory was sampled.
    pub sampling: SamplingReport,
    /// The files of this run, relative to its folder.
    pub files: Files,
}

/// A profile or scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// Its name (the file's stem, or the scenario's `name`).
    pub name: String,
    /// The path it was read from.
    pub path: PathBuf,
}

/// The limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitReport {
    /// The limit, bytes.
    pub bytes: u64,
    /// How it was enforced: `watchdog`, `cgroup` or `off`.
    pub enforce: Enforce,
    /// Whether the server was restarted after a kill.
    pub restart_on_oom: bool,
    /// The memory cgroup, with `--enforce cgroup`.
    pub cgroup: Option<CgroupReport>,
    /// Why enforcement differs from what was asked (e.g. a cgroup fallback).
    pub notes: Vec<String>,
    /// Whether and how the server's CPU was limited (`--cpus`).
    #[serde(default)]
    pub cpu: crate::cgroup::CpuLimitReport,
}

/// The memory cgroup the server ran in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupReport {
    /// Its directory.
    pub path: PathBuf,
    /// `v1` or `v2`.
    pub version: CgroupVersion,
    /// Its figures at the end of the run (usage and peak in bytes).
    pub reading: Option<CgroupReading>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The load finished and memory stayed within the limit.
    WithinLimit,
    /// The server was killed for crossing the limit.
    Killed,
    /// The limit was crossed but nothing was killed (`--enforce off`).
    Crossed,
    /// The server exited on its own before the load was done.
    Crashed,
    /// The run was stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// `--max-duration` passed before the load finished, within the limit.
    TimedOut,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// How the run ended.
    pub outcome: Outcome,
    /// One line, e.g. "killed at 14.2 s: 531.0 MB (RSS), job 2 in stage pdf,
    /// 2 jobs in flight".
    pub summary: String,
    /// The process exit code: 0 within the limit, 1 crossed, killed or
    /// crashed, 3 interrupted.
    pub exit_code: u8,
}

/// Highest memory, by source. Bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    /// Highest sampled resident set (`VmRSS` every 10 ms), bytes.
    pub sampled_rss_bytes: u64,
    /// When it was sampled, seconds.
    pub sampled_rss_at_s: f64,
    /// The kernel's high-water mark (`VmHWM`, the highest over every server
    /// start), bytes: catches a peak between two samples.
    pub vmhwm_bytes: u64,
    /// Highest jemalloc `stats.allocated` seen every 100 ms, bytes.
    pub jemalloc_allocated_bytes: Option<u64>,
    /// Highest jemalloc `stats.active`, bytes.
    pub jemalloc_active_bytes: Option<u64>,
    /// Highest jemalloc `stats.resident`, bytes.
    pub jemalloc_resident_bytes: Option<u64>,
    /// The cgroup's peak usage (page cache included), bytes.
    pub cgroup_peak_bytes: Option<u64>,
    /// Resident set at the first sample after the server was ready, bytes.
    pub idle_rss_bytes: Option<u64>,
    /// The limit minus the higher of the sampled RSS and VmHWM peaks, bytes
    /// (negative when crossed).
    pub headroom_bytes: i64,
    /// The jobs and stages in flight at the sampled RSS peak, e.g.
    /// `2:pdf;3:photos`; empty when none was.
    pub stages_at_peak: String,
    /// Highest sampled RSS for each number of jobs in flight, bytes.
    pub by_jobs_in_flight: Vec<PeakByJobs>,
    /// Who held the memory at the jemalloc peak: the jobs' live bytes plus
    /// idle memory against jemalloc `allocated` at that reading. `None`
    /// without a jemalloc reading (other allocator, or no reading taken).
    #[serde(default)]
    pub attribution: Option<PeakAttribution>,
}

/// The attribution check at the `/debug/memory` reading with the highest
/// jemalloc `allocated`: per-job live bytes (jemalloc per-thread counters
/// of each job's worker thread) plus idle memory, against what jemalloc
/// says is allocated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// `jobs_live_bytes + idle_allocated_bytes`, bytes.
    pub attributed_bytes: i64,
    /// `(attributed_bytes - jemalloc_allocated_bytes) /
    /// jemalloc_allocated_bytes * 100`, percent (negative: less attributed
    /// than allocated).
    pub difference_pct: f64,
}

impl PeakAttribution {
    /// The check from the reading at the jemalloc peak.
    pub fn from_reading(r: &PeakReading) -> PeakAttribution {
        let jobs_live_bytes: i64 = r.jobs.iter().filter_map(|j| j.live_bytes).sum();
        let attributed_bytes = jobs_live_bytes + r.idle_allocated.unwrap_or(0) as i64;
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
            attributed_bytes,
            difference_pct,
        }
    }
}

/// Highest sampled RSS while `jobs_in_flight` jobs were being processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakByJobs {
    /// Jobs in flight (per the latest `/debug/memory` reading).
    pub jobs_in_flight: u32,
    /// Highest sampled RSS, bytes.
    pub rss_bytes: u64,
}

/// The server process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    /// Its command line.
    pub command: Vec<String>,
    /// How many times it was started (1 + restarts).
    pub starts: u32,
    /// How each start ended.
    pub exits: Vec<ServerExit>,
}

/// How one server start ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerExit {
    /// Server start number (0 for the first).
    pub generation: u32,
    /// When it was started, seconds.
    pub started_at_s: f64,
    /// Seconds from start to ready.
    pub ready_after_s: f64,
    /// When it exited, seconds.
    pub exited_at_s: f64,
    /// Its exit status as the OS reported it, e.g. `signal: 9 (SIGKILL)`.
    pub status: String,
    /// `watchdog` (killed at the limit), `cgroup` (the kernel's OOM killer),
    /// `crashed` (exited on its own), or `stopped` (by the harness at the
    /// end).
    pub cause: String,
}

/// What the load did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Submissions the server acknowledged with a job id.
    pub submissions_acknowledged: u64,
    /// Jobs seen completed.
    pub jobs_completed: u64,
    /// Jobs seen failed or given up.
    pub jobs_failed: u64,
    /// Acknowledged but never seen done or failed (lost to a kill, or not
    /// finished when the run stopped).
    pub acknowledged_never_completed: u64,
    /// Median time from submission to report ready, seconds.
    pub time_to_ready_p50_s: Option<f64>,
    /// 95th percentile of it, seconds.
    pub time_to_ready_p95_s: Option<f64>,
    /// Completed reports per minute of load.
    pub reports_per_minute: Option<f64>,
    /// Errors the load saw (`step: message`, repeats counted).
    pub errors: Vec<String>,
    /// Goose's HTML report, relative to the run folder.
    pub goose_html: Option<PathBuf>,
    /// Goose's JSON report, relative to the run folder.
    pub goose_json: Option<PathBuf>,
    /// Submissions lost to kills: by the reference server, and by the
    /// modelled app's in-memory queue. Present with `--restart-on-oom` or
    /// when the server was killed.
    #[serde(default)]
    pub losses: Option<SubmissionLosses>,
}

/// Acknowledged submissions lost to kills.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmissionLosses {
    /// Kills during the run (watchdog or cgroup).
    pub kills: u32,
    /// Acknowledged submissions the reference server lost: never seen
    /// completed or failed by the end of the run.
    pub lost_by_reference_server: u64,
    /// Acknowledged submissions the modelled app's in-memory queue would
    /// have lost: distinct jobs acknowledged and not yet completed or
    /// failed at the moment of a kill (pending or processing then). Counted
    /// from this run's job outcomes and kill times.
    pub lost_by_in_memory_queue: u64,
    /// The same, kill by kill.
    pub per_kill: Vec<KillLosses>,
}

/// What one kill caught unfinished.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KillLosses {
    /// When the server was killed, seconds.
    pub at_s: f64,
    /// Server start number that was killed.
    pub generation: u32,
    /// Jobs acknowledged and not finished then that were being processed
    /// (per the last `/debug/memory` reading before the kill).
    pub processing: u64,
    /// The others: acknowledged, waiting.
    pub pending: u64,
    /// Their job ids.
    pub job_ids: Vec<String>,
}

/// Submissions lost to the kills in `events`, from the jobs' outcomes.
/// `None` unless `restart_on_oom` or a kill happened.
pub fn submission_losses(
    jobs: &[JobReport],
    events: &[OomEvent],
    restart_on_oom: bool,
) -> Option<SubmissionLosses> {
    let kills: Vec<&OomEvent> = events.iter().filter(|e| e.killed).collect();
    if !restart_on_oom && kills.is_empty() {
        return None;
    }
    let mut lost = std::collections::BTreeSet::new();
    let per_kill = kills
        .iter()
        .map(|e| {
            let caught: Vec<&JobReport> = jobs
                .iter()
                .filter(|j| {
                    j.submitted_at_s <= e.at_s && j.finished_at_s.is_none_or(|f| f > e.at_s)
                })
                .collect();
            let processing = caught
                .iter()
                .filter(|j| {
                    e.jobs_in_flight
                        .iter()
                        .any(|f| f.job_id.to_string() == j.job_id)
                })
                .count() as u64;
            lost.extend(caught.iter().map(|j| j.job_id.clone()));
            KillLosses {
                at_s: e.at_s,
                generation: e.generation,
                processing,
                pending: caught.len() as u64 - processing,
                job_ids: caught.iter().map(|j| j.job_id.clone()).collect(),
            }
        })
        .collect();
    Some(SubmissionLosses {
        kills: kills.len() as u32,
        lost_by_reference_server: jobs.iter().filter(|j| j.finished_at_s.is_none()).count() as u64,
        lost_by_in_memory_queue: lost.len() as u64,
        per_kill,
    })
}

/// One acknowledged job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    /// The job id the server answered with.
    pub job_id: String,
    /// Its last status (`completed`, `failed`, `pending`, ...).
    pub status: String,
    /// When it was submitted, seconds.
    pub submitted_at_s: f64,
    /// When it was seen done or failed, seconds.
    pub finished_at_s: Option<f64>,
    /// Submission to report ready, seconds (completed jobs).
    pub time_to_ready_s: Option<f64>,
    /// Highest sampled RSS of the server while this job was in flight, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Memory per stage as the server measured it (`GET /api/jobs/{id}`),
    /// when it could still be asked.
    pub stages: Vec<StageMemory>,
}

/// How memory was sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingReport {
    /// `/proc` sampling interval, milliseconds.
    pub proc_interval_ms: u64,
    /// `/debug/memory` polling interval, milliseconds.
    pub debug_interval_ms: u64,
    /// Rows in `samples.csv`.
    pub samples: u64,
    /// `/debug/memory` readings that failed (server busy or gone).
    pub debug_errors: u64,
    /// Why `samples.csv` stopped being written, if it did.
    pub csv_error: Option<String>,
}

/// The files of a run, relative to its folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Files {
    /// This report as JSON.
    pub run_json: PathBuf,
    /// The Markdown report.
    pub report_md: PathBuf,
    /// The memory timeline.
    pub memory_svg: PathBuf,
    /// Every sample.
    pub samples_csv: PathBuf,
    /// The server's stdout and stderr.
    pub server_log: PathBuf,
}

impl Files {
    /// The standard names.
    pub fn standard() -> Files {
        Files {
            run_json: "run.json".into(),
            report_md: "report.md".into(),
            memory_svg: "memory.svg".into(),
            samples_csv: "samples.csv".into(),
            server_log: "server.log".into(),
        }
    }
}

/// Peaks from the sample stream.
pub fn peaks_from_samples(samples: &[Sample], limit: u64) -> Peaks {
    let mut p = Peaks {
        sampled_rss_bytes: 0,
        sampled_rss_at_s: 0.0,
        vmhwm_bytes: 0,
        jemalloc_allocated_bytes: None,
        jemalloc_active_bytes: None,
        jemalloc_resident_bytes: None,
        cgroup_peak_bytes: None,
        idle_rss_bytes: samples.first().map(|s| s.rss),
        headroom_bytes: limit as i64,
        stages_at_peak: String::new(),
        by_jobs_in_flight: Vec::new(),
        attribution: None,
    };
    let mut jobs_now: u32 = 0;
    let mut stages_now = String::new();
    let mut by_jobs: std::collections::BTreeMap<u32, u64> = Default::default();
    for s in samples {
        if let Some(j) = s.jobs_in_flight {
            jobs_now = j;
            stages_now = s.stages.clone().unwrap_or_default();
        }
        if s.rss > p.sampled_rss_bytes {
            p.sampled_rss_bytes = s.rss;
            p.sampled_rss_at_s = s.t_ms as f64 / 1000.0;
            p.stages_at_peak = stages_now.clone();
        }
        p.vmhwm_bytes = p.vmhwm_bytes.max(s.hwm);
        let e = by_jobs.entry(jobs_now).or_default();
        *e = (*e).max(s.rss);
    }
    p.headroom_bytes = limit as i64 - p.sampled_rss_bytes.max(p.vmhwm_bytes) as i64;
    p.by_jobs_in_flight = by_jobs
        .into_iter()
        .map(|(jobs_in_flight, rss_bytes)| PeakByJobs {
            jobs_in_flight,
            rss_bytes,
        })
        .collect();
    p
}

/// Highest sampled RSS while job `job_id` had a stage band open.
pub fn job_peak(samples: &[Sample], spans: &[StageSpan], job_id: &str) -> Option<u64> {
    let id: i64 = job_id.parse().ok()?;
    let (start, end) =
        spans
            .iter()
            .filter(|s| s.job_id == id)
            .fold(None, |acc: Option<(f64, f64)>, s| {
                Some(acc.map_or((s.start_s, s.end_s), |(a, b)| {
                    (a.min(s.start_s), b.max(s.end_s))
                }))
            })?;
    samples
        .iter()
        .filter(|s| {
            let t = s.t_ms as f64 / 1000.0;
            t >= start && t <= end
        })
        .map(|s| s.rss)
        .max()
}

/// The `q`-quantile (0..=1) of `values` by nearest rank.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

impl RunReport {
    /// Writes `run.json`, `report.md` and `memory.svg` into `dir`.
    pub fn write_all(&self, dir: &Path, samples: &[Sample]) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        let p = dir.join(&self.files.run_json);
        std::fs::write(&p, json + "\n").with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join(&self.files.report_md);
        std::fs::write(&p, markdown::render(self))
            .with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join(&self.files.memory_svg);
        svg::draw(self, samples, &p).with_context(|| format!("drawing {}", p.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, rss: u64, jobs: Option<u32>) -> Sample {
        Sample {
            t_ms,
            generation: 0,
            rss,
            rss_anon: rss,
            rss_file: 0,
            hwm: rss,
            processes: 1,
            cgroup_usage: None,
            jemalloc: None,
            jobs_in_flight: jobs,
            queue_depth: None,
            stages: jobs.map(|j| if j > 0 { "1:pdf".into() } else { String::new() }),
        }
    }

    #[test]
    fn peaks_are_split_by_jobs_in_flight_and_name_the_stage_at_the_peak() {
        let s = [
            sample(0, 10, Some(0)),
            sample(10, 50, Some(1)),
            sample(20, 40, None),
            sample(30, 20, Some(0)),
        ];
        let p = peaks_from_samples(&s, 100);
        assert_eq!(p.sampled_rss_bytes, 50);
        assert_eq!(p.idle_rss_bytes, Some(10));
        assert_eq!(p.stages_at_peak, "1:pdf");
        assert_eq!(p.headroom_bytes, 50);
        assert_eq!(
            p.by_jobs_in_flight,
            vec![
                PeakByJobs {
                    jobs_in_flight: 0,
                    rss_bytes: 20
                },
                PeakByJobs {
                    jobs_in_flight: 1,
                    rss_bytes: 50
                }
            ]
        );
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.95), Some(4.0));
    }
}
