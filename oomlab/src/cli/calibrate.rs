//! `oomlab calibrate`'s flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::run::MatrixArgs;
use crate::app_target::Target;
use crate::calibrate::{CalibrateConfig, DEFAULT_SCENARIOS, reuse};
use crate::error::ConfigError;
use crate::input;

const CALIBRATE_EXAMPLES: &str = "\
Examples:
  # The model of the Python app against the example app (examples/flask-reportlab):
  oomlab calibrate --target flask-reportlab --profile original

  # One background worker on both sides:
  oomlab calibrate --target flask-reportlab --app-env REPORT_WORKERS=1 --profile quick-fix

  # Three runs of each side, against the app's spread (sequences vary):
  oomlab calibrate --target flask-reportlab --profile original \\
      --scenario two-in-sequence --repeat 3

  # The one-line fix (photos handed to reportlab as files):
  oomlab calibrate --target flask-reportlab --app-env REPORT_WORKERS=1 \\
      --app-env REPORT_PHOTO_SOURCE=path --profile passthrough

  # A changed model against the app's runs of an earlier calibration (only
  # the model runs):
  oomlab calibrate --target flask-reportlab --profile original \
      --repeat 3 --app-runs reports/calibrate-20261130-161416

Exit codes: 0 every peak within the tolerance, 1 a peak further off (or a
scenario missing), 2 bad arguments or files, 3 the harness failed or was
interrupted.";

/// Flags of `oomlab calibrate`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = CALIBRATE_EXAMPLES, after_help = CALIBRATE_EXAMPLES)]
pub struct CalibrateArgs {
    /// The real app: a target file, or a name in `targets/`.
    #[arg(long, value_name = "FILE|NAME", value_parser = input::target)]
    pub target: PathBuf,

    /// The model: a profile of the reference server (file or name in
    /// `profiles/`).
    #[arg(long, value_name = "FILE|NAME", value_parser = input::profile)]
    pub profile: PathBuf,

    /// Set an environment variable of the app over its target file's
    /// `[run.env]`, e.g. REPORT_WORKERS=1; repeatable.
    #[arg(long = "app-env", value_name = "KEY=VALUE", value_parser = input::key_value)]
    pub app_env: Vec<(String, String)>,

    /// A scenario to run both on (file or name in `scenarios/`); repeatable.
    /// Default: single-report, two-reports, camera-photos, two-in-sequence.
    #[arg(long = "scenario", value_name = "FILE|NAME", value_parser = input::scenario)]
    pub scenarios: Vec<PathBuf>,

    /// The largest peak error, model against app, that passes, e.g. 15%.
    #[arg(long, default_value = "15%", value_name = "PERCENT", value_parser = input::percent)]
    pub tolerance: f64,

    /// The pause after each submission; the memory left behind is read this
    /// long after the last job finished.
    #[arg(long, default_value = "3s", value_name = "DURATION", value_parser = input::duration)]
    pub settle: Duration,

    /// Runs of each side per scenario (1 to 20). Rows compare the median
    /// runs; with 3 or more, a model peak within the app's own spread (its
    /// lowest to highest peak) passes too: the app's peaks vary from run to
    /// run (its garbage collector), and no model can be closer than that.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=20))]
    pub repeat: u16,

    /// Reuse the app's runs of an earlier calibration (its folder, e.g.
    /// reports/calibrate-20261130-164229) instead of running the app again:
    /// for trying model profiles against an app that has not changed. Its
    /// runs of the scenarios asked for are used (up to --repeat each); a
    /// scenario it has no run of is run as usual. Its app, --app-env and
    /// --settle must match. Repeatable: for a scenario in several folders,
    /// the last one's runs are used.
    #[arg(long = "app-runs", value_name = "DIR")]
    pub app_runs: Vec<PathBuf>,

    /// Hold both sides to this share of the CPU, in cores (e.g. 0.5), as
    /// `oomlab run --cpus`: the time column then compares the app's and the
    /// model's job times under a plan's share. Default: not limited.
    #[arg(long, value_name = "F", value_parser = input::cpus)]
    pub cpus: Option<f64>,

    /// The limit recorded in each run (never enforced: calibration measures
    /// without killing).
    #[arg(long, default_value = "4GiB", value_name = "SIZE", value_parser = input::size)]
    pub limit: u64,

    #[command(flatten)]
    pub matrix: MatrixArgs,
}

/// The shipped scenario that `given` stands for: itself when it is one
/// (a name in `scenarios/`); the scenario an app's own file is mapped to in
/// its target's `[scenarios]`. Any other file is refused: the two sides
/// speak different APIs, so a calibration pairs the app's flow with the
/// model's by the shipped name.
fn shipped_for(app: &Target, given: &Path) -> Result<PathBuf, ConfigError> {
    let shipped = Path::new(input::SCENARIOS);
    if given.parent() == Some(shipped) {
        return Ok(given.to_path_buf());
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    match app
        .own_scenarios()
        .into_iter()
        .find(|(_, f)| same(f, given))
    {
        Some((name, _)) => Ok(shipped.join(format!("{name}.toml"))),
        None => Err(ConfigError::flag(
            "--scenario",
            format!(
                "{} is not a shipped scenario, and {} does not map it in its [scenarios]",
                given.display(),
                app.file.path.display()
            ),
            format!(
                "name a shipped scenario (e.g. --scenario single-report), and map it to the app's own file in {}: [scenarios] single-report = \"{}\"",
                app.file.path.display(),
                given.display()
            ),
        )),
    }
}

impl CalibrateArgs {
    /// The calibration these flags ask for; both targets and every scenario
    /// are loaded and checked before the first run.
    pub fn config(&self) -> Result<CalibrateConfig, ConfigError> {
        let app = Target::app(&self.target)?.with_env(&self.app_env, "--app-env")?;
        let given = self
            .scenarios
            .iter()
            .map(|s| shipped_for(&app, s))
            .collect::<Result<Vec<_>, _>>()?;
        let scenarios = super::scenarios_or(&given, DEFAULT_SCENARIOS)?;
        let reused = reuse::app_runs(&self.app_runs, &app, &scenarios, self.settle, self.cpus)?;
        Ok(CalibrateConfig {
            app,
            model: Target::reference(&self.profile, None)?,
            scenarios,
            reused,
            tolerance_pct: self.tolerance * 100.0,
            limit: self.limit,
            settle: self.settle,
            cpus: self.cpus,
            repeat: usize::from(self.repeat),
            matrix: self.matrix.settings(),
        })
    }
}
