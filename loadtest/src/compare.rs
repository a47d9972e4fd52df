//! `oomlab compare`: a matrix of profiles x scenarios, one table per profile.
//!
//! Every cell is one `oomlab run` (the harness, unchanged), one after the
//! other so no run shares the machine with another. The table is built from
//! the runs' `run.json` files alone, so `--from` can rebuild it from finished
//! runs without running anything. [`CompareReport`] is the one result type;
//! `compare.json` is its serde form, `compare.md` ([`markdown`]) and
//! `compare.html` ([`html`]) render it.
//!
//! # Layout
//! - [`runs`]: finding and reading `run.json`, running one cell, shared
//!   parsers (also used by `gate` and `plan`).
//! - [`settings`]: the settings that differ between profiles.
//! - [`markdown`], [`html`]: the exporters.

pub mod html;
pub mod markdown;
pub mod runs;
pub mod settings;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, Exit};
use crate::report::{Outcome, quantile};
use crate::watchdog::Enforce;
use runs::{FinishedRun, RunSpec, peak_of};

/// The version of the `compare.json` format.
pub const SCHEMA_VERSION: u32 = 1;

/// The default matrix's scenarios.
pub const DEFAULT_SCENARIOS: &[&str] = &["single-report", "two-reports", "camera-photos"];

const COMPARE_EXAMPLES: &str = "\
Examples:
  # Every shipped profile on single-report, two-reports and camera-photos:
  oomlab compare

  # Two profiles on one scenario:
  oomlab compare --profile original --profile lean --scenario two-reports

  # Rebuild the table from finished runs without running anything:
  oomlab compare --from reports/compare-20261128-120000

Exit codes: 0 the table was written (whatever the verdicts), 2 bad
arguments or files, 3 the harness failed or was interrupted.";

/// Flags of `oomlab compare`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = COMPARE_EXAMPLES, after_help = COMPARE_EXAMPLES)]
pub struct CompareArgs {
    /// A profile to compare (file or name in `profiles/`); repeat the flag
    /// for more. Default: every `profiles/*.toml`, `original` first.
    #[arg(long = "profile", value_name = "FILE|NAME")]
    pub profiles: Vec<String>,

    /// A scenario to run each profile on (file or name in `scenarios/`);
    /// repeat for more. Default: single-report, two-reports, camera-photos.
    #[arg(long = "scenario", value_name = "FILE|NAME")]
    pub scenarios: Vec<String>,

    /// The memory limit every run is held to (the verdict column), e.g.
    /// 512MiB for Render's free and starter plans.
    #[arg(long, default_value = "512MiB", value_name = "SIZE")]
    pub limit: String,

    /// How the limit is enforced in each run (see `oomlab run --help`). With
    /// `watchdog` a run that crosses the limit is killed and stops at once.
    #[arg(long, value_enum, default_value_t = Enforce::Watchdog)]
    pub enforce: Enforce,

    /// Build the table from finished runs instead of running: run.json
    /// files, run folders, or a `compare-*` folder. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub from: Vec<PathBuf>,

    /// Folder for reports; writes `<out>/compare-<timestamp>/` with the runs
    /// inside.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop any one run after this long, e.g. 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub max_run_duration: String,

    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
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
            let s = path.as_deref().and_then(settings::flatten_profile);
            if s.is_none() {
                notes.push(format!(
                    "the settings of `{p}` are not shown: its profile file {} cannot be read any more",
                    path.map(|p| p.display().to_string()).unwrap_or_default()
                ));
            }
            (p.clone(), s)
        })
        .collect();
    let diffs = settings::differing(&flat);
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
                settings::delta_line(diff, &baseline)
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
         high-water mark (VmHWM); 1 MB = 1 MiB = 1048576 bytes"
            .into(),
    );
    notes.push(
        "the modelled runtime is a declared model input (memory the server holds from start to stand in for \
         the modelled app's Python interpreter); it is included in every measured figure and shown apart"
            .into(),
    );

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
    let (mut completed, mut acked, mut minutes) = (0u64, 0u64, 0f64);
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
        acked += rep.load.submissions_acknowledged;
        minutes += match rep.load.reports_per_minute {
            Some(rpm) if rpm > 0.0 => rep.load.jobs_completed as f64 / rpm,
            _ => rep.duration_s / 60.0,
        };
        if killed.is_none()
            && let Some(ev) = rep.oom_events.first()
        {
            killed = Some(RowVerdict::Killed {
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
        reports_per_minute: (minutes > 0.0).then(|| completed as f64 / minutes),
        jobs_completed: completed,
        jobs_acknowledged: acked,
        modelled_runtime_bytes: runs
            .iter()
            .filter_map(|r| r.report.modelled_runtime_bytes)
            .max(),
        settings_delta: String::new(),
    }
}

/// The profiles `compare` runs by default: every `profiles/*.toml`, with
/// `original` first and the rest in the order of the shipped ladder.
pub fn default_profiles() -> Result<Vec<String>, ConfigError> {
    const LADDER: &[&str] = &[
        "original",
        "quick-fix",
        "passthrough",
        "resize",
        "cdn-transform",
        "lean",
    ];
    let mut names: Vec<String> = std::fs::read_dir("profiles")
        .map_err(|source| ConfigError::Read {
            path: "profiles".into(),
            source,
        })?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".toml")
                .map(str::to_string)
        })
        .collect();
    names.sort_by_key(|n| {
        (
            LADDER.iter().position(|l| l == n).unwrap_or(LADDER.len()),
            n.clone(),
        )
    });
    if names.is_empty() {
        return Err(ConfigError::flag(
            "--profile",
            "no profiles/*.toml in the current directory",
            "run from the repository root, or pass --profile FILE",
        ));
    }
    Ok(names)
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(500));
    pb
}

/// A fresh `<out>/<kind>-<timestamp>[-N]` folder.
pub fn fresh_dir(out: &std::path::Path, kind: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {} (--out)", out.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    for n in 0..100 {
        let name = if n == 0 {
            format!("{kind}-{stamp}")
        } else {
            format!("{kind}-{stamp}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!("too many {kind} folders for {stamp} in {}", out.display())
}

/// Runs `oomlab compare`.
pub async fn run(args: CompareArgs) -> anyhow::Result<Exit> {
    let limit = runs::parse_size("--limit", &args.limit)?;
    let max_run = crate::cli::parse_duration("--max-run-duration", &args.max_run_duration)?;
    let started = Instant::now();
    let (finished, wall, notes, dir) = if !args.from.is_empty() {
        if !args.profiles.is_empty() || !args.scenarios.is_empty() {
            return Err(ConfigError::flag(
                "--from",
                "--from reuses finished runs, so --profile and --scenario have nothing to choose",
                "leave out --profile/--scenario, or leave out --from to run them",
            )
            .into());
        }
        let finished = runs::find_runs("--from", &args.from)?;
        let dir = fresh_dir(&args.out, "compare")?;
        let note = format!(
            "rebuilt from {} finished run(s) under {} without running again",
            finished.len(),
            args.from
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        (finished, None, vec![note], dir)
    } else {
        let profiles = if args.profiles.is_empty() {
            default_profiles()?
        } else {
            args.profiles.clone()
        };
        let scenarios: Vec<String> = if args.scenarios.is_empty() {
            DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect()
        } else {
            args.scenarios.clone()
        };
        // Check every input before the first run, so a typo costs nothing.
        for p in &profiles {
            crate::cli::resolve_input("--profile", p, "profiles")?;
        }
        for s in &scenarios {
            let path = crate::cli::resolve_input("--scenario", s, "scenarios")?;
            crate::scenario::Scenario::load(&path)?;
        }
        let dir = fresh_dir(&args.out, "compare")?;
        let pb = progress_bar((profiles.len() * scenarios.len()) as u64, args.quiet);
        let mut finished = Vec::new();
        let mut notes = Vec::new();
        'matrix: for p in &profiles {
            for s in &scenarios {
                pb.set_message(format!("{p} on {s}"));
                let spec = RunSpec {
                    profile: p.clone(),
                    scenario: s.clone(),
                    limit: args.limit.clone(),
                    enforce: args.enforce,
                    out: dir.join("runs"),
                    max_duration: format!("{}s", max_run.as_secs_f64()),
                    quiet_log: true,
                    cpus: None,
                };
                match runs::run_one(&spec).await {
                    Ok(run) => {
                        let interrupted = run.report.verdict.outcome == Outcome::Interrupted;
                        pb.println(format!("{p} on {s}: {}", run.report.verdict.summary));
                        finished.push(run);
                        if interrupted {
                            notes.push("interrupted: the runs after this one were not made".into());
                            break 'matrix;
                        }
                    }
                    Err(e) if Exit::for_error(&e) == Exit::BadInput => return Err(e),
                    Err(e) => {
                        pb.println(format!("{p} on {s}: the run failed: {e:#}"));
                        notes.push(format!(
                            "{p} on {s}: the run failed and is not in the table: {e:#}"
                        ));
                    }
                }
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
        (finished, Some(started.elapsed().as_secs_f64()), notes, dir)
    };
    if finished.is_empty() {
        anyhow::bail!("no run finished; see the messages above");
    }
    let report = build(&finished, limit, wall, notes);
    write_all(&report, &dir)?;
    println!("{}", markdown::render_table(&report));
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
