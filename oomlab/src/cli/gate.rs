//! `oomlab gate`'s flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::run::CgroupMoveSelf;
use crate::app_target::Target;
use crate::error::ConfigError;
use crate::finished::read_run_json;
use crate::gate::{GateConfig, GateSource, MaxSlope, Thresholds};
use crate::harness::{Output, RunConfig};
use crate::input;
use crate::scenario::Scenario;
use crate::watchdog::Enforce;

const GATE_EXAMPLES: &str = "\
Examples:
  # Gate the lean profile on the tiny scenario (what .ci/run does):
  oomlab gate --profile lean --scenario tiny --limit 512MiB --headroom 10%

  # Also fail when the peak grew more than 20% against a committed baseline:
  oomlab gate --profile lean --scenario two-reports --limit 512MiB \\
      --baseline ci/baseline-run.json --max-regression 20%

  # Fail when memory grows more than 1 MiB per job over a soak:
  oomlab gate --profile lean --scenario soak --max-slope 1MiB/job

  # Judge a finished run without running again:
  oomlab gate --from reports/20261128-120000-lean-tiny/run.json --limit 512MiB

Exit codes: 0 passed, 1 over the limit, inside the headroom, regressed, or
the run did not finish, 2 bad arguments or files (including a missing or
malformed baseline), 3 the harness itself failed, 4 the load did not do its
work (a step failed, or fewer reports or downloads than the scenario asked: its peak gates nothing).

Sizes and durations need a unit: --limit 512MiB, --max-duration 10m or 1h30m.
--budget is the old name of --limit, kept for one release.";

/// Flags of `oomlab gate`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = GATE_EXAMPLES, after_help = GATE_EXAMPLES)]
pub struct GateArgs {
    /// Server profile to run (file or name in `profiles/`). Not with --from.
    #[arg(
        long,
        value_name = "FILE|NAME",
        required_unless_present_any = ["from", "target"],
        conflicts_with_all = ["from", "target"],
        value_parser = input::profile
    )]
    pub profile: Option<PathBuf>,

    /// Your own app instead of a profile: a target file or a name in
    /// `targets/`. Not with --from.
    #[arg(long, value_name = "FILE|NAME", conflicts_with = "from", value_parser = input::target)]
    pub target: Option<PathBuf>,

    /// Scenario to run (file or name in `scenarios/`). Not with --from.
    #[arg(
        long,
        value_name = "FILE|NAME",
        required_unless_present = "from",
        conflicts_with = "from",
        value_parser = input::scenario
    )]
    pub scenario: Option<PathBuf>,

    /// Judge this finished run (its run.json) instead of running.
    #[arg(long, value_name = "RUN.JSON")]
    pub from: Option<PathBuf>,

    /// The memory limit the peak is judged against, e.g. 512MiB (MB is read
    /// as MiB; a number without a unit is refused). The run is also held to
    /// it: crossing it kills the server. `--budget` is its old name, kept
    /// for one release.
    #[arg(long, alias = "budget", default_value = "512MiB", value_name = "SIZE", value_parser = input::size)]
    pub limit: u64,

    /// Share of the limit that must stay free: the peak must be under
    /// limit x (1 - headroom).
    #[arg(long, default_value = "10%", value_name = "PERCENT", value_parser = input::percent)]
    pub headroom: f64,

    /// A baseline run.json (e.g. from the main branch) to check regression
    /// against.
    #[arg(long, value_name = "RUN.JSON")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: the most the peak may grow against the baseline's.
    /// The default is above run-to-run noise: 10 runs of lean on two-reports
    /// peaked at 49.3 to 58.7 MiB (a 19% spread between two runs, standard
    /// deviation 4.9%), so a smaller share fails on noise alone.
    #[arg(long, default_value = "20%", value_name = "PERCENT", value_parser = input::percent)]
    pub max_regression: f64,

    /// The most the RSS may grow, per job (`1MiB/job`) or per hour
    /// (`20MiB/h`): the slope of the memory trend (Theil-Sen over the job
    /// cycles after a warm-up). Needs a run with at least 5 completed jobs
    /// (e.g. --scenario soak); otherwise exit 2. May be given twice.
    #[arg(long, value_name = "SIZE/job|SIZE/h", value_parser = MaxSlope::parse)]
    pub max_slope: Vec<MaxSlope>,

    /// JUnit XML output. Default: gate-junit.xml in the run's folder.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Markdown summary output. Default: gate.md in the run's folder. It is
    /// also appended to $GITHUB_STEP_SUMMARY when that is set.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,

    /// How the budget is enforced in the run (see `oomlab run --help`).
    #[arg(long, value_enum, default_value_t = Enforce::Watchdog)]
    pub enforce: Enforce,

    #[command(flatten)]
    pub move_self: CgroupMoveSelf,

    /// A directory of your own JPEG/PNG photos, used instead of the fake
    /// Cloudinary's synthetic ones: files in name order, cycled when a
    /// submission needs more, uploaded and served byte for byte.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub photos: Option<PathBuf>,

    /// Folder for the run's reports.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop the run after this long, e.g. 10m or 1h30m.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = input::duration)]
    pub max_duration: Duration,

    /// Never draw the live line (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
}

impl GateArgs {
    /// The gate these flags ask for; the baseline, a `--from` run, the
    /// profile and the scenario are read and checked before anything runs.
    pub fn config(&self) -> Result<GateConfig, ConfigError> {
        let baseline = match &self.baseline {
            Some(p) => Some((p.clone(), read_run_json("--baseline", p)?)),
            None => None,
        };
        let source = match (&self.from, &self.profile, &self.scenario) {
            (Some(p), _, _) => GateSource::From(p.clone(), Box::new(read_run_json("--from", p)?)),
            (None, profile, Some(scenario)) if profile.is_some() || self.target.is_some() => {
                let target = match (&self.target, profile) {
                    (Some(t), _) => Target::app(t)?,
                    (None, Some(p)) => Target::reference(p, None)?,
                    (None, None) => unreachable!("checked by the guard"),
                };
                let photos = super::photos::load(self.photos.as_deref())?;
                let scenario = super::photos::apply(Scenario::load(scenario)?, &photos);
                GateSource::Run(Box::new(RunConfig {
                    limit: self.limit,
                    enforce: self.enforce,
                    cgroup_move_self: self.move_self.get(self.enforce)?,
                    out: self.out.clone(),
                    max_duration: self.max_duration,
                    output: if self.quiet {
                        Output::NoLiveLine
                    } else {
                        Output::Terminal
                    },
                    ..RunConfig::new(target, scenario)
                }))
            }
            _ => {
                return Err(ConfigError::flag(
                    "--profile",
                    "a gate needs --profile and --scenario, or --from",
                    "pass --profile NAME --scenario NAME, or --from RUN.JSON",
                ));
            }
        };
        Ok(GateConfig {
            source,
            thresholds: Thresholds {
                budget_bytes: self.limit,
                headroom: self.headroom,
                max_regression: self.max_regression,
            },
            baseline,
            junit: self.junit.clone(),
            summary: self.summary.clone(),
            max_slopes: self.max_slope.clone(),
        })
    }
}
