//! `oomlab plan`'s flags.

use std::path::PathBuf;

use clap::Args;

use super::run::MatrixArgs;
use crate::error::ConfigError;
use crate::input;
use crate::plan::{PlanConfig, WeightedScenario, load_plans};
use crate::scenario::Scenario;

const PLAN_EXAMPLES: &str = "\
Examples:
  # The cheapest Render plan that holds two reports at once, 10% headroom:
  oomlab plan --scenario two-reports --concurrency 2

  # A mix: mostly single reports, sometimes camera photos, 3 at once:
  oomlab plan --scenario single-report:4 --scenario camera-photos:1 --concurrency 3

  # Your own app as a candidate next to a profile:
  oomlab plan --scenario two-reports --target flask-reportlab --profile lean

  # Fewer candidates (faster), your own price list:
  oomlab plan --scenario two-reports --profile lean --profile quick-fix \\
      --workers 1,2 --plans my-plans.toml

  # Also web + worker + Key Value, priced as a triple, next to it:
  oomlab plan --scenario two-reports --concurrency 2 --split

  # Re-judge finished runs (e.g. with another headroom) without running:
  oomlab plan --scenario two-reports --from reports/plan-20261128-120000 --headroom 20%

Exit codes: 0 a plan was recommended, 1 no plan holds the load, 2 bad
arguments or files, 3 the harness failed.";

/// Flags of `oomlab plan`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = PLAN_EXAMPLES, after_help = PLAN_EXAMPLES)]
pub struct PlanArgs {
    /// A scenario of the load (file or name in `scenarios/`), with an
    /// optional weight after a colon (`single-report:3`, default 1).
    /// Repeatable. Every plan must hold every scenario; weights set how much
    /// each counts in the time and throughput figures.
    #[arg(long = "scenario", value_name = "NAME[:WEIGHT]", required = true, value_parser = weighted)]
    pub scenarios: Vec<(PathBuf, f64)>,

    /// Users submitting at once (each scenario's `users.count` is set to
    /// it). Default: as each scenario says.
    #[arg(long, value_name = "N", value_parser = input::count)]
    pub concurrency: Option<usize>,

    /// Share of each plan's RAM that must stay free.
    #[arg(long, default_value = "10%", value_name = "PERCENT", value_parser = input::percent)]
    pub headroom: f64,

    /// The plans to choose from: a TOML file (see plans/render.toml).
    #[arg(long, default_value = "plans/render.toml", value_name = "FILE")]
    pub plans: PathBuf,

    /// A profile to try (file or name in `profiles/`); repeatable. Default:
    /// every `profiles/*.toml`.
    #[arg(long = "profile", value_name = "FILE|NAME", value_parser = input::profile)]
    pub profiles: Vec<PathBuf>,

    /// Your own app as a candidate next to the profiles (a target file or
    /// a name in `targets/`); repeatable. It runs with its own settings (no
    /// worker counts are tried for it). With only targets, no profile runs
    /// unless --profile names some.
    #[arg(long = "target", value_name = "FILE|NAME", value_parser = input::target)]
    pub targets: Vec<PathBuf>,

    /// What-if runs of your app: run each --target once per combination
    /// of these environment values, e.g. `--vary REPORT_WORKERS=1,2
    /// --vary WEB_CONCURRENCY=1,2` (4 variants) or, when values hold
    /// commas or `=`, `--vary GUNICORN_CMD_ARGS=--threads=1|--threads=4`.
    /// Each variant is a candidate named after its values; the values override
    /// the target file's `[run.env]`. Repeatable.
    #[arg(long, value_name = "KEY=v1,v2", value_parser = input::vary, conflicts_with = "from")]
    pub vary: Vec<input::Vary>,

    /// Worker counts to try, comma-separated. Default: 1 and 2, without
    /// counts above the concurrency (extra workers would sit idle).
    #[arg(long, value_delimiter = ',', value_name = "N,N", value_parser = input::count)]
    pub workers: Vec<usize>,

    /// Judge finished runs (a `plan-*` folder) instead of running.
    #[arg(long, value_name = "PATH")]
    pub from: Vec<PathBuf>,

    /// Also measure the split configuration (web and worker on Redis, as
    /// `oomlab run --split`, the same profiles and worker counts) and
    /// recommend the cheapest (web plan, worker plan, Key Value plan)
    /// triple that holds, next to the single-service answer. Prices come
    /// from the plans file's `[[worker]]` and `[[key_value]]` tables.
    #[arg(long)]
    pub split: bool,

    /// A directory of your own JPEG/PNG photos, used instead of the fake
    /// Cloudinary's synthetic ones: files in name order, cycled when a
    /// submission needs more, uploaded and served byte for byte.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub photos: Option<PathBuf>,

    #[command(flatten)]
    pub matrix: MatrixArgs,
}

/// `NAME[:WEIGHT]`: a scenario (file or name) and a positive weight
/// (default 1).
fn weighted(s: &str) -> Result<(PathBuf, f64), String> {
    let (name, weight) = match s.rsplit_once(':') {
        Some((name, w)) => {
            let weight = w
                .parse()
                .ok()
                .filter(|w: &f64| *w > 0.0 && w.is_finite())
                .ok_or_else(|| {
                    format!("`{w}` in `{s}` is not a positive weight; write e.g. {name}:2")
                })?;
            (name, weight)
        }
        None => (s, 1.0),
    };
    Ok((input::scenario(name)?, weight))
}

impl PlanArgs {
    /// The plan these flags ask for; the plans file, the scenarios and the
    /// profiles are read and checked before anything runs.
    pub fn config(&self) -> Result<PlanConfig, ConfigError> {
        let (plans_file, plans) = load_plans(&self.plans)?;
        let photos = super::photos::load(self.photos.as_deref())?;
        let scenarios = self
            .scenarios
            .iter()
            .map(|(p, weight)| {
                Ok(WeightedScenario {
                    scenario: super::photos::apply(Scenario::load(p)?, &photos),
                    weight: *weight,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if !self.vary.is_empty() && self.targets.is_empty() {
            return Err(ConfigError::flag(
                "--vary",
                "sets your app's environment, and no --target was given",
                "add --target NAME (a file in targets/)",
            ));
        }
        for t in &self.targets {
            crate::app_target::Target::app(t)?.variants(&self.vary)?;
        }
        let profiles =
            if self.profiles.is_empty() && self.from.is_empty() && self.targets.is_empty() {
                input::shipped_profiles()
                    .map_err(|e| ConfigError::flag("--profile", e, "pass --profile FILE"))?
            } else {
                self.profiles.clone()
            };
        for p in &profiles {
            crate::app_target::Target::reference(p, None)?;
        }
        let split = if self.split {
            if self.from.is_empty() && crate::redis_server::find_binary().is_none() {
                return Err(ConfigError::Unsupported {
                    what: "plan --split".into(),
                    why: "no redis-server or valkey-server on PATH (the queue between web and worker)".into(),
                    fix: "install it (Debian: apt-get install -y redis-server) or name it in OOMLAB_REDIS_SERVER".into(),
                });
            }
            Some(crate::plan::split::split_plans(&self.plans, &plans_file)?)
        } else {
            None
        };
        Ok(PlanConfig {
            split,
            scenarios,
            concurrency: self.concurrency,
            headroom: self.headroom,
            plans_path: self.plans.clone(),
            plans_file,
            plans,
            profiles,
            targets: self.targets.clone(),
            vary: self.vary.clone(),
            workers: self.workers.clone(),
            from: self.from.clone(),
            matrix: self.matrix.settings(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn weights_must_be_positive_and_name_the_scenario() {
        assert!(
            super::weighted("two-reports:0")
                .unwrap_err()
                .contains("two-reports:2")
        );
        assert!(super::weighted("two-reports:x").is_err());
    }
}
