//! `oomlab plan`: the cheapest hosting plan, and the settings, that hold a
//! load with headroom.
//!
//! How it measures: one run per CPU share x profile x worker count x
//! scenario, with no memory limit (`--enforce off`), and each plan's RAM
//! compared against the peaks measured at its CPU share. The peak does not
//! depend on the memory limit unless the server is killed (the watchdog kills
//! from user space, nothing reclaims memory before it), so one run answers for
//! every plan with the same CPU share. Memory and time do depend on the CPU
//! share (a slower server has more jobs in flight at once), so each distinct
//! share gets its own runs, under a CPU cgroup (`--cpus`); a share of at
//! least this machine's cores runs unlimited. When no CPU cgroup can be made
//! here, one set of unlimited runs answers for every plan and the report
//! says "CPU was not limited" and why.
//!
//! Plan figures come from a data file (`plans/render.toml`) with the date
//! they were taken ([`PlansFile`]); [`recommend`] is a pure function of the
//! measurements and the plans, tested on synthetic figures.
//!
//! # Layout
//! - [`plans_file`]: the plans data file.
//! - `measure`: the derived inputs and the matrix cells.
//! - [`rank`]: runs into configurations, ranking, the verdict per plan.
//! - [`render`]: the Markdown of `plan.md`.
//! - [`split`]: `--split`, the web + worker + Key Value triple.

mod measure;
pub mod plans_file;
pub mod rank;
pub mod render;
pub mod split;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::Exit;
use crate::finished::{self, FinishedRun};
use crate::matrix::{self, MatrixSettings};
use crate::scenario::Scenario;
use crate::units::{mb, secs_ms};

pub use plans_file::{HostingPlan, PlansFile, RawPlan, load_plans};
pub use rank::{
    Config, Measurement, PlanVerdict, Recommendation, Timing, configs_from_runs, cpu_shares, rank,
    recommend,
};
pub use render::markdown;

/// The version of the `plan.json` format.
pub const SCHEMA_VERSION: u32 = 1;

/// What `oomlab plan` answers.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// The load: scenarios and how much each counts.
    pub scenarios: Vec<WeightedScenario>,
    /// Users at once (each scenario's `users.count` set to it), when set.
    pub concurrency: Option<usize>,
    /// Share of each plan's RAM that must stay free.
    pub headroom: f64,
    /// The plans file, read.
    pub plans_path: PathBuf,
    /// Its header.
    pub plans_file: PlansFile,
    /// Its plans, checked, cheapest first.
    pub plans: Vec<HostingPlan>,
    /// Profiles to try.
    pub profiles: Vec<PathBuf>,
    /// App targets to try (target files), each with its own settings.
    pub targets: Vec<PathBuf>,
    /// Environment values each target is run with, every combination
    /// (`--vary`).
    pub vary: Vec<crate::input::Vary>,
    /// Worker counts to try; empty: 1 and 2 up to the concurrency.
    pub workers: Vec<usize>,
    /// `--split`: also measure web + worker on Redis and price the triple
    /// with these plans.
    pub split: Option<split::SplitPlans>,
    /// Finished runs to judge instead of running.
    pub from: Vec<PathBuf>,
    /// What every run shares.
    pub matrix: MatrixSettings,
}

/// A scenario of the load and its weight.
#[derive(Debug, Clone)]
pub struct WeightedScenario {
    /// The scenario, loaded.
    pub scenario: Scenario,
    /// How much it counts in the time and throughput figures.
    pub weight: f64,
}

/// Runs `oomlab plan`.
pub async fn run(cfg: &PlanConfig) -> anyhow::Result<Exit> {
    let mut notes = method_notes(cfg);
    let started = Instant::now();
    let dir = matrix::stamped_dir(&cfg.matrix.out, "plan")?;
    let (finished, wall) = if !cfg.from.is_empty() {
        let f = finished::find_runs("--from", &cfg.from)?;
        notes.push(from_note(&f));
        (f, None)
    } else {
        let m = measure::cells(cfg, &dir)?;
        notes.extend(m.notes);
        let out = matrix::run(m.cells, cfg.matrix.quiet, |r| {
            format!(
                "peak {} (no memory limit), p95 to report ready {}",
                mb(r.peak_bytes()),
                secs_ms(r.report.load.time_to_ready_p95_s)
            )
        })
        .await?;
        notes.extend(out.notes);
        (out.runs, Some(started.elapsed().as_secs_f64()))
    };

    let weights: Vec<(String, f64)> = cfg
        .scenarios
        .iter()
        .map(|w| (w.scenario.name.clone(), w.weight))
        .collect();
    // Split runs are priced as triples, apart from the single-service ones.
    let (split_runs, finished): (Vec<FinishedRun>, Vec<FinishedRun>) =
        finished.into_iter().partition(|r| r.report.split.is_some());
    let configs = configs_from_runs(&finished, &weights);
    notes.extend(timing_note(&configs));
    let (verdicts, recommendation) = recommend(&configs, &cfg.plans, cfg.headroom, weights.len());
    let split = cfg.split.as_ref().map(|plans| {
        let configs = split::split_configs(&split_runs);
        split::SplitAnswer {
            recommendation: split::recommend_split(
                &configs,
                &cfg.plans,
                plans,
                cfg.headroom,
                weights.len(),
            ),
            configs,
            notes: vec![
                "split: each profile x workers x scenario ran once as `oomlab run --split` (web and worker on \
                 the harness's Redis) with no memory limit and the CPU not limited (a split run has no CPU \
                 cgroup per service); the web service is priced on the web plans above, the worker on the \
                 [[worker]] plans and Redis's used_memory peak on the [[key_value]] plans of the plans file; \
                 a configuration counts only when every acknowledged job completed"
                    .into(),
            ],
        }
    });
    let report = PlanReport {
        schema_version: SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plans_file: cfg.plans_path.clone(),
        provider: cfg.plans_file.provider.clone(),
        plans_taken: cfg.plans_file.taken.clone(),
        headroom: cfg.headroom,
        concurrency: cfg.concurrency,
        scenarios: weights,
        configs,
        verdicts,
        recommendation,
        wall_time_s: wall,
        notes,
        split,
    };
    let md = markdown(&report);
    std::fs::write(dir.join("plan.md"), &md)
        .with_context(|| format!("writing {}/plan.md", dir.display()))?;
    std::fs::write(
        dir.join("plan.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )
    .with_context(|| format!("writing {}/plan.json", dir.display()))?;
    print!("{}", render::terminal(&report));
    if let Some(w) = wall {
        println!("{} runs in {w:.0} s", finished.len() + split_runs.len());
    }
    println!(
        "{}",
        crate::table::wrap(
            &format!("full tables: {}/plan.md; data: plan.json", dir.display()),
            crate::table::WIDTH,
            "  "
        )
    );
    Ok(if report.recommendation.is_some() {
        Exit::WithinLimit
    } else {
        Exit::LimitCrossed
    })
}

/// How the figures are made, for every plan report.
fn method_notes(cfg: &PlanConfig) -> Vec<String> {
    vec![
        format!(
            "memory was measured once per CPU share x profile x workers x scenario with no memory limit (--enforce off), \
             and each plan's RAM compared against the peaks at its CPU share: the peak does not depend on the memory \
             limit unless the server is killed, so one run answers for every one of the {} plans with that CPU share",
            cfg.plans.len()
        ),
        "memory is the server's resident set (RSS every 10 ms) and the kernel's high-water mark (VmHWM); 1 MiB = 1048576 bytes; \
         the modelled runtime is a declared model input included in every figure"
            .into(),
        format!(
            "a configuration holds on a plan when every scenario completed every job and its peak stayed under RAM minus \
             the headroom; among those about as fast as the fastest (weighted p95 time to report ready within {:.0}% + \
             {} s, from the server's job timestamps), the lowest peak wins",
            rank::AS_FAST_SHARE * 100.0,
            rank::AS_FAST_SLACK_S
        ),
    ]
}

/// Whose speed the times are, when the configurations do not all agree:
/// a profile without `[model.cpu]` runs at the Rust server's speed, which
/// is not what an app with its settings would take.
fn timing_note(configs: &[Config]) -> Option<String> {
    let rust: Vec<String> = configs
        .iter()
        .filter(|c| c.timing == Timing::Server)
        .map(|c| c.profile.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if rust.is_empty() || rust.len() == configs.len() {
        return None;
    }
    Some(format!(
        "times (column `times`): `app` is an app target's own; `app-like` a profile with [model.cpu], whose jobs \
         spend the modelled app's CPU per stage and slow down like the app's under a plan's CPU share \
         (docs/measurements/cpu-model.md); `Rust` ({}) the reference server's own speed, far faster than an app \
         with those settings would be: compare their memory, not their times, with the others",
        rust.join(", ")
    ))
}

/// What `--from` runs say of the CPU.
fn from_note(f: &[FinishedRun]) -> String {
    let cpu = if f.iter().any(|r| r.report.limit.cpu.limited) {
        "CPU: as each finished run recorded it (run.json `limit.cpu`); a plan is judged on the runs made at its \
         CPU share, else on runs with the CPU not limited"
    } else {
        "CPU was not limited in any of the finished runs (run.json `limit.cpu`): times were measured with the \
         cores of the machine that made them, and the same runs answer for every plan"
    };
    format!(
        "{cpu}; judged {} finished run(s) without running again",
        f.len()
    )
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanReport {
    /// Version of this format.
    pub schema_version: u32,
    /// Version of oomlab.
    pub oomlab_version: String,
    /// When it was made, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// The plans file.
    pub plans_file: PathBuf,
    /// Who sells the plans.
    pub provider: String,
    /// When the plan figures were taken.
    pub plans_taken: String,
    /// Share of RAM kept free.
    pub headroom: f64,
    /// Users at once, when set.
    pub concurrency: Option<usize>,
    /// Scenarios and their weights.
    pub scenarios: Vec<(String, f64)>,
    /// Every configuration measured.
    pub configs: Vec<Config>,
    /// Every plan, cheapest first.
    pub verdicts: Vec<PlanVerdict>,
    /// The cheapest plan that holds, and the configuration: `None` when no
    /// plan does.
    pub recommendation: Option<Recommendation>,
    /// Wall time of the runs, seconds (`None` with --from).
    pub wall_time_s: Option<f64>,
    /// How the figures were made.
    pub notes: Vec<String>,
    /// `--split`: the web + worker + Key Value answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<split::SplitAnswer>,
}
