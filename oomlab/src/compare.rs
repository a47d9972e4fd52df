//! `oomlab compare`: a matrix of targets x scenarios, one row per target.
//!
//! Every cell is one run (the harness, through [`crate::matrix`]), one after
//! the other so no run shares the machine with another. The table is built
//! from the runs' reports alone, so `--from` can rebuild it from finished
//! runs without running anything. [`CompareReport`] is the one result type;
//! `compare.json` is its serde form, `compare.md` ([`markdown`]) and
//! `compare.html` ([`html`]) render it.
//!
//! # Layout
//! - [`crate::profile_settings`]: the settings that differ between profiles.
//! - [`markdown`], [`html`]: the exporters.

pub mod html;
pub mod markdown;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::app_target::Target;
use crate::error::Exit;
use crate::finished::{self, FinishedRun, peak_of};
use crate::harness::RunConfig;
use crate::matrix::{self, Cell, MatrixSettings};
use crate::report::{MIN_REPORTS_FOR_RATE, Outcome, TimeSource, quantile};
use crate::scenario::Scenario;
use crate::watchdog::Enforce;

/// The version of the `compare.json` format.
pub const SCHEMA_VERSION: u32 = 2;

/// The default matrix's scenarios.
pub const DEFAULT_SCENARIOS: &[&str] = &["single-report", "two-reports", "camera-photos"];

/// What `oomlab compare` compares.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// Runs to make, or finished runs to read.
    pub inputs: CompareInputs,
    /// The limit every run is held to, bytes.
    pub limit: u64,
    /// How it is enforced.
    pub enforce: Enforce,
    /// `--cgroup-move-self` (see `RunConfig::cgroup_move_self`).
    pub cgroup_move_self: bool,
    /// What every run shares.
    pub matrix: MatrixSettings,
}

/// Where the runs of the table come from.
#[derive(Debug, Clone)]
pub enum CompareInputs {
    /// Run every target on every scenario.
    Run {
        /// The rows.
        targets: Vec<Target>,
        /// The scenarios, in order.
        scenarios: Vec<Scenario>,
    },
    /// Read finished runs: run.json files, run folders or `compare-*`
    /// folders.
    From(Vec<PathBuf>),
}

/// The result of `oomlab compare`: one row per profile, and every run behind
/// it. Memory in bytes, times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// Version of this format ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of oomlab that wrote it.
    pub oomlab_version: String,
    /// When the table was built, RFC 3339 UTC.
    pub created_at: String,
    /// The limit each profile is judged against, bytes.
    pub limit_bytes: u64,
    /// Wall-clock time of the whole matrix, seconds; `None` when rebuilt
    /// from finished runs (`--from`).
    pub wall_time_s: Option<f64>,
    /// The scenarios, in order.
    pub scenarios: Vec<String>,
    /// One row per profile, in order.
    pub rows: Vec<ProfileRow>,
    /// The settings that differ between the profiles: profile -> key -> value.
    pub settings_that_differ: BTreeMap<String, BTreeMap<String, String>>,
    /// Every run behind the table.
    pub runs: Vec<RunCell>,
    /// How the figures were made, and anything missing.
    pub notes: Vec<String>,
}

/// One profile over every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRow {
    /// The profile's name.
    pub profile: String,
    /// Resident set (RSS) at the first sample after the server was ready,
    /// lowest over the profile's runs, bytes.
    pub idle_rss_bytes: Option<u64>,
    /// Highest sampled RSS while exactly one job was in flight (or at a
    /// kill with one job in flight), over every run, bytes.
    pub one_job_peak_bytes: Option<u64>,
    /// Highest sampled RSS while two or more jobs were in flight, bytes;
    /// `None` when two jobs never ran at once (e.g. one worker).
    pub two_jobs_peak_bytes: Option<u64>,
    /// Highest memory over every run: sampled RSS, VmHWM, or the figure at a
    /// kill, bytes.
    pub peak_bytes: u64,
    /// The scenario of that peak.
    pub peak_scenario: String,
    /// The verdict against the limit.
    pub verdict: RowVerdict,
    /// Median time from submission to report ready over every completed job
    /// of the profile, seconds.
    pub time_to_ready_p50_s: Option<f64>,
    /// 95th percentile of it (nearest rank), seconds.
    pub time_to_ready_p95_s: Option<f64>,
    /// Completed reports per minute of load, over all the profile's runs.
    pub reports_per_minute: Option<f64>,
    /// Jobs completed, of jobs acknowledged, over all its runs.
    pub jobs_completed: u64,
    /// Jobs acknowledged by the server, over all its runs.
    pub jobs_acknowledged: u64,
    /// Of those, lost: a process of the app died after they were
    /// acknowledged and they never finished (`load.jobs_lost`).
    #[serde(default)]
    pub jobs_lost: u64,
    /// Memory the server holds from start to stand in for the modelled
    /// runtime (a declared model input, included in the measured figures),
    /// bytes.
    pub modelled_runtime_bytes: Option<u64>,
    /// The settings that differ from the first profile, one line.
    pub settings_delta: String,
}

/// Held or killed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RowVerdict {
    /// Every run stayed under the limit.
    Held {
        /// The limit minus the profile's peak, bytes.
        headroom_bytes: u64,
    },
    /// A run crossed the limit.
    Killed {
        /// Whether it was killed (`false`: crossed with `--enforce off`).
        #[serde(default = "yes")]
        killed: bool,
        /// The first scenario it crossed on.
        scenario: String,
        /// When, seconds after that run started.
        at_s: f64,
        /// The figure that crossed, bytes.
        bytes: u64,
        /// The harness's one line on it.
        summary: String,
    },
    /// No run crossed the limit, but one did not finish (crashed, timed out,
    /// interrupted), so the verdict is not known.
    Incomplete {
        /// What went wrong, per run.
        why: String,
    },
}

/// One run of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCell {
    /// The profile.
    pub profile: String,
    /// The scenario.
    pub scenario: String,
    /// The run's folder.
    pub dir: PathBuf,
    /// How it ended.
    pub outcome: Outcome,
    /// The harness's verdict line.
    pub summary: String,
    /// Highest memory (RSS, VmHWM or the figure at a kill), bytes.
    pub peak_bytes: u64,
    /// RSS after start, bytes.
    pub idle_rss_bytes: Option<u64>,
    /// Median time to report ready, seconds.
    pub time_to_ready_p50_s: Option<f64>,
    /// 95th percentile, seconds.
    pub time_to_ready_p95_s: Option<f64>,
    /// Completed reports per minute.
    pub reports_per_minute: Option<f64>,
    /// Wall-clock duration of the run, seconds.
    pub duration_s: f64,
    /// The leak verdict and slope of a run with a memory trend (at least 5
    /// completed jobs); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<CellTrend>,
    /// memray's flame graph of the run's largest process, relative to the
    /// run's folder (`compare --heap`); `None`: not traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
}

/// A run's memory trend in the compare table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellTrend {
    /// `returns`, `plateaus` or `grows` (from the RSS).
    pub verdict: crate::trend::LeakVerdict,
    /// RSS slope per job after the warm-up (Theil-Sen), bytes.
    pub slope_per_job_bytes: f64,
    /// RSS slope per hour, bytes.
    pub slope_per_hour_bytes: Option<f64>,
    /// The run's trend line.
    pub summary: String,
}

/// Builds the table from finished runs. `profiles` and `scenarios` give the
/// order (names); runs of other names are appended in the order met.
pub fn build(
    runs: &[FinishedRun],
    limit_bytes: u64,
    wall_time_s: Option<f64>,
    mut notes: Vec<String>,
) -> CompareReport {
    let mut profiles: Vec<String> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for r in runs {
        if !profiles.contains(&r.report.profile.name) {
            profiles.push(r.report.profile.name.clone());
        }
        if !scenarios.contains(&r.report.scenario.name) {
            scenarios.push(r.report.scenario.name.clone());
        }
    }

    // Settings: from the first run's profile file of each profile.
    let flat: Vec<(String, Option<BTreeMap<String, String>>)> = profiles
        .iter()
        .map(|p| {
            let path = runs.iter().find(|r| &r.report.profile.name == p).map(|r| r.report.profile.path.clone());
            let s = path.as_deref().and_then(crate::profile_settings::flatten_profile).map(|mut s| {
                // An app's variant (--vary): its file's settings with the
                // environment it ran with.
                s.extend(crate::profile_settings::env_of_variant(p));
                s
            });
            if s.is_none() {
                notes.push(format!(
                    "the settings of `{p}` are not shown: its profile file {} cannot be read any more",
                    path.map(|p| p.display().to_string()).unwrap_or_default()
                ));
            }
            (p.clone(), s)
        })
        .collect();
    let diffs = crate::profile_settings::differing(&flat);
    let baseline = diffs.first().map(|d| d.1.clone()).unwrap_or_default();

    let rows = profiles
        .iter()
        .zip(&diffs)
        .map(|(p, (_, diff))| {
            let mine: Vec<&FinishedRun> = runs
                .iter()
                .filter(|r| &r.report.profile.name == p)
                .collect();
            let mut row = profile_row(p, &mine, &scenarios, limit_bytes);
            row.settings_delta = if diff == &baseline {
                if Some(p) == profiles.first() {
                    "(the baseline)".into()
                } else {
                    "same as the baseline".into()
                }
            } else {
                crate::profile_settings::delta_line(diff, &baseline)
            };
            row
        })
        .collect();

    let mut cells: Vec<RunCell> = runs.iter().map(cell).collect();
    cells.sort_by_key(|c| {
        (
            profiles.iter().position(|p| p == &c.profile),
            scenarios.iter().position(|s| s == &c.scenario),
        )
    });
    notes.push(
        "memory is the server process's resident set (RSS, sampled every 10 ms from /proc) and the kernel's \
         high-water mark (VmHWM); 1 MiB = 1048576 bytes"
            .into(),
    );
    notes.push(
        "the modelled runtime is a declared model input (memory the server holds from start to stand in for \
         the modelled app's Python interpreter); it is included in every measured figure and shown apart"
            .into(),
    );
    notes.push(time_note(runs));

    CompareReport {
        schema_version: SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        limit_bytes,
        wall_time_s,
        scenarios,
        rows,
        settings_that_differ: diffs.into_iter().collect(),
        runs: cells,
        notes,
    }
}

fn cell(r: &FinishedRun) -> RunCell {
    let rep = &r.report;
    RunCell {
        profile: rep.profile.name.clone(),
        scenario: rep.scenario.name.clone(),
        dir: r.dir.clone(),
        outcome: rep.verdict.outcome,
        summary: rep.verdict.summary.clone(),
        peak_bytes: peak_of(rep),
        idle_rss_bytes: rep.peaks.idle_rss_bytes,
        time_to_ready_p50_s: rep.load.time_to_ready_p50_s,
        time_to_ready_p95_s: rep.load.time_to_ready_p95_s,
        reports_per_minute: rep.load.reports_per_minute,
        duration_s: rep.duration_s,
        trend: rep.trend.as_ref().map(|t| CellTrend {
            verdict: t.verdict,
            slope_per_job_bytes: t.rss.slope_per_job.estimate,
            slope_per_hour_bytes: t.rss.slope_per_hour.map(|s| s.estimate),
            summary: t.summary.clone(),
        }),
        flamegraph: rep
            .heap
            .as_ref()
            .and_then(|h| h.largest()?.flamegraph.clone()),
    }
}

fn profile_row(
    profile: &str,
    runs: &[&FinishedRun],
    scenarios: &[String],
    limit: u64,
) -> ProfileRow {
    let mut by_jobs: BTreeMap<u32, u64> = BTreeMap::new();
    let mut peak = (0u64, String::new());
    let mut ready = Vec::new();
    let (mut completed, mut acked, mut lost, mut minutes) = (0u64, 0u64, 0u64, 0f64);
    let mut killed: Option<RowVerdict> = None;
    let mut incomplete = Vec::new();
    // In scenario order, so "killed on" names the first scenario that kills.
    let mut ordered: Vec<&&FinishedRun> = runs.iter().collect();
    ordered.sort_by_key(|r| scenarios.iter().position(|s| s == &r.report.scenario.name));
    for r in &ordered {
        let rep = &r.report;
        for b in &rep.peaks.by_jobs_in_flight {
            let e = by_jobs.entry(b.jobs_in_flight).or_default();
            *e = (*e).max(b.rss_bytes);
        }
        for ev in &rep.oom_events {
            let e = by_jobs.entry(ev.jobs_in_flight.len() as u32).or_default();
            *e = (*e).max(ev.bytes());
        }
        let p = peak_of(rep);
        if p > peak.0 {
            peak = (p, rep.scenario.name.clone());
        }
        ready.extend(rep.jobs.iter().filter_map(|j| j.time_to_ready_s));
        completed += rep.load.jobs_completed;
        lost += rep.load.jobs_lost;
        acked += rep.load.submissions_acknowledged;
        minutes += match rep.load.reports_per_minute {
            Some(rpm) if rpm > 0.0 => rep.load.jobs_completed as f64 / rpm,
            _ => rep.duration_s / 60.0,
        };
        if killed.is_none()
            && let Some(ev) = rep.oom_events.first()
        {
            killed = Some(RowVerdict::Killed {
                killed: ev.killed,
                scenario: rep.scenario.name.clone(),
                at_s: ev.at_s,
                bytes: ev.bytes(),
                summary: rep.verdict.summary.clone(),
            });
        }
        match rep.verdict.outcome {
            Outcome::WithinLimit | Outcome::Killed | Outcome::Crossed => {}
            o => incomplete.push(format!(
                "{}: {:?}: {}",
                rep.scenario.name, o, rep.verdict.summary
            )),
        }
    }
    let verdict = match killed {
        Some(k) => k,
        None if peak.0 > limit => RowVerdict::Killed {
            killed: false,
            scenario: peak.1.clone(),
            at_s: 0.0,
            bytes: peak.0,
            summary: "crossed: the peak is over the limit".into(),
        },
        None if !incomplete.is_empty() => RowVerdict::Incomplete {
            why: incomplete.join("; "),
        },
        None => RowVerdict::Held {
            headroom_bytes: limit - peak.0,
        },
    };
    let max_where = |f: &dyn Fn(u32) -> bool| {
        by_jobs
            .iter()
            .filter(|(j, _)| f(**j))
            .map(|(_, b)| *b)
            .max()
    };
    ProfileRow {
        profile: profile.to_string(),
        idle_rss_bytes: runs
            .iter()
            .filter_map(|r| r.report.peaks.idle_rss_bytes)
            .min(),
        one_job_peak_bytes: max_where(&|j| j == 1),
        two_jobs_peak_bytes: max_where(&|j| j >= 2),
        peak_bytes: peak.0,
        peak_scenario: peak.1,
        verdict,
        time_to_ready_p50_s: quantile(&ready, 0.5),
        time_to_ready_p95_s: quantile(&ready, 0.95),
        reports_per_minute: (minutes > 0.0 && completed >= MIN_REPORTS_FOR_RATE)
            .then(|| completed as f64 / minutes),
        jobs_completed: completed,
        jobs_acknowledged: acked,
        jobs_lost: lost,
        modelled_runtime_bytes: runs
            .iter()
            .filter_map(|r| r.report.modelled_runtime_bytes)
            .max(),
        settings_delta: String::new(),
    }
}

/// Where the times to report ready come from, and their resolution.
fn time_note(runs: &[FinishedRun]) -> String {
    let polled: Vec<String> = runs
        .iter()
        .filter_map(|r| match r.report.load.time_source {
            TimeSource::Polls { resolution_s } => Some(format!(
                "{} on {} (polls every {resolution_s} s)",
                r.report.profile.name, r.report.scenario.name
            )),
            TimeSource::Server => None,
        })
        .collect();
    if polled.is_empty() {
        "time to report ready is from the server's job timestamps (created to finished, millisecond \
         resolution); what a browser polling the status every second sees is in each run's report"
            .into()
    } else {
        format!(
            "time to report ready is from the server's job timestamps (millisecond resolution) except for runs \
             whose server gave none, where it is as the status polls saw it, to the poll interval: {}",
            polled.join(", ")
        )
    }
}

fn yes() -> bool {
    true
}

/// Runs `oomlab compare`.
pub async fn run(cfg: &CompareConfig) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let (finished, wall, notes, dir) = match &cfg.inputs {
        CompareInputs::From(paths) => {
            let finished = finished::find_runs("--from", paths)?;
            let dir = matrix::stamped_dir(&cfg.matrix.out, "compare")?;
            let note = format!(
                "rebuilt from {} finished run(s) under {} without running again",
                finished.len(),
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            (finished, None, vec![note], dir)
        }
        CompareInputs::Run { targets, scenarios } => {
            let dir = matrix::stamped_dir(&cfg.matrix.out, "compare")?;
            let runs = dir.join("runs");
            let cells = targets
                .iter()
                .flat_map(|t| scenarios.iter().map(move |s| (t, s)))
                .map(|(t, s)| Cell {
                    label: format!("{} on {}", t.name(), s.name),
                    run: RunConfig {
                        cgroup_move_self: cfg.cgroup_move_self,
                        ..cfg
                            .matrix
                            .cell(t.clone(), s.clone(), cfg.limit, cfg.enforce, &runs)
                    },
                })
                .collect();
            let out = matrix::run(cells, cfg.matrix.quiet, |r| {
                r.report.verdict.summary.clone()
            })
            .await?;
            (
                out.runs,
                Some(started.elapsed().as_secs_f64()),
                out.notes,
                dir,
            )
        }
    };
    if finished.is_empty() {
        // The progress lines are not shown without a terminal: the notes
        // say why each cell failed.
        anyhow::bail!("no run finished:\n- {}", notes.join("\n- "));
    }
    let report = build(&finished, cfg.limit, wall, notes);
    write_all(&report, &dir)?;
    print!("{}", markdown::render_terminal(&report));
    if let Some(w) = report.wall_time_s {
        println!("{} runs in {:.0} s", report.runs.len(), w);
    }
    println!(
        "written: {}/{{compare.md,compare.json,compare.html}}",
        dir.display()
    );
    let interrupted = report
        .runs
        .iter()
        .any(|c| c.outcome == Outcome::Interrupted);
    Ok(if interrupted {
        Exit::HarnessFailed
    } else {
        Exit::WithinLimit
    })
}

/// Writes `compare.json`, `compare.md` and `compare.html` into `dir`.
pub fn write_all(report: &CompareReport, dir: &std::path::Path) -> anyhow::Result<()> {
    let w = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    w("compare.json", serde_json::to_string_pretty(report)? + "\n")?;
    w("compare.md", markdown::render(report))?;
    w("compare.html", html::render(report, dir))?;
    Ok(())
}
