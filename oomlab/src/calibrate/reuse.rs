//! `oomlab calibrate --app-runs DIR`: the app's runs of an earlier
//! calibration, used instead of running the app again. A real app is the
//! slow side of a calibration (the example app needs about 5 minutes for
//! `camera-photos`); while it has not changed, its runs stay valid, and
//! trying model profiles against them costs only the model's runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CalibrationReport;
use crate::app_target::Target;
use crate::error::ConfigError;
use crate::finished::{FinishedRun, find_runs};
use crate::scenario::Scenario;

const FLAG: &str = "--app-runs";

/// The app's runs of earlier calibrations.
#[derive(Debug, Clone, Default)]
pub struct Reused {
    /// Per calibration folder, in the order given, the app's runs in it
    /// (sorted by folder).
    from: Vec<(PathBuf, Vec<FinishedRun>)>,
}

impl Reused {
    /// The app's runs of `scenario` (at most `repeat`) and the folder they
    /// come from: the last folder given that has any.
    pub fn of(&self, scenario: &str, repeat: usize) -> Option<(&Path, Vec<&FinishedRun>)> {
        self.from.iter().rev().find_map(|(dir, runs)| {
            let of: Vec<&FinishedRun> = runs
                .iter()
                .filter(|r| r.report.scenario.name == scenario)
                .take(repeat)
                .collect();
            (!of.is_empty()).then_some((dir.as_path(), of))
        })
    }
}

/// Reads the calibrations in `dirs` and keeps their runs of `app` on
/// `scenarios`; for a scenario in several, the last folder's runs count.
pub fn app_runs(
    dirs: &[PathBuf],
    app: &Target,
    scenarios: &[Scenario],
    settle: Duration,
    cpus: Option<f64>,
) -> Result<Reused, ConfigError> {
    let mut reused = Reused::default();
    for dir in dirs {
        let runs = app_runs_in(dir, app, scenarios, settle, cpus)?;
        reused.from.push((dir.clone(), runs));
    }
    Ok(reused)
}

/// The runs of `app` on `scenarios` in the calibration in `dir`. Refused
/// (exit 2, naming the flag and the fix) when `dir` is not a calibration,
/// calibrated another app or another environment of it, paused another
/// `settle` after each submission, held the app to another CPU share, or
/// has no run of the app on any of the
/// scenarios.
fn app_runs_in(
    dir: &Path,
    app: &Target,
    scenarios: &[Scenario],
    settle: Duration,
    cpus: Option<f64>,
) -> Result<Vec<FinishedRun>, ConfigError> {
    let file = dir.join("calibration.json");
    let text = std::fs::read_to_string(&file).map_err(|e| {
        ConfigError::flag(
            FLAG,
            format!("cannot read {}: {e}", file.display()),
            "pass a folder that `oomlab calibrate` wrote, e.g. reports/calibrate-20261130-164229",
        )
    })?;
    let earlier: CalibrationReport = serde_json::from_str(&text).map_err(|e| {
        ConfigError::flag(
            FLAG,
            format!(
                "{} is not a calibration of this oomlab version: {e}",
                file.display()
            ),
            "run the calibration again without --app-runs",
        )
    })?;
    if earlier.app != app.name() {
        return Err(ConfigError::flag(
            FLAG,
            format!(
                "{} calibrated the app `{}`, not `{}`",
                dir.display(),
                earlier.app,
                app.name()
            ),
            "pass the same --target and --app-env as that calibration, or leave --app-runs out",
        ));
    }
    if (earlier.settle_s - settle.as_secs_f64()).abs() > 0.001 {
        return Err(ConfigError::flag(
            FLAG,
            format!(
                "{} paused {} s after each submission, this calibration {} s: the memory left \
                 after the jobs would not compare",
                dir.display(),
                earlier.settle_s,
                settle.as_secs_f64()
            ),
            format!("pass --settle {}s", earlier.settle_s),
        ));
    }
    if earlier.cpus != cpus {
        let share =
            |c: Option<f64>| c.map_or("no CPU limit".to_string(), |c| format!("--cpus {c}"));
        return Err(ConfigError::flag(
            FLAG,
            format!(
                "{} ran the app with {}, this calibration asks for {}: the job times would not compare",
                dir.display(),
                share(earlier.cpus),
                share(cpus)
            ),
            match earlier.cpus {
                Some(c) => format!("pass --cpus {c}"),
                None => "leave --cpus out".to_string(),
            },
        ));
    }
    let mut runs: Vec<FinishedRun> = find_runs(FLAG, &[dir.join("runs")])?
        .into_iter()
        .filter(|r| {
            r.report.profile.name == app.name()
                && scenarios.iter().any(|s| s.name == r.report.scenario.name)
        })
        .collect();
    runs.sort_by(|a, b| a.dir.cmp(&b.dir));
    if runs.is_empty() {
        return Err(ConfigError::flag(
            FLAG,
            format!(
                "{} has no run of `{}` on {}",
                dir.display(),
                app.name(),
                scenarios
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "pass the calibration that ran these scenarios, or leave --app-runs out",
        ));
    }
    Ok(runs)
}
