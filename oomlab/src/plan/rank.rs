//! The pure part of `plan`: runs grouped into configurations, configurations
//! ranked, and every plan judged against them. Tested on synthetic figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plans_file::HostingPlan;
use crate::finished::{FinishedRun, peak_of};
use crate::report::Outcome;
use crate::units::{mb, secs_ms};

/// One scenario of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Jobs lost to a death inside the app (`load.jobs_lost`).
    #[serde(default)]
    pub jobs_lost: u64,
    /// The harness's verdict line.
    pub summary: String,
    /// The run's folder.
    pub dir: PathBuf,
}

/// A profile at a worker count, measured on every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Config {
    /// The profile.
    pub profile: String,
    /// Background workers; `None` for an app target, which runs with its
    /// own settings.
    pub workers: Option<usize>,
    /// The CPU share the server was held to, cores; `None`: not limited.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Modelled runtime held from start (declared, included), bytes.
    pub modelled_runtime_bytes: Option<u64>,
    /// Whose speed its times are.
    #[serde(default)]
    pub timing: Timing,
    /// Per scenario.
    pub measurements: Vec<Measurement>,
}

/// Whose speed a configuration's times (p50, p95 to report ready) are.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// An app target measured as it runs: its own times.
    App,
    /// A profile with `[model.cpu]`: the server spends the modelled app's
    /// CPU per stage, so its jobs take about as long as the app's and slow
    /// down like them under a CPU share (docs/measurements/cpu-model.md).
    AppLike,
    /// A profile without `[model.cpu]`: the reference server's own speed
    /// (Rust), not what an app with those settings would take.
    #[default]
    Server,
}

impl Timing {
    /// A word for a table cell.
    pub fn word(self) -> &'static str {
        match self {
            Timing::App => "app",
            Timing::AppLike => "app-like",
            Timing::Server => "Rust",
        }
    }

    /// The same in a sentence.
    pub fn phrase(self) -> &'static str {
        match self {
            Timing::App => "the app's own",
            Timing::AppLike => "app-like: the modelled app's CPU per stage",
            Timing::Server => "the Rust server's speed, not an app's",
        }
    }

    /// What a finished run's times are: its target's, or its profile's
    /// `[model.cpu]` on or off (a profile that cannot be read: the server's).
    pub fn of_run(run: &FinishedRun) -> Timing {
        let r = &run.report;
        if r.shape.target == crate::report::TargetKind::App {
            return Timing::App;
        }
        let cpu_on = std::fs::read_to_string(&r.profile.path)
            .ok()
            .and_then(|t| report_server::settings::Settings::from_toml(&t).ok())
            .is_some_and(|s| s.model.cpu.is_on());
        if cpu_on {
            Timing::AppLike
        } else {
            Timing::Server
        }
    }
}

impl Config {
    /// `lean, 1 worker` (and `, 0.5 CPU` when the CPU was limited); an app
    /// target by its name alone.
    pub fn label(&self) -> String {
        format!(
            "{}{}",
            self.settings_label(),
            self.cpu.map_or_else(String::new, |c| format!(", {c} CPU"))
        )
    }

    /// The label without the CPU share (a table with a CPU column).
    pub fn settings_label(&self) -> String {
        format!(
            "{}{}",
            self.profile,
            self.workers.map_or_else(String::new, |w| format!(
                ", {w} worker{}",
                if w == 1 { "" } else { "s" }
            )),
        )
    }

    /// The CPU share the runs were held to, for a table cell.
    pub fn cpu_cell(&self) -> String {
        self.cpu
            .map_or_else(|| "no limit".to_string(), |c| format!("{c}"))
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// The recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
/// as as fast: times vary from run to run by tens of percent on a shared
/// machine, and where the CPU was not limited small differences say little
/// about a plan with a smaller CPU share.
pub const AS_FAST_SLACK_S: f64 = 1.0;
/// The share of the fastest's time added to [`AS_FAST_SLACK_S`].
pub const AS_FAST_SHARE: f64 = 0.10;

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
                    "{} (USD {}/month, {} RAM) with {}: peak {} of {}, {} free (at least {:.0}% kept free), p95 to report ready {} ({}); modelled runtime {} (declared, included in the peak)",
                    p.name,
                    p.usd_per_month,
                    mb(p.ram_bytes),
                    b.label(),
                    mb(b.peak_bytes()),
                    mb(p.ram_bytes),
                    mb(p.ram_bytes - b.peak_bytes()),
                    headroom * 100.0,
                    secs_ms(b.weighted_p95_s()),
                    b.timing.phrase(),
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

/// The configuration a finished run belongs to: (profile, workers).
/// The worker count is the one run.json recorded; a run.json of an older
/// oomlab (without `shape`) falls back to its profile file.
fn config_of(run: &FinishedRun) -> (String, Option<usize>) {
    let r = &run.report;
    if r.shape.target == crate::report::TargetKind::App {
        return (r.profile.name.clone(), None);
    }
    let workers = r.shape.workers.map(|w| w as usize).unwrap_or_else(|| {
        crate::profile_settings::flatten_profile(&r.profile.path)
            .and_then(|m| m.get("workers").and_then(|w| w.parse().ok()))
            .unwrap_or(1)
    });
    (r.profile.name.clone(), Some(workers))
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
        jobs_lost: r.load.jobs_lost,
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
    let mut by: BTreeMap<(Option<u64>, String, Option<usize>), Config> = BTreeMap::new();
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
                timing: Timing::of_run(run),
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
