//! Measuring for `plan`: the derived profiles (one per worker count) and
//! scenarios (at the asked concurrency), the CPU shares this machine can
//! hold a run to, and one matrix cell per share x configuration x scenario.
//!
//! Derived files go to `<plan>/inputs/profiles/w<N>/<stem>.toml` and
//! `<plan>/inputs/scenarios/c<N>/<stem>.toml`: they keep their base's name,
//! and the worker count, concurrency and CPU share of each run are read back
//! from its run.json, never from a file name.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::PlanConfig;
use super::plans_file::HostingPlan;
use crate::app_target::{Target, TargetKind};
use crate::error::ConfigError;
use crate::harness::Split;
use crate::matrix::Cell;
use crate::scenario::Scenario;
use crate::watchdog::Enforce;

/// The cells to run, and how they were chosen.
pub struct Measuring {
    /// One per CPU share x profile x workers x scenario.
    pub cells: Vec<Cell>,
    /// What the report must say about how.
    pub notes: Vec<String>,
}

/// The cells of a plan measured into `dir`.
pub fn cells(cfg: &PlanConfig, dir: &Path) -> anyhow::Result<Measuring> {
    let mut notes = Vec::new();
    let max_conc = cfg.concurrency.unwrap_or_else(|| {
        cfg.scenarios
            .iter()
            .map(|s| s.scenario.users.count)
            .max()
            .unwrap_or(1)
    });
    let workers: Vec<usize> = if cfg.workers.is_empty() {
        if max_conc < 2 {
            notes.push(format!(
                "only 1 worker was tried: with at most {max_conc} submission(s) at once more workers would sit idle"
            ));
        }
        [1, 2]
            .into_iter()
            .filter(|w| *w <= max_conc.max(1))
            .collect()
    } else {
        cfg.workers.clone()
    };
    let inputs = dir.join("inputs");
    let mut targets = Vec::new();
    for base in &cfg.profiles {
        for w in &workers {
            let n = *w as i64;
            let f = derive(base, &inputs.join(format!("profiles/w{w}")), None, |t| {
                t.insert("workers".into(), toml::Value::Integer(n));
            })?;
            targets.push(Target::reference(&f, None)?);
        }
    }
    // An app runs with its own settings: one configuration each.
    for t in &cfg.targets {
        targets.extend(Target::app(t)?.variants(&cfg.vary)?);
    }
    let mut scenarios = Vec::new();
    for s in &cfg.scenarios {
        let sc = match cfg.concurrency {
            Some(c) if c != s.scenario.users.count => {
                let n = c as i64;
                let f = derive(
                    &s.scenario.path,
                    &inputs.join(format!("scenarios/c{c}")),
                    Some(&s.scenario.name),
                    |t| {
                        if let Some(toml::Value::Table(u)) = t.get_mut("users") {
                            u.insert("count".into(), toml::Value::Integer(n));
                        }
                    },
                )?;
                Scenario::load(&f)?
            }
            _ => s.scenario.clone(),
        };
        scenarios.push(sc);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shares = shares_here(&cfg.plans, cores, cfg.matrix.max_run_duration, &mut notes);
    let max_plan_ram = cfg
        .plans
        .iter()
        .map(|p| p.ram_bytes)
        .max()
        .unwrap_or(1 << 30);
    let runs = dir.join("runs");
    let mut cells = Vec::new();
    for share in &shares {
        for t in &targets {
            for s in &scenarios {
                let mut run =
                    cfg.matrix
                        .cell(t.clone(), s.clone(), max_plan_ram, Enforce::Off, &runs);
                run.cpus = *share;
                cells.push(Cell {
                    label: format!(
                        "{}{} on {}{}",
                        t.name(),
                        t.workers
                            .map_or_else(String::new, |w| format!(", {w} worker(s)")),
                        s.name,
                        share.map_or_else(
                            || " (CPU not limited)".to_string(),
                            |s| format!(" at {s} CPU")
                        )
                    ),
                    run,
                });
            }
        }
    }
    if cfg.split.is_some() {
        for t in targets.iter().filter(|t| t.kind != TargetKind::App) {
            for s in &scenarios {
                let mut run =
                    cfg.matrix
                        .cell(t.clone(), s.clone(), max_plan_ram, Enforce::Off, &runs);
                run.split = Some(Split {
                    web_limit: max_plan_ram,
                });
                cells.push(Cell {
                    label: format!(
                        "{}{} on {}, split web + worker (CPU not limited)",
                        t.name(),
                        t.workers
                            .map_or_else(String::new, |w| format!(", {w} worker(s)")),
                        s.name
                    ),
                    run,
                });
            }
        }
    }
    Ok(Measuring { cells, notes })
}

/// The CPU shares to measure at: one probe tells whether a CPU cgroup can be
/// made here; when none can, one set of unlimited runs answers for every
/// plan.
fn shares_here(
    plans: &[HostingPlan],
    cores: usize,
    max_run: std::time::Duration,
    notes: &mut Vec<String>,
) -> Vec<Option<f64>> {
    let shares = super::rank::cpu_shares(plans, cores);
    let Some(share) = shares.iter().flatten().next() else {
        notes.push(format!(
            "CPU was not limited: every plan's CPU share is at least the {cores} cores of this machine"
        ));
        return shares;
    };
    let probe = format!(
        "oomlab-plan-probe-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    match crate::cgroup::CpuCgroup::create(&probe, *share) {
        Ok(cg) => {
            drop(cg);
            let limited: Vec<String> = shares.iter().flatten().map(|s| format!("{s}")).collect();
            notes.push(format!(
                "CPU was limited per plan: each distinct CPU share ({}) got its own runs, the server held to it by \
                 a CPU cgroup below the harness's own (CFS quota per 100 ms period); plans with the same share \
                 shared those runs{}; memory and times depend on the share (a slower server has more jobs in \
                 flight at once). A run stops after --max-duration {} s: at a small share (e.g. 0.1 CPU, \
                 about 10x slower) a run that has not finished by then counts as not holding",
                limited.join(", "),
                if shares.contains(&None) {
                    format!(
                        "; plans with a share of at least this machine's {cores} cores ran with the CPU not limited"
                    )
                } else {
                    String::new()
                },
                max_run.as_secs_f64()
            ));
            shares
        }
        Err(why) => {
            notes.push(format!(
                "CPU was not limited: {why}; times were measured with the {cores} cores of this machine, and \
                 one set of runs answers for every plan; on a plan with a smaller CPU share (e.g. 0.1) PDF \
                 building takes longer and jobs overlap more"
            ));
            vec![None]
        }
    }
}

/// A derived input file: `base` with `edits` applied to its TOML, written
/// into `dir` under `base`'s file name. Its `name` key is `name`, or the
/// base's file stem.
fn derive(
    base: &Path,
    dir: &Path,
    name: Option<&str>,
    edits: impl FnOnce(&mut toml::Table),
) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(base).map_err(|source| ConfigError::Read {
        path: base.to_path_buf(),
        source,
    })?;
    let mut t: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::toml(base, e))?;
    edits(&mut t);
    let stem = crate::input::stem(base);
    t.insert(
        "name".into(),
        toml::Value::String(name.unwrap_or(&stem).to_string()),
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = dir.join(format!("{stem}.toml"));
    let header = format!("# Derived by `oomlab plan` from {}.\n", base.display());
    std::fs::write(&p, header + &toml::to_string(&t)?)
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}
