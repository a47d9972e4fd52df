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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::compare::runs::{self, FinishedRun, RunSpec, mb, parse_percent, peak_of, secs};
use crate::error::{ConfigError, Exit};
use crate::report::Outcome;
use crate::watchdog::Enforce;

/// The version of the `plan.json` format.
pub const SCHEMA_VERSION: u32 = 1;

const PLAN_EXAMPLES: &str = "\
Examples:
  # The cheapest Render plan that holds two reports at once, 10% headroom:
  oomlab plan --scenario two-reports --concurrency 2

  # A mix: mostly single reports, sometimes camera photos, 3 at once:
  oomlab plan --scenario single-report:4 --scenario camera-photos:1 --concurrency 3

  # Fewer candidates (faster), your own price list:
  oomlab plan --scenario two-reports --profile lean --profile quick-fix \\
      --workers 1,2 --plans my-plans.toml

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
    #[arg(long = "scenario", value_name = "NAME[:WEIGHT]", required = true)]
    pub scenarios: Vec<String>,

    /// Users submitting at once (each scenario's `users.count` is set to
    /// it). Default: as each scenario says.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,

    /// Share of each plan's RAM that must stay free.
    #[arg(long, default_value = "10%", value_name = "PERCENT")]
    pub headroom: String,

    /// The plans to choose from: a TOML file (see plans/render.toml).
    #[arg(long, default_value = "plans/render.toml", value_name = "FILE")]
    pub plans: PathBuf,

    /// A profile to try (file or name in `profiles/`); repeatable. Default:
    /// every `profiles/*.toml`.
    #[arg(long = "profile", value_name = "FILE|NAME")]
    pub profiles: Vec<String>,

    /// Worker counts to try, comma-separated. Default: 1 and 2, without
    /// counts above the concurrency (extra workers would sit idle).
    #[arg(long, value_delimiter = ',', value_name = "N,N")]
    pub workers: Vec<usize>,

    /// Judge finished runs (a `plan-*` folder) instead of running.
    #[arg(long, value_name = "PATH")]
    pub from: Vec<PathBuf>,

    /// Folder for reports; writes `<out>/plan-<timestamp>/`.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop any one run after this long.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub max_run_duration: String,

    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// A plans data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansFile {
    /// Who sells them, e.g. `Render`.
    pub provider: String,
    /// When the figures were taken, `YYYY-MM-DD`.
    pub taken: String,
    /// Where they were taken from.
    #[serde(default)]
    pub source: Option<String>,
    /// The plans.
    pub plan: Vec<RawPlan>,
}

/// A plan as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Its name.
    pub name: String,
    /// Its RAM, e.g. `512MB` (read as MiB).
    pub ram: String,
    /// Its CPU share.
    pub cpu: f64,
    /// Its price, USD per month.
    pub usd_per_month: f64,
    /// Anything a buyer should know.
    #[serde(default)]
    pub note: Option<String>,
}

/// A checked plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostingPlan {
    /// Its name.
    pub name: String,
    /// Its RAM, bytes.
    pub ram_bytes: u64,
    /// Its CPU share (cores).
    pub cpu: f64,
    /// Price, USD per month.
    pub usd_per_month: f64,
    /// Anything a buyer should know.
    pub note: Option<String>,
}

/// Reads and checks a plans file; every mistake names the file, key and fix.
pub fn load_plans(path: &Path) -> Result<(PlansFile, Vec<HostingPlan>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: PlansFile = toml::from_str(&text).map_err(|e| ConfigError::toml(path, e))?;
    if chrono::NaiveDate::parse_from_str(&file.taken, "%Y-%m-%d").is_err() {
        return Err(ConfigError::invalid(
            path,
            "taken",
            format!("`{}` is not a date", file.taken),
            "taken = \"2026-11-28\"",
        ));
    }
    if file.plan.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "plan",
            "no plans",
            "add [[plan]] tables with name, ram, cpu, usd_per_month",
        ));
    }
    let mut plans = Vec::new();
    for (i, p) in file.plan.iter().enumerate() {
        let key = |k: &str| format!("plan[{i}].{k} ({})", p.name);
        let ram = memstats::parse_bytes(&p.ram)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| {
                ConfigError::invalid(
                    path,
                    key("ram"),
                    format!("`{}` is not a size", p.ram),
                    "ram = \"512MB\"",
                )
            })?;
        if !(p.cpu > 0.0 && p.cpu.is_finite()) {
            return Err(ConfigError::invalid(
                path,
                key("cpu"),
                "must be a positive share of a core",
                "cpu = 0.5",
            ));
        }
        if !(p.usd_per_month >= 0.0 && p.usd_per_month.is_finite()) {
            return Err(ConfigError::invalid(
                path,
                key("usd_per_month"),
                "must be 0 or more",
                "usd_per_month = 7",
            ));
        }
        plans.push(HostingPlan {
            name: p.name.clone(),
            ram_bytes: ram,
            cpu: p.cpu,
            usd_per_month: p.usd_per_month,
            note: p.note.clone(),
        });
    }
    // Cheapest first; at one price, the most RAM, then the most CPU.
    plans.sort_by(|a, b| {
        a.usd_per_month
            .total_cmp(&b.usd_per_month)
            .then(b.ram_bytes.cmp(&a.ram_bytes))
            .then(b.cpu.total_cmp(&a.cpu))
    });
    Ok((file, plans))
}

/// `name[:weight]`.
pub fn parse_weighted(s: &str) -> Result<(String, f64), ConfigError> {
    match s.rsplit_once(':') {
        Some((name, w)) => {
            let weight: f64 = w
                .parse()
                .ok()
                .filter(|w: &f64| *w > 0.0 && w.is_finite())
                .ok_or_else(|| {
                    ConfigError::flag(
                        "--scenario",
                        format!("`{w}` in `{s}` is not a positive weight"),
                        format!("e.g. --scenario {name}:2"),
                    )
                })?;
            Ok((name.to_string(), weight))
        }
        None => Ok((s.to_string(), 1.0)),
    }
}

/// One scenario of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The scenario (base name, as given to --scenario).
    pub scenario: String,
    /// Its weight.
    pub weight: f64,
    /// Highest memory (RSS, VmHWM), bytes.
    pub peak_bytes: u64,
    /// RSS after start, bytes.
    pub idle_rss_bytes: Option<u64>,
    /// Median time to report ready, seconds.
    pub time_to_ready_p50_s: Option<f64>,
    /// 95th percentile, seconds.
    pub time_to_ready_p95_s: Option<f64>,
    /// Completed reports per minute.
    pub reports_per_minute: Option<f64>,
    /// Every acknowledged job completed and the run finished.
    pub all_jobs_completed: bool,
    /// The harness's verdict line.
    pub summary: String,
    /// The run's folder.
    pub dir: PathBuf,
}

/// A profile at a worker count, measured on every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The profile.
    pub profile: String,
    /// Background workers.
    pub workers: usize,
    /// The CPU share the server was held to, cores; `None`: not limited.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Modelled runtime held from start (declared, included), bytes.
    pub modelled_runtime_bytes: Option<u64>,
    /// Per scenario.
    pub measurements: Vec<Measurement>,
}

impl Config {
    /// `lean, 1 worker` (and `, 0.5 CPU` when the CPU was limited).
    pub fn label(&self) -> String {
        format!(
            "{}, {} worker{}{}",
            self.profile,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.cpu.map_or_else(String::new, |c| format!(", {c} CPU"))
        )
    }

    /// The highest peak over the scenarios, bytes.
    pub fn peak_bytes(&self) -> u64 {
        self.measurements
            .iter()
            .map(|m| m.peak_bytes)
            .max()
            .unwrap_or(0)
    }

    /// The weighted mean of a figure over the scenarios that have it.
    fn weighted(&self, f: impl Fn(&Measurement) -> Option<f64>) -> Option<f64> {
        let (mut sum, mut w) = (0.0, 0.0);
        for m in &self.measurements {
            if let Some(v) = f(m) {
                sum += v * m.weight;
                w += m.weight;
            }
        }
        (w > 0.0).then(|| sum / w)
    }

    /// Weighted p95 time to report ready, seconds.
    pub fn weighted_p95_s(&self) -> Option<f64> {
        self.weighted(|m| m.time_to_ready_p95_s)
    }

    /// Weighted reports per minute.
    pub fn weighted_reports_per_minute(&self) -> Option<f64> {
        self.weighted(|m| m.reports_per_minute)
    }

    fn complete(&self, scenarios: usize) -> bool {
        self.measurements.len() == scenarios
            && self.measurements.iter().all(|m| m.all_jobs_completed)
    }
}

/// A plan's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanVerdict {
    /// The plan.
    pub plan: HostingPlan,
    /// RAM x (1 - headroom), bytes: peaks must stay under it.
    pub ceiling_bytes: u64,
    /// Configurations (labels) that hold, best first.
    pub holding: Vec<String>,
    /// The best that holds (see [`rank`]).
    pub best: Option<String>,
    /// When none holds: the lowest peak of any complete configuration, bytes.
    pub lowest_peak_bytes: Option<u64>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// Version of this format.
    pub schema_version: u32,
    /// Version of oomlab.
    pub oomlab_version: String,
    /// When it was made, RFC 3339 UTC.
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
}

/// The recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The plan's name.
    pub plan: String,
    /// Price, USD per month.
    pub usd_per_month: f64,
    /// The configuration (profile, workers).
    pub config: String,
    /// Its peak, bytes.
    pub peak_bytes: u64,
    /// Headroom left on the plan, bytes.
    pub headroom_bytes: u64,
    /// One line.
    pub summary: String,
}

/// How much slower than the fastest a configuration may be and still count
/// as as fast: job status is polled every second, so times come in steps of
/// about a second, and CPU was not limited, so small differences here say
/// little about a plan with a smaller CPU share.
const AS_FAST_SLACK_S: f64 = 1.0;
const AS_FAST_SHARE: f64 = 0.10;

/// Best first: among the configurations about as fast as the fastest
/// (weighted p95 within 10% + 1 s), the lowest peak, so the one that leaves
/// the most memory free; then the slower ones, fastest first.
pub fn rank(mut configs: Vec<&Config>) -> Vec<&Config> {
    let p95 = |c: &Config| c.weighted_p95_s().unwrap_or(f64::MAX);
    let best = configs.iter().map(|c| p95(c)).fold(f64::MAX, f64::min);
    let fast = |c: &Config| p95(c) <= best * (1.0 + AS_FAST_SHARE) + AS_FAST_SLACK_S;
    configs.sort_by(|a, b| {
        fast(b)
            .cmp(&fast(a))
            .then_with(|| {
                if fast(a) {
                    a.peak_bytes().cmp(&b.peak_bytes())
                } else {
                    p95(a).total_cmp(&p95(b))
                }
            })
            .then(a.peak_bytes().cmp(&b.peak_bytes()))
    });
    configs
}

/// Whether two CPU shares are the same (they come from TOML and JSON).
fn same_share(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

/// The CPU share each plan is measured at on a machine with `cores` cores:
/// `None` (not limited) for shares of at least `cores`; distinct, in the
/// order of `plans` (cheapest first).
pub fn cpu_shares(plans: &[HostingPlan], cores: usize) -> Vec<Option<f64>> {
    let mut out: Vec<Option<f64>> = Vec::new();
    for p in plans {
        let s = (p.cpu < cores as f64).then_some(p.cpu);
        if !out.iter().any(|o| match (o, s) {
            (Some(a), Some(b)) => same_share(*a, b),
            (None, None) => true,
            _ => false,
        }) {
            out.push(s);
        }
    }
    out
}

/// Judges every plan against the configurations measured.
pub fn recommend(
    configs: &[Config],
    plans: &[HostingPlan],
    headroom: f64,
    scenarios: usize,
) -> (Vec<PlanVerdict>, Option<Recommendation>) {
    let all_complete: Vec<&Config> = configs.iter().filter(|c| c.complete(scenarios)).collect();
    let mut verdicts = Vec::new();
    let mut rec = None;
    for p in plans {
        let ceiling = (p.ram_bytes as f64 * (1.0 - headroom)).floor() as u64;
        // The runs made at this plan's CPU share; without any, the runs with
        // the CPU not limited (a share of at least this machine's cores, or
        // no CPU cgroup here).
        let at_share: Vec<&Config> = all_complete
            .iter()
            .copied()
            .filter(|c| c.cpu.is_some_and(|x| same_share(x, p.cpu)))
            .collect();
        let complete: Vec<&Config> = if at_share.is_empty() {
            all_complete
                .iter()
                .copied()
                .filter(|c| c.cpu.is_none())
                .collect()
        } else {
            at_share
        };
        let holding = rank(
            complete
                .iter()
                .copied()
                .filter(|c| c.peak_bytes() < ceiling)
                .collect(),
        );
        let best = holding.first().copied();
        if rec.is_none()
            && let Some(b) = best
        {
            rec = Some(Recommendation {
                plan: p.name.clone(),
                usd_per_month: p.usd_per_month,
                config: b.label(),
                peak_bytes: b.peak_bytes(),
                headroom_bytes: p.ram_bytes - b.peak_bytes(),
                summary: format!(
                    "{} (USD {}/month, {} RAM) with {}: peak {} of {}, {} free (at least {:.0}% kept free), p95 to report ready {}; modelled runtime {} (declared, included in the peak)",
                    p.name,
                    p.usd_per_month,
                    mb(p.ram_bytes),
                    b.label(),
                    mb(b.peak_bytes()),
                    mb(p.ram_bytes),
                    mb(p.ram_bytes - b.peak_bytes()),
                    headroom * 100.0,
                    secs(b.weighted_p95_s()),
                    b.modelled_runtime_bytes
                        .map_or_else(|| "not known".into(), mb)
                ),
            });
        }
        verdicts.push(PlanVerdict {
            plan: p.clone(),
            ceiling_bytes: ceiling,
            holding: holding.iter().map(|c| c.label()).collect(),
            best: best.map(Config::label),
            lowest_peak_bytes: if best.is_none() {
                complete.iter().map(|c| c.peak_bytes()).min()
            } else {
                None
            },
        });
    }
    (verdicts, rec)
}

/// The Markdown of a plan report.
pub fn markdown(r: &PlanReport) -> String {
    let mut s = String::new();
    let scen: Vec<String> = r
        .scenarios
        .iter()
        .map(|(n, w)| format!("{n} (weight {w})"))
        .collect();
    let _ = writeln!(s, "# oomlab plan: {}\n", scen.join(", "));
    let _ = writeln!(
        s,
        "Plans: {} figures taken {} ({}). Headroom: {:.0}% of RAM kept free. Concurrency: {}.\n",
        r.provider,
        r.plans_taken,
        r.plans_file.display(),
        r.headroom * 100.0,
        r.concurrency.map_or_else(
            || "as each scenario says".to_string(),
            |c| format!("{c} users at once")
        )
    );
    match &r.recommendation {
        Some(rec) => {
            let _ = writeln!(s, "**Recommendation: {}**\n", rec.summary);
        }
        None => {
            let _ = writeln!(
                s,
                "**No plan holds this load with {:.0}% headroom under any configuration tried.**\n",
                r.headroom * 100.0
            );
        }
    }
    let _ = writeln!(s, "## Every plan\n");
    s.push_str(
        "| plan | RAM | CPU | USD/month | must stay under | verdict | configurations that hold |\n",
    );
    s.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for v in &r.verdicts {
        let verdict = match (&v.best, v.lowest_peak_bytes) {
            (Some(b), _) => format!("holds with {b}"),
            (None, Some(low)) => format!("does not hold: the lowest peak is {}", mb(low)),
            (None, None) => "not known: no configuration completed".into(),
        };
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {} | {} |",
            v.plan.name,
            v.plan
                .note
                .as_ref()
                .map_or_else(String::new, |n| format!(" ({n})")),
            mb(v.plan.ram_bytes),
            v.plan.cpu,
            v.plan.usd_per_month,
            mb(v.ceiling_bytes),
            verdict,
            if v.holding.is_empty() {
                "-".to_string()
            } else {
                v.holding.len().to_string()
            }
        );
    }
    let _ = writeln!(
        s,
        "\n## Measurements (no memory limit; CPU share as in the configuration, none: not limited)\n"
    );
    s.push_str("| configuration | scenario | peak | idle after start | p50 to report ready | p95 to report ready | reports per minute | modelled runtime (declared, included) | run |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for c in &r.configs {
        for m in &c.measurements {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.label(),
                m.scenario,
                mb(m.peak_bytes),
                m.idle_rss_bytes.map_or_else(|| "n/a".into(), mb),
                secs(m.time_to_ready_p50_s),
                secs(m.time_to_ready_p95_s),
                m.reports_per_minute
                    .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min")),
                c.modelled_runtime_bytes.map_or_else(|| "n/a".into(), mb),
                if m.all_jobs_completed {
                    "all jobs completed".to_string()
                } else {
                    format!("incomplete: {}", m.summary.replace('|', "\\|"))
                }
            );
        }
    }
    let _ = writeln!(s, "\n## Notes\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}

/// A derived input file: `base` with `edits` applied to its TOML, written
/// into `dir` as `<stem>.toml`.
fn derive(
    base: &Path,
    dir: &Path,
    stem: &str,
    edits: impl FnOnce(&mut toml::Table),
) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(base).map_err(|source| ConfigError::Read {
        path: base.to_path_buf(),
        source,
    })?;
    let mut t: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::toml(base, e))?;
    edits(&mut t);
    t.insert("name".into(), toml::Value::String(stem.to_string()));
    std::fs::create_dir_all(dir)?;
    let p = dir.join(format!("{stem}.toml"));
    let header = format!("# Derived by `oomlab plan` from {}.\n", base.display());
    std::fs::write(&p, header + &toml::to_string(&t)?)
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// The configuration a finished run belongs to: (profile, workers).
fn config_of(run: &FinishedRun) -> (String, usize) {
    let name = &run.report.profile.name;
    let workers = runs_workers(&run.report.profile.path);
    match name.rsplit_once("-w") {
        Some((base, n)) if n.parse::<usize>().is_ok() => {
            (base.to_string(), n.parse().unwrap_or(workers))
        }
        _ => (name.clone(), workers),
    }
}

fn runs_workers(profile: &Path) -> usize {
    crate::compare::settings::flatten_profile(profile)
        .and_then(|m| m.get("workers").and_then(|w| w.parse().ok()))
        .unwrap_or(1)
}

fn measurement(run: &FinishedRun, scenario: &str, weight: f64) -> Measurement {
    let r = &run.report;
    Measurement {
        scenario: scenario.to_string(),
        weight,
        peak_bytes: peak_of(r),
        idle_rss_bytes: r.peaks.idle_rss_bytes,
        time_to_ready_p50_s: r.load.time_to_ready_p50_s,
        time_to_ready_p95_s: r.load.time_to_ready_p95_s,
        reports_per_minute: r.load.reports_per_minute,
        all_jobs_completed: matches!(r.verdict.outcome, Outcome::WithinLimit | Outcome::Crossed)
            && r.load.jobs_failed == 0
            && r.load.acknowledged_never_completed == 0
            && r.load.jobs_completed > 0,
        summary: r.verdict.summary.clone(),
        dir: run.dir.clone(),
    }
}

/// Groups finished runs into configurations over the given scenarios.
pub fn configs_from_runs(finished: &[FinishedRun], scenarios: &[(String, f64)]) -> Vec<Config> {
    let mut by: BTreeMap<(Option<u64>, String, usize), Config> = BTreeMap::new();
    for run in finished {
        let scen_name = &run.report.scenario.name;
        let Some((s, w)) = scenarios.iter().find(|(s, _)| {
            let base = Path::new(s)
                .file_stem()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            scen_name == s || scen_name == &base || scen_name.starts_with(&format!("{base}-c"))
        }) else {
            continue;
        };
        let (profile, workers) = config_of(run);
        let cpu = run
            .report
            .limit
            .cpu
            .limited
            .then_some(run.report.limit.cpu.cpus)
            .flatten();
        let cpu_key = cpu.map(|c| (c * 1e6).round() as u64);
        let c = by
            .entry((cpu_key, profile.clone(), workers))
            .or_insert_with(|| Config {
                profile,
                workers,
                cpu,
                modelled_runtime_bytes: None,
                measurements: Vec::new(),
            });
        c.modelled_runtime_bytes = c
            .modelled_runtime_bytes
            .or(run.report.modelled_runtime_bytes);
        c.measurements.retain(|m| &m.scenario != s);
        c.measurements.push(measurement(run, s, *w));
    }
    by.into_values().collect()
}

/// Runs `oomlab plan`.
pub async fn run(args: PlanArgs) -> anyhow::Result<Exit> {
    let headroom = parse_percent("--headroom", &args.headroom)?;
    let max_run = crate::cli::parse_duration("--max-run-duration", &args.max_run_duration)?;
    let (file, plans) = load_plans(&args.plans)?;
    let scenarios: Vec<(String, f64)> = args
        .scenarios
        .iter()
        .map(|s| parse_weighted(s))
        .collect::<Result<_, _>>()?;
    if args.concurrency == Some(0) {
        return Err(ConfigError::flag(
            "--concurrency",
            "0 users submit nothing",
            "e.g. --concurrency 2",
        )
        .into());
    }
    if args.workers.contains(&0) {
        return Err(ConfigError::flag(
            "--workers",
            "0 workers process nothing",
            "e.g. --workers 1,2",
        )
        .into());
    }
    let max_plan_ram = plans.iter().map(|p| p.ram_bytes).max().unwrap_or(1 << 30);
    let mut notes = vec![
        format!(
            "memory was measured once per CPU share x profile x workers x scenario with no memory limit (--enforce off), \
             and each plan's RAM compared against the peaks at its CPU share: the peak does not depend on the memory \
             limit unless the server is killed, so one run answers for every one of the {} plans with that CPU share",
            plans.len()
        ),
        "memory is the server's resident set (RSS every 10 ms) and the kernel's high-water mark (VmHWM); 1 MB = 1 MiB; \
         the modelled runtime is a declared model input included in every figure"
            .into(),
        "a configuration holds on a plan when every scenario completed every job and its peak stayed under RAM minus \
         the headroom; among those about as fast as the fastest (weighted p95 time to report ready within 10% + 1 s; \
         job status is polled every second, so times come in steps of about a second), the lowest peak wins"
        .into(),
    ];

    let started = Instant::now();
    let (finished, wall, dir) = if !args.from.is_empty() {
        let f = runs::find_runs("--from", &args.from)?;
        notes.push(if f.iter().any(|r| r.report.limit.cpu.limited) {
            "CPU: as each finished run recorded it (run.json `limit.cpu`); a plan is judged on the runs made at its \
             CPU share, else on runs with the CPU not limited"
                .into()
        } else {
            "CPU was not limited in any of the finished runs (run.json `limit.cpu`): times were measured with the \
             cores of the machine that made them, and the same runs answer for every plan"
                .into()
        });
        notes.push(format!(
            "judged {} finished run(s) without running again",
            f.len()
        ));
        (f, None, crate::compare::fresh_dir(&args.out, "plan")?)
    } else {
        let profiles = if args.profiles.is_empty() {
            crate::compare::default_profiles()?
        } else {
            args.profiles.clone()
        };
        let max_conc = match args.concurrency {
            Some(c) => c,
            None => scenarios
                .iter()
                .map(|(s, _)| {
                    let p = crate::cli::resolve_input("--scenario", s, "scenarios")?;
                    Ok(crate::scenario::Scenario::load(&p)?.users.count)
                })
                .collect::<Result<Vec<usize>, ConfigError>>()?
                .into_iter()
                .max()
                .unwrap_or(1),
        };
        let workers: Vec<usize> = if args.workers.is_empty() {
            let w: Vec<usize> = [1, 2]
                .into_iter()
                .filter(|w| *w <= max_conc.max(1))
                .collect();
            if max_conc < 2 {
                notes.push(format!(
                    "only 1 worker was tried: with at most {max_conc} submission(s) at once more workers would sit idle"
                ));
            }
            w
        } else {
            args.workers.clone()
        };
        let dir = crate::compare::fresh_dir(&args.out, "plan")?;
        let inputs = dir.join("inputs");
        let mut profile_files = Vec::new();
        for p in &profiles {
            let base = crate::cli::resolve_input("--profile", p, "profiles")?;
            let stem = base
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone());
            for w in &workers {
                let n = *w as i64;
                let f = derive(
                    &base,
                    &inputs.join("profiles"),
                    &format!("{stem}-w{w}"),
                    |t| {
                        t.insert("workers".into(), toml::Value::Integer(n));
                    },
                )?;
                profile_files.push(f);
            }
        }
        let mut scenario_files = Vec::new();
        for (s, _) in &scenarios {
            let base = crate::cli::resolve_input("--scenario", s, "scenarios")?;
            let sc = crate::scenario::Scenario::load(&base)?;
            let f = match args.concurrency {
                Some(c) if c != sc.users.count => {
                    let stem = base
                        .file_stem()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_else(|| s.clone());
                    let n = c as i64;
                    let f = derive(
                        &base,
                        &inputs.join("scenarios"),
                        &format!("{stem}-c{c}"),
                        |t| {
                            if let Some(toml::Value::Table(u)) = t.get_mut("users") {
                                u.insert("count".into(), toml::Value::Integer(n));
                            }
                        },
                    )?;
                    crate::scenario::Scenario::load(&f)?;
                    f
                }
                _ => base,
            };
            scenario_files.push(f);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut shares = cpu_shares(&plans, cores);
        if let Some(share) = shares.iter().flatten().next() {
            // One probe: when no CPU cgroup can be made here, no run would be
            // limited, and one set of unlimited runs answers for every plan.
            let probe = format!(
                "oomlab-plan-probe-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            );
            match crate::cgroup::CpuCgroup::create(&probe, *share) {
                Ok(cg) => {
                    drop(cg);
                    let limited: Vec<String> =
                        shares.iter().flatten().map(|s| format!("{s}")).collect();
                    notes.push(format!(
                        "CPU was limited per plan: each distinct CPU share ({}) got its own runs, the server held to it by \
                         a CPU cgroup below the harness's own (CFS quota per 100 ms period); plans with the same share \
                         shared those runs{}; memory and times depend on the share (a slower server has more jobs in \
                         flight at once). A run stops after --max-run-duration {}: at a small share (e.g. 0.1 CPU, about \
                         10x slower) a run that has not finished by then counts as not holding",
                        limited.join(", "),
                        if shares.contains(&None) {
                            format!(
                                "; plans with a share of at least this machine's {cores} cores ran with the CPU not limited"
                            )
                        } else {
                            String::new()
                        },
                        args.max_run_duration
                    ));
                }
                Err(why) => {
                    notes.push(format!(
                        "CPU was not limited: {why}; times were measured with the {cores} cores of this machine, and \
                         one set of runs answers for every plan; on a plan with a smaller CPU share (e.g. 0.1) PDF \
                         building takes longer and jobs overlap more"
                    ));
                    shares = vec![None];
                }
            }
        } else {
            notes.push(format!(
                "CPU was not limited: every plan's CPU share is at least the {cores} cores of this machine"
            ));
        }
        let pb = crate::compare::progress_bar(
            (shares.len() * profile_files.len() * scenario_files.len()) as u64,
            args.quiet,
        );
        let mut finished = Vec::new();
        'all: for (pf, share) in shares
            .iter()
            .flat_map(|s| profile_files.iter().map(move |p| (p, *s)))
        {
            for sf in &scenario_files {
                let label = format!(
                    "{} on {}{}",
                    pf.file_stem().unwrap_or_default().to_string_lossy(),
                    sf.file_stem().unwrap_or_default().to_string_lossy(),
                    share.map_or_else(
                        || " (CPU not limited)".to_string(),
                        |s| format!(" at {s} CPU")
                    )
                );
                pb.set_message(label.clone());
                let spec = RunSpec {
                    profile: pf.display().to_string(),
                    scenario: sf.display().to_string(),
                    limit: format!("{max_plan_ram}"),
                    enforce: Enforce::Off,
                    out: dir.join("runs"),
                    max_duration: format!("{}s", max_run.as_secs_f64()),
                    quiet_log: true,
                    cpus: share,
                };
                match runs::run_one(&spec).await {
                    Ok(run) => {
                        pb.println(format!(
                            "{label}: peak {} (no memory limit), p95 to report ready {}",
                            mb(run.peak_bytes()),
                            secs(run.report.load.time_to_ready_p95_s)
                        ));
                        let stop = run.report.verdict.outcome == Outcome::Interrupted;
                        finished.push(run);
                        if stop {
                            notes.push("interrupted: the runs after this one were not made".into());
                            break 'all;
                        }
                    }
                    Err(e) if Exit::for_error(&e) == Exit::BadInput => return Err(e),
                    Err(e) => {
                        pb.println(format!("{label}: the run failed: {e:#}"));
                        notes.push(format!("{label}: the run failed: {e:#}"));
                    }
                }
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
        (finished, Some(started.elapsed().as_secs_f64()), dir)
    };

    let configs = configs_from_runs(&finished, &scenarios);
    let (verdicts, recommendation) = recommend(&configs, &plans, headroom, scenarios.len());
    let report = PlanReport {
        schema_version: SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        plans_file: args.plans.clone(),
        provider: file.provider.clone(),
        plans_taken: file.taken.clone(),
        headroom,
        concurrency: args.concurrency,
        scenarios,
        configs,
        verdicts,
        recommendation,
        wall_time_s: wall,
        notes,
    };
    let md = markdown(&report);
    std::fs::write(dir.join("plan.md"), &md)
        .with_context(|| format!("writing {}/plan.md", dir.display()))?;
    std::fs::write(
        dir.join("plan.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )
    .with_context(|| format!("writing {}/plan.json", dir.display()))?;
    println!("{md}");
    if let Some(w) = wall {
        println!("{} runs in {w:.0} s", finished.len());
    }
    println!("written: {}/{{plan.md,plan.json}}", dir.display());
    Ok(if report.recommendation.is_some() {
        Exit::WithinLimit
    } else {
        Exit::LimitCrossed
    })
}
