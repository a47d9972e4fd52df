//! [`RunReport`], the one result type of a run, and its exporters.
//!
//! Every other output is drawn from it: `run.json` is its serde form
//! (pinned by `oomlab/schema/run.schema.json`), `report.md`
//! ([`markdown`]) and `memory.svg` ([`svg`]) render it, and `samples.csv` is
//! the sample stream it summarises. Memory is in bytes, time in seconds
//! (since the run started) unless a field's name says otherwise.

mod attribution;
mod figures;
pub mod heap;
pub mod leak;
pub mod log_stage;
pub mod markdown;
pub mod services;
pub mod split;
pub mod svg;
mod times;
pub mod work;

pub use attribution::{ATTRIBUTION_TOLERANCE_PCT, PeakAttribution};
pub use figures::{job_peak, peaks_from_samples, quantile, submission_losses};
pub use leak::{SettleReport, TrendReport};
pub use times::{JobTimes, spans as job_time_spans};

use std::path::{Path, PathBuf};

use anyhow::Context;
use memstats::StageMemory;
use serde::{Deserialize, Serialize};

use crate::cgroup::{CgroupReading, CgroupVersion};
use crate::sampler::{Sample, StageSpan};
use crate::watchdog::{Enforce, OomEvent};

pub use crate::app_target::{InputFile, TargetKind};
pub use crate::crash::{CoreFile, Crash, SignalName};

fn restart_never() -> crate::watchdog::Restart {
    crate::watchdog::Restart::Never
}

fn oom_kill_tree() -> crate::watchdog::OomKill {
    crate::watchdog::OomKill::Tree
}

/// The version of the `run.json` format; bumped when a field changes meaning
/// or is removed.
pub const SCHEMA_VERSION: u32 = 3;

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
    /// What ran, and the shape of the run: the target, its workers, the
    /// scenario's concurrency and the CPU share.
    #[serde(default)]
    pub shape: RunShape,
    /// The scenario that drove the load.
    pub scenario: InputFile,
    /// Where the photos came from: the fake's synthetic catalogue or the
    /// user's directory (`--photos`, `photo_dir`), with the files used.
    #[serde(default)]
    pub photos: crate::scenario::photos::PhotoOrigin,
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
    /// What a reader must know before trusting a figure of this run (e.g.
    /// an attribution check out of tolerance); empty when nothing.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The idle step at the end of the run and the memory before and after
    /// it; `None` when none ran (fewer than 5 completed jobs, `--settle 0s`,
    /// or a run that did not end with its load done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<SettleReport>,
    /// The memory trend over the job cycles and the leak verdict; `None`
    /// with fewer than 5 completed jobs or after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<TrendReport>,
    /// The measured services, in start order, each with its limit, peaks,
    /// starts, limit events, processes and verdict: one (`server`) for a
    /// plain run, two (`web`, `worker`) for a split run, whose top-level
    /// figures above are the worker's. Schema 3; before it, a split run's
    /// services were under `split.services` and a plain run had none.
    #[serde(default)]
    pub services: Vec<services::ServiceReport>,
    /// The stages an app's own log began (`[log] stage` of its target
    /// file), each with the line and when it was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_stages: Vec<log_stage::LogStage>,
    /// A split run's Redis and the jobs across the worker's restarts
    /// (`oomlab run --split`). `None`: not split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<split::SplitReport>,
    /// The allocation sites at each traced process's peak (`oomlab run
    /// --heap`, an app target). `None`: not traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<heap::HeapReport>,
}

/// What ran, recorded as data rather than in file names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunShape {
    /// What kind of target ran.
    pub target: TargetKind,
    /// Background jobs the target processes at once (the profile's
    /// `workers`); `None` when the target does not say.
    pub workers: Option<u32>,
    /// Users of the scenario: submissions in flight at once at most.
    pub concurrency: u32,
    /// CPU share the target was held to, cores; `None`: not limited.
    pub cpus: Option<f64>,
    /// Memory the target declares it holds from start to stand in for the
    /// modelled runtime (the profile's `model.runtime_mb`), bytes.
    pub declared_runtime_bytes: Option<u64>,
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
    /// When a service was started again (`--restart`).
    #[serde(default = "restart_never")]
    pub restart: crate::watchdog::Restart,
    /// What a kill at the limit ended (`--oom-kill`).
    #[serde(default = "oom_kill_tree")]
    pub oom_kill: crate::watchdog::OomKill,
    /// The memory cgroup, with `--enforce cgroup`.
    pub cgroup: Option<CgroupReport>,
    /// Why enforcement differs from what was asked (e.g. a cgroup fallback).
    pub notes: Vec<String>,
    /// Whether and how the server's CPU was limited (`--cpus`).
    #[serde(default)]
    pub cpu: crate::cgroup::CpuLimitReport,
}

/// The memory cgroup the server ran in (in systemd scopes: the latest
/// start's scope's; gone by the end of the run, so `reading` is usually
/// `None` and the samples' `cgroup_usage` hold its figures).
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
    /// The load did not do its work (a step answered an error, fewer
    /// submissions or reports than asked, a download missing or of the
    /// wrong type, a threshold missed), though memory stayed within the
    /// limit: its memory figures are not an answer.
    LoadFailed,
}

impl Outcome {
    /// The process exit code of a run that ended so.
    pub fn exit(self) -> crate::Exit {
        match self {
            Outcome::WithinLimit | Outcome::TimedOut => crate::Exit::WithinLimit,
            Outcome::Killed | Outcome::Crossed | Outcome::Crashed => crate::Exit::LimitCrossed,
            Outcome::Interrupted => crate::Exit::HarnessFailed,
            Outcome::LoadFailed => crate::Exit::LoadFailed,
        }
    }

    /// Whether the run went over the limit (killed, or crossed with
    /// `--enforce off`).
    pub fn over_limit(self) -> bool {
        matches!(self, Outcome::Killed | Outcome::Crossed)
    }

    /// How a table names it: `killed`, `crossed the limit`, ...
    pub fn label(self) -> &'static str {
        match self {
            Outcome::WithinLimit => "held",
            Outcome::Killed => "killed",
            Outcome::Crossed => "crossed the limit",
            Outcome::Crashed => "crashed",
            Outcome::Interrupted => "interrupted",
            Outcome::TimedOut => "timed out",
            Outcome::LoadFailed => "load failed",
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// How the run ended.
    pub outcome: Outcome,
    /// One line, e.g. "killed at 14.2 s: 531.0 MiB (RSS), job 2 in stage pdf,
    /// 2 jobs in flight".
    pub summary: String,
    /// The process exit code: 0 within the limit, 1 crossed, killed or
    /// crashed, 3 interrupted, 4 the load failed.
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
    /// For a tree of processes: the one that held the most at the sampled
    /// peak, e.g. `pid 4242 (gunicorn): 463.3 MiB (PSS)`.
    #[serde(default)]
    pub process_at_peak: Option<String>,
    /// For a tree of processes: the plain sum of their `VmRSS` at the
    /// sampled peak (shared pages counted once per process), bytes; the
    /// peak itself sums PSS.
    #[serde(default)]
    pub rss_sum_at_peak_bytes: Option<u64>,
    /// For a tree of processes: the highest sum of each process's own
    /// `VmHWM`, bytes: an upper bound of the tree's peak (the processes
    /// need not peak together), shown beside it, never checked against
    /// the limit; the tree's `vmhwm_bytes` is its PSS sum's high-water
    /// mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_vmhwm_sum_bytes: Option<u64>,
    /// Who held the memory at the jemalloc peak: the jobs' live bytes plus
    /// idle memory against jemalloc `allocated` at that reading. `None`
    /// without a jemalloc reading (other allocator, or no reading taken).
    #[serde(default)]
    pub attribution: Option<PeakAttribution>,
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
    /// Seconds from start to ready (for a start that crashed before it was
    /// ready: until it exited).
    pub ready_after_s: f64,
    /// When it exited, seconds.
    pub exited_at_s: f64,
    /// Its exit status as the OS reported it, e.g. `signal: 9 (SIGKILL)`.
    pub status: String,
    /// Why it exited.
    pub cause: ExitCause,
    /// What is known of a start that ended on its own (`cause` is
    /// `crashed`): the signal, its last lines, the jobs in flight, its core
    /// file. Absent for the harness's own kills and stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<Crash>,
}

/// Why a server start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCause {
    /// The watchdog killed it at the limit.
    Watchdog,
    /// The kernel's OOM killer killed it in its memory cgroup.
    Cgroup,
    /// It exited on its own.
    Crashed,
    /// The harness stopped it at the end of the run.
    Stopped,
}

impl ExitCause {
    /// Its name in run.json.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitCause::Watchdog => "watchdog",
            ExitCause::Cgroup => "cgroup",
            ExitCause::Crashed => "crashed",
            ExitCause::Stopped => "stopped",
        }
    }

    /// Whether it was killed for crossing the limit.
    pub fn is_kill(self) -> bool {
        matches!(self, ExitCause::Watchdog | ExitCause::Cgroup)
    }
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
    /// Of the failed, given up as lost: a process of the app died after
    /// they were acknowledged and nothing moved for `--lost-after`.
    #[serde(default)]
    pub jobs_lost: u64,
    /// Acknowledged but never seen done or failed (lost to a kill, or not
    /// finished when the run stopped).
    pub acknowledged_never_completed: u64,
    /// Median time from submission to report ready, seconds (from the
    /// server's job timestamps where it gives them, see `time_source`).
    pub time_to_ready_p50_s: Option<f64>,
    /// 95th percentile of it, seconds.
    pub time_to_ready_p95_s: Option<f64>,
    /// Where the times to report ready come from.
    #[serde(default)]
    pub time_source: TimeSource,
    /// Median time a job waited in the queue before a worker took it,
    /// seconds (server timestamps only).
    #[serde(default)]
    pub queue_wait_p50_s: Option<f64>,
    /// Median time a worker spent on a job, seconds (server timestamps only).
    #[serde(default)]
    pub processing_p50_s: Option<f64>,
    /// Median time to report ready as a browser polling the status once per
    /// poll interval sees it, seconds.
    #[serde(default)]
    pub time_to_ready_polled_p50_s: Option<f64>,
    /// 95th percentile of that, seconds.
    #[serde(default)]
    pub time_to_ready_polled_p95_s: Option<f64>,
    /// Completed reports per minute of load; `None` with fewer than
    /// [`MIN_REPORTS_FOR_RATE`] completed (not a throughput then).
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
    /// What the scenario asked for against what happened, step by step,
    /// and the checks that failed.
    #[serde(default)]
    pub work: work::WorkReport,
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

/// Reports per minute are only given from this many completed reports up.
pub const MIN_REPORTS_FOR_RATE: u64 = 5;

/// Where times to report ready come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum TimeSource {
    /// The server's job timestamps (`created_at`, `finished_at`, RFC 3339
    /// with milliseconds): millisecond resolution.
    #[default]
    Server,
    /// The harness's status polls: the resolution is the poll interval.
    Polls {
        /// The poll interval, seconds.
        resolution_s: f64,
    },
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
    /// Submission to report ready, seconds (completed jobs): from the
    /// server's `created_at` and `finished_at` where it gave them, else as
    /// the polls saw it.
    pub time_to_ready_s: Option<f64>,
    /// Submission to the first poll that saw it completed, seconds: what a
    /// browser polling the status sees.
    #[serde(default)]
    pub time_to_ready_polled_s: Option<f64>,
    /// `created_at` to `started_at`: waiting for a worker, seconds.
    #[serde(default)]
    pub queue_wait_s: Option<f64>,
    /// `started_at` to `finished_at`: on a worker, seconds.
    #[serde(default)]
    pub processing_s: Option<f64>,
    /// The server's timestamps of the job, when it gave them.
    #[serde(default)]
    pub server_times: Option<JobTimes>,
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

impl RunReport {
    /// Writes `run.json`, `report.md` and `memory.svg` into `dir`;
    /// `web_samples` are a split run's web service's (its second series on
    /// the chart), empty otherwise.
    pub fn write_all(
        &self,
        dir: &Path,
        samples: &[Sample],
        web_samples: &[Sample],
    ) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        let p = dir.join(&self.files.run_json);
        std::fs::write(&p, json + "\n").with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join(&self.files.report_md);
        std::fs::write(&p, markdown::render(self))
            .with_context(|| format!("writing {}", p.display()))?;
        let p = dir.join(&self.files.memory_svg);
        svg::draw(self, samples, web_samples, &p)
            .with_context(|| format!("drawing {}", p.display()))?;
        Ok(())
    }
}
