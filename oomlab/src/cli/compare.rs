//! `oomlab compare`'s flags.

use std::path::PathBuf;

use clap::Args;

use super::run::{CgroupMoveSelf, MatrixArgs};
use crate::app_target::Target;
use crate::compare::{CompareConfig, CompareInputs, DEFAULT_SCENARIOS};
use crate::error::ConfigError;
use crate::input;
use crate::watchdog::Enforce;

const COMPARE_EXAMPLES: &str = "\
Examples:
  # Every shipped profile on single-report, two-reports and camera-photos:
  oomlab compare

  # Two profiles on one scenario:
  oomlab compare --profile original --profile lean --scenario two-reports

  # Your app next to the model's profiles:
  oomlab compare --target flask-reportlab --profile original --profile lean

  # What-if runs of your app: one row per combination of its settings:
  oomlab compare --target flask-reportlab --scenario single-report \\
      --vary REPORT_WORKERS=1,2 --vary REPORT_PHOTO_SOURCE=memory,path

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
    #[arg(long = "profile", value_name = "FILE|NAME", value_parser = input::profile)]
    pub profiles: Vec<PathBuf>,

    /// Your own app as a row next to the profiles: a target file or a name
    /// in `targets/`; repeatable. With only targets, no profile runs unless
    /// --profile names some.
    #[arg(long = "target", value_name = "FILE|NAME", value_parser = input::target)]
    pub targets: Vec<PathBuf>,

    /// A scenario to run each profile on (file or name in `scenarios/`);
    /// repeat for more. Default: single-report, two-reports, camera-photos.
    #[arg(long = "scenario", value_name = "FILE|NAME", value_parser = input::scenario)]
    pub scenarios: Vec<PathBuf>,

    /// The memory limit every run is held to (the verdict column), e.g.
    /// 512MiB for Render's free and starter plans.
    #[arg(long, default_value = "512MiB", value_name = "SIZE", value_parser = input::size)]
    pub limit: u64,

    /// How the limit is enforced in each run (see `oomlab run --help`). With
    /// `watchdog` a run that crosses the limit is killed and stops at once.
    #[arg(long, value_enum, default_value_t = Enforce::Watchdog)]
    pub enforce: Enforce,

    #[command(flatten)]
    pub move_self: CgroupMoveSelf,

    /// Build the table from finished runs instead of running: run.json
    /// files, run folders, or a `compare-*` folder. Repeatable.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["profiles", "targets", "scenarios"])]
    pub from: Vec<PathBuf>,

    /// A directory of your own JPEG/PNG photos, used instead of the fake
    /// Cloudinary's synthetic ones: files in name order, cycled when a
    /// submission needs more, uploaded and served byte for byte.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub photos: Option<PathBuf>,

    /// What-if runs of your app: run each --target once per combination
    /// of these environment values, e.g. `--vary REPORT_WORKERS=1,2
    /// --vary WEB_CONCURRENCY=1,2` (4 variants) or, when values hold
    /// commas or `=`, `--vary GUNICORN_CMD_ARGS=--threads=1|--threads=4`.
    /// Each variant is a row named after its values; the values override
    /// the target file's `[run.env]`. Repeatable.
    #[arg(long, value_name = "KEY=v1,v2", value_parser = input::vary, conflicts_with = "from")]
    pub vary: Vec<input::Vary>,

    /// Trace each run of a --target (see `oomlab run --help`): its
    /// report.md lists the allocation sites at the peak, and compare.html
    /// links each run's flame graph. The profiles' runs are not traced. A
    /// traced peak is higher than the untraced one.
    #[arg(long, value_enum, default_value_t = crate::heap::HeapMode::Off, value_name = "TRACER", conflicts_with = "from")]
    pub heap: crate::heap::HeapMode,

    #[command(flatten)]
    pub matrix: MatrixArgs,
}

impl CompareArgs {
    /// The comparison these flags ask for; every profile and scenario is
    /// loaded and checked before the first run, so a typo costs nothing.
    pub fn config(&self) -> Result<CompareConfig, ConfigError> {
        let photos = super::photos::load(self.photos.as_deref())?;
        let inputs = if !self.from.is_empty() {
            CompareInputs::From(self.from.clone())
        } else {
            let profiles = if self.profiles.is_empty() && !self.targets.is_empty() {
                Vec::new()
            } else if self.profiles.is_empty() {
                input::shipped_profiles()
                    .map_err(|e| ConfigError::flag("--profile", e, "pass --profile FILE"))?
            } else {
                self.profiles.clone()
            };
            if !self.vary.is_empty() && self.targets.is_empty() {
                return Err(ConfigError::flag(
                    "--vary",
                    "sets your app's environment, and no --target was given",
                    "add --target NAME (a file in targets/), or vary a profile's settings in copies of its file",
                ));
            }
            let mut targets = Vec::new();
            for t in &self.targets {
                targets.extend(Target::app(t)?.variants(&self.vary)?);
            }
            for p in &profiles {
                targets.push(Target::reference(p, None)?);
            }
            CompareInputs::Run {
                targets,
                scenarios: super::scenarios_or(&self.scenarios, DEFAULT_SCENARIOS)?
                    .into_iter()
                    .map(|sc| super::photos::apply(sc, &photos))
                    .collect(),
            }
        };
        Ok(CompareConfig {
            inputs,
            limit: self.limit,
            enforce: self.enforce,
            cgroup_move_self: self.move_self.get(self.enforce)?,
            matrix: crate::matrix::MatrixSettings {
                heap: self.heap,
                ..self.matrix.settings()
            },
        })
    }
}
