//! `oomlab calibrate`: the model next to the real app, on the same
//! scenarios, and how far apart they are.
//!
//! For every scenario the app target and the reference server's profile run
//! one after the other without a limit that kills (`--enforce off`, a large
//! limit), each submission followed by a pause of `settle` so that the
//! memory a finished job leaves behind is read. The [`fidelity`] figures of
//! each pair make one row: both peaks and the model's error, both idles, the
//! increment per photo in flight, and the memory left `settle` after the
//! last job. The command exits 1 when a peak is further off than the
//! tolerance, so a calibration can gate a change to the model in CI.
//!
//! # Layout
//! - [`fidelity`]: the figures of one run and one row (pure).
//! - [`render`]: `calibration.md` and the table on the terminal.
//! - [`reuse`]: the app's runs of an earlier calibration (`--app-runs`).

pub mod fidelity;
pub mod render;
pub mod reuse;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::app_target::Target;
use crate::error::Exit;
use crate::finished::FinishedRun;
use crate::matrix::{self, Cell, MatrixSettings};
use crate::scenario::Scenario;
use crate::watchdog::Enforce;
use fidelity::Row;

/// The version of the `calibration.json` format.
pub const SCHEMA_VERSION: u32 = 1;

/// The default scenarios: one job, two at once, big photos, and two jobs in
/// sequence (what the first leaves behind under the second).
pub const DEFAULT_SCENARIOS: &[&str] = &[
    "single-report",
    "two-reports",
    "camera-photos",
    "two-in-sequence",
];

/// What `oomlab calibrate` compares.
#[derive(Debug, Clone)]
pub struct CalibrateConfig {
    /// The real app.
    pub app: Target,
    /// The model: the reference server with a profile.
    pub model: Target,
    /// The scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// The largest peak error that passes, percent.
    pub tolerance_pct: f64,
    /// The limit of every run (recorded, never enforced), bytes.
    pub limit: u64,
    /// The pause after each submission, and when the memory left behind is
    /// read after the last job.
    pub settle: Duration,
    /// The CPU share both sides are held to, cores (`--cpus`); `None`: not
    /// limited.
    pub cpus: Option<f64>,
    /// Runs of each side per scenario (at least 1); rows compare the median
    /// runs, and from [`fidelity::MIN_RUNS_FOR_SPREAD`] runs the app's
    /// spread is reported and can pass a row.
    pub repeat: usize,
    /// The app's runs of earlier calibrations, used instead of running the
    /// app (`--app-runs`); empty when none were given.
    pub reused: reuse::Reused,
    /// What every run shares.
    pub matrix: MatrixSettings,
}

/// The result of `oomlab calibrate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CalibrationReport {
    /// Version of this format ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of oomlab that wrote it.
    pub oomlab_version: String,
    /// When it was made, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// The app's name (with its environment overrides).
    pub app: String,
    /// The model's profile name.
    pub model: String,
    /// The model profile's file.
    pub model_file: String,
    /// The largest peak error that passes, percent.
    pub tolerance_pct: f64,
    /// The pause after each submission, seconds.
    pub settle_s: f64,
    /// The CPU share both sides were asked to be held to, cores (`--cpus`);
    /// `None`: not limited. Each run's `run.json` says whether it was.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Runs of each side per scenario.
    #[serde(default = "one")]
    pub repeat: usize,
    /// Wall-clock time of all the runs, seconds.
    pub wall_time_s: f64,
    /// One row per scenario that both sides ran.
    pub rows: Vec<Row>,
    /// The profile's `model.runtime_mb`.
    pub runtime_mb: Option<u64>,
    /// The `model.runtime_mb` that would make the model's idle equal the
    /// app's (median gap over the rows).
    pub runtime_mb_for_idle: Option<u64>,
    /// Whether the profile has a CPU model (`[model.cpu]` with a cost set).
    #[serde(default)]
    pub model_cpu_on: bool,
    /// The factor on every `[model.cpu]` figure that would bring the
    /// model's median job time to the app's (median ratio over the rows);
    /// `None` when they are within 25% or not known.
    #[serde(default)]
    pub cpu_scale_for_time: Option<f64>,
    /// Every row within the tolerance, and no scenario missing.
    pub passed: bool,
    /// Runs that failed, scenarios missing, an interruption.
    pub notes: Vec<String>,
}

fn one() -> usize {
    1
}

/// Runs both sides on every scenario and writes the calibration.
pub async fn run(cfg: &CalibrateConfig) -> anyhow::Result<Exit> {
    let dir = matrix::stamped_dir(&cfg.matrix.out, "calibrate")?;
    let runs = dir.join("runs");
    let start = Instant::now();
    let mut cells = Vec::new();
    let repeat = cfg.repeat.max(1);
    // Round by round, so a slow drift of the machine touches every side.
    for round in 1..=repeat {
        for scenario in &cfg.scenarios {
            let run_app = cfg.reused.of(&scenario.name, repeat).is_none();
            let scenario = with_pause(scenario.clone(), cfg.settle);
            let targets = if run_app {
                vec![&cfg.app, &cfg.model]
            } else {
                vec![&cfg.model]
            };
            for target in targets {
                // The app speaks its own flow where its target maps the
                // scenario (`[scenarios]`), under the shipped name.
                let scenario = match target.own_scenario(&scenario.name) {
                    Some(file) => {
                        let mut own = Scenario::load(file)?;
                        own.name = scenario.name.clone();
                        with_pause(own, cfg.settle)
                    }
                    None => scenario.clone(),
                };
                let nth = if repeat > 1 {
                    format!(" ({round} of {repeat})")
                } else {
                    String::new()
                };
                let mut run = cfg.matrix.cell(
                    target.clone(),
                    scenario.clone(),
                    cfg.limit,
                    Enforce::Off,
                    &runs,
                );
                run.cpus = cfg.cpus;
                cells.push(Cell {
                    label: format!("{} on {}{nth}", target.name(), scenario.name),
                    run,
                });
            }
        }
    }
    let out = matrix::run(cells, cfg.matrix.quiet, |r| {
        format!(
            "peak {}, idle {}",
            crate::units::mb(r.peak_bytes()),
            crate::units::opt_mb(r.report.peaks.idle_rss_bytes)
        )
    })
    .await?;

    let mut notes = out.notes.clone();
    let mut runs = out.runs.clone();
    for scenario in &cfg.scenarios {
        if let Some((from, earlier)) = cfg.reused.of(&scenario.name, repeat) {
            notes.push(format!(
                "{}: the app's {} run(s) are reused from {}, not run again (--app-runs)",
                scenario.name,
                earlier.len(),
                from.display()
            ));
            runs.extend(earlier.into_iter().cloned());
        }
    }
    let mut rows = Vec::new();
    for scenario in &cfg.scenarios {
        match pair(cfg, scenario, &runs, &dir) {
            Ok(Some(row)) => rows.push(row),
            Ok(None) => notes.push(format!(
                "{}: not both sides ran; the scenario is not in the table",
                scenario.name
            )),
            Err(e) => notes.push(format!("{}: {e:#}", scenario.name)),
        }
    }
    let runtime_mb = cfg.model.declared_runtime_bytes.map(|b| b >> 20);
    let report = CalibrationReport {
        schema_version: SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        app: cfg.app.name().to_string(),
        model: cfg.model.name().to_string(),
        model_file: cfg.model.file.path.display().to_string(),
        tolerance_pct: cfg.tolerance_pct,
        settle_s: cfg.settle.as_secs_f64(),
        cpus: cfg.cpus,
        repeat,
        wall_time_s: start.elapsed().as_secs_f64(),
        runtime_mb_for_idle: runtime_mb.and_then(|m| fidelity::runtime_mb_for_idle(&rows, m)),
        runtime_mb,
        model_cpu_on: std::fs::read_to_string(&cfg.model.file.path)
            .ok()
            .and_then(|t| report_server::settings::Settings::from_toml(&t).ok())
            .is_some_and(|s| s.model.cpu.is_on()),
        cpu_scale_for_time: fidelity::cpu_scale_for_time(&rows),
        passed: rows.len() == cfg.scenarios.len() && rows.iter().all(fidelity::Row::passes),
        rows,
        notes,
    };
    std::fs::write(
        dir.join("calibration.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )
    .with_context(|| format!("writing {}", dir.join("calibration.json").display()))?;
    let md = render::markdown(&report);
    std::fs::write(dir.join("calibration.md"), &md)
        .with_context(|| format!("writing {}", dir.join("calibration.md").display()))?;
    print!("{}", render::terminal(&report));
    println!(
        "{}",
        crate::table::wrap(
            &format!(
                "full table and runs: {}",
                dir.join("calibration.md").display()
            ),
            crate::table::WIDTH,
            "  "
        )
    );
    Ok(if out.interrupted {
        Exit::HarnessFailed
    } else if report.passed {
        Exit::WithinLimit
    } else {
        Exit::LimitCrossed
    })
}

/// The scenario with a pause of at least `settle` after every submission,
/// the last one included, so the run goes on `settle` after its last job.
pub fn with_pause(mut s: Scenario, settle: Duration) -> Scenario {
    s.users.think_time_min = s.users.think_time_min.max(settle);
    s.users.think_time_max = s.users.think_time_max.max(s.users.think_time_min);
    s
}

/// The row of `scenario`, when both sides have at least one run.
fn pair(
    cfg: &CalibrateConfig,
    scenario: &Scenario,
    runs: &[FinishedRun],
    dir: &Path,
) -> anyhow::Result<Option<Row>> {
    let find = |t: &Target| -> Vec<&FinishedRun> {
        runs.iter()
            .filter(|r| {
                r.report.profile.name == t.name() && r.report.scenario.name == scenario.name
            })
            .collect()
    };
    let (apps, models) = (find(&cfg.app), find(&cfg.model));
    if apps.is_empty() || models.is_empty() {
        return Ok(None);
    }
    let photos = (scenario.submission.photos_per_submission() * scenario.users.count) as u64;
    let side = |r: &FinishedRun| -> anyhow::Result<fidelity::Side> {
        let csv = r.dir.join(&r.report.files.samples_csv);
        let text =
            std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
        let readings = fidelity::parse_samples(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", csv.display()))?;
        let rel = r.dir.strip_prefix(dir).unwrap_or(&r.dir);
        Ok(fidelity::side(
            rel.display().to_string(),
            &r.report,
            &readings,
            photos,
            cfg.settle.as_secs_f64(),
        ))
    };
    let sides =
        |rs: Vec<&FinishedRun>| rs.into_iter().map(side).collect::<anyhow::Result<Vec<_>>>();
    Ok(Some(fidelity::row(
        scenario.name.clone(),
        photos,
        sides(apps)?,
        sides(models)?,
        cfg.tolerance_pct,
    )))
}
