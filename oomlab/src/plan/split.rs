//! `plan --split`: the web + worker configuration priced as a triple (web
//! service plan, background worker plan, Key Value plan), next to the
//! single-service answer.
//!
//! Measured with `oomlab run --split` cells (no memory limit, CPU not
//! limited: a split run has no CPU cgroup per service), one per profile x
//! worker count x scenario, the worker settings as the single-service
//! candidates. The ranking is pure: for each configuration that completed
//! every job of every scenario, the cheapest web plan, worker plan and Key
//! Value plan whose RAM minus the headroom holds the web service's, the
//! worker's and Redis's (`used_memory`) peaks; the cheapest total wins, at one
//! total the lowest worker peak.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plans_file::{HostingPlan, PlansFile};
use crate::error::ConfigError;
use crate::finished::FinishedRun;
use crate::report::services::Service;
use crate::table::{Align, Table};
use crate::units::mb;

/// The plans of the split configuration, checked, cheapest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitPlans {
    /// Background worker plans (`[[worker]]`).
    pub workers: Vec<HostingPlan>,
    /// Key Value (Redis) plans (`[[key_value]]`); their `cpu` is 0 (not
    /// sold by CPU).
    pub key_value: Vec<HostingPlan>,
}

/// The `[[worker]]` and `[[key_value]]` plans of `file`; an error naming the
/// key when either is missing or wrong.
pub fn split_plans(path: &Path, file: &PlansFile) -> Result<SplitPlans, ConfigError> {
    if file.worker.is_empty() || file.key_value.is_empty() {
        return Err(ConfigError::invalid(
            path,
            if file.worker.is_empty() {
                "worker"
            } else {
                "key_value"
            },
            "plan --split prices a background worker and a Key Value instance, and this file has none",
            "add [[worker]] and [[key_value]] tables (see plans/render.toml), or leave out --split",
        ));
    }
    let workers = super::plans_file::check_plans(path, "worker", &file.worker)?;
    let key_value = super::plans_file::check_key_value(path, &file.key_value)?;
    Ok(SplitPlans { workers, key_value })
}

/// One scenario of a split configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitMeasurement {
    /// The scenario.
    pub scenario: String,
    /// The web service's peak (RSS, VmHWM), bytes.
    pub web_peak_bytes: u64,
    /// The worker's peak (RSS, VmHWM), bytes.
    pub worker_peak_bytes: u64,
    /// Redis's `used_memory` peak, bytes.
    pub redis_peak_bytes: Option<u64>,
    /// Every acknowledged job completed and the run finished.
    pub all_jobs_completed: bool,
    /// The run's verdict line.
    pub summary: String,
    /// The run's folder.
    pub dir: PathBuf,
}

/// A profile at a worker count, split, measured on every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitConfig {
    /// The profile.
    pub profile: String,
    /// The worker's background jobs at once.
    pub workers: Option<u32>,
    /// Per scenario.
    pub measurements: Vec<SplitMeasurement>,
}

impl SplitConfig {
    /// `original, 2 workers`.
    pub fn label(&self) -> String {
        format!(
            "{}{}",
            self.profile,
            self.workers.map_or_else(String::new, |w| format!(
                ", {w} worker{}",
                if w == 1 { "" } else { "s" }
            ))
        )
    }

    fn max(&self, f: impl Fn(&SplitMeasurement) -> u64) -> u64 {
        self.measurements.iter().map(f).max().unwrap_or(0)
    }
}

/// The split runs grouped by profile and worker count, in order of first
/// appearance.
pub fn split_configs(runs: &[FinishedRun]) -> Vec<SplitConfig> {
    let mut out: Vec<SplitConfig> = Vec::new();
    for r in runs {
        let Some(split) = &r.report.split else {
            continue;
        };
        let peak = |s: Service| {
            r.report
                .services
                .iter()
                .find(|v| v.service == s)
                .map_or(0, |v| v.peak_rss_bytes.max(v.vmhwm_bytes))
        };
        let m = SplitMeasurement {
            scenario: r.report.scenario.name.clone(),
            web_peak_bytes: peak(Service::Web),
            worker_peak_bytes: peak(Service::Worker),
            redis_peak_bytes: split.redis.peak_used_memory_bytes,
            all_jobs_completed: split.jobs.acknowledged > 0
                && split.jobs.completed == split.jobs.acknowledged
                && r.report.verdict.outcome == crate::report::Outcome::WithinLimit,
            summary: r.report.verdict.summary.clone(),
            dir: r.dir.clone(),
        };
        let (profile, workers) = (r.report.profile.name.clone(), r.report.shape.workers);
        match out
            .iter_mut()
            .find(|c| c.profile == profile && c.workers == workers)
        {
            Some(c) => c.measurements.push(m),
            None => out.push(SplitConfig {
                profile,
                workers,
                measurements: vec![m],
            }),
        }
    }
    out
}

/// A plan chosen for one part of the triple.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Chosen {
    /// The plan's name.
    pub plan: String,
    /// Its RAM, bytes.
    pub ram_bytes: u64,
    /// USD per month.
    pub usd_per_month: f64,
    /// The peak it must hold, bytes.
    pub peak_bytes: u64,
}

/// The cheapest triple that holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitRecommendation {
    /// The configuration.
    pub config: String,
    /// The web service's plan.
    pub web: Chosen,
    /// The background worker's plan.
    pub worker: Chosen,
    /// The Key Value plan.
    pub key_value: Chosen,
    /// The three prices summed, USD per month.
    pub usd_per_month: f64,
    /// One line.
    pub summary: String,
}

/// The split part of `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitAnswer {
    /// Every split configuration measured.
    pub configs: Vec<SplitConfig>,
    /// The cheapest triple that holds; `None` when none does.
    pub recommendation: Option<SplitRecommendation>,
    /// How it was measured.
    pub notes: Vec<String>,
}

/// The cheapest plan of `plans` (cheapest first) whose RAM minus the
/// headroom holds `peak`.
fn cheapest(plans: &[HostingPlan], peak: u64, headroom: f64) -> Option<Chosen> {
    plans
        .iter()
        .find(|p| (p.ram_bytes as f64 * (1.0 - headroom)) >= peak as f64)
        .map(|p| Chosen {
            plan: p.name.clone(),
            ram_bytes: p.ram_bytes,
            usd_per_month: p.usd_per_month,
            peak_bytes: peak,
        })
}

/// The cheapest (web, worker, Key Value) triple that holds every scenario
/// of a configuration that completed all of them with `headroom`.
pub fn recommend_split(
    configs: &[SplitConfig],
    web_plans: &[HostingPlan],
    plans: &SplitPlans,
    headroom: f64,
    scenarios: usize,
) -> Option<SplitRecommendation> {
    let mut best: Option<(SplitRecommendation, u64)> = None;
    for c in configs {
        if c.measurements.len() < scenarios || c.measurements.iter().any(|m| !m.all_jobs_completed)
        {
            continue;
        }
        let redis = c.max(|m| m.redis_peak_bytes.unwrap_or(0));
        let (Some(web), Some(worker), Some(key_value)) = (
            cheapest(web_plans, c.max(|m| m.web_peak_bytes), headroom),
            cheapest(&plans.workers, c.max(|m| m.worker_peak_bytes), headroom),
            cheapest(&plans.key_value, redis, headroom),
        ) else {
            continue;
        };
        let total = web.usd_per_month + worker.usd_per_month + key_value.usd_per_month;
        let summary = format!(
            "web {} (${}) + worker {} (${}) + Key Value {} (${}) = ${total}/month with {}: \
             peaks web {}, worker {}, Redis {}",
            web.plan,
            web.usd_per_month,
            worker.plan,
            worker.usd_per_month,
            key_value.plan,
            key_value.usd_per_month,
            c.label(),
            mb(web.peak_bytes),
            mb(worker.peak_bytes),
            mb(redis)
        );
        let worker_peak = worker.peak_bytes;
        let rec = SplitRecommendation {
            config: c.label(),
            web,
            worker,
            key_value,
            usd_per_month: total,
            summary,
        };
        let better = best.as_ref().is_none_or(|(b, peak)| {
            total < b.usd_per_month || (total == b.usd_per_month && worker_peak < *peak)
        });
        if better {
            best = Some((rec, worker_peak));
        }
    }
    best.map(|(r, _)| r)
}

/// The `plan.md` section of the split answer, after the single-service one.
pub fn markdown(a: &SplitAnswer, single: Option<&str>, headroom: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## Split: web service + background worker + Key Value\n"
    );
    let mut t = Table::new(&[
        ("answer", Align::Text),
        ("plans", Align::Text),
        ("USD/month", Align::Figure),
    ]);
    t.row(vec![
        "single service".into(),
        single.unwrap_or("no plan holds").to_string(),
        String::new(),
    ]);
    t.row(vec![
        "split".into(),
        a.recommendation
            .as_ref()
            .map_or("no triple holds".to_string(), |r| r.summary.clone()),
        a.recommendation
            .as_ref()
            .map_or_else(|| "-".to_string(), |r| format!("{}", r.usd_per_month)),
    ]);
    s.push_str(&t.markdown());
    s.push('\n');
    let _ = writeln!(
        s,
        "Each part must hold its own peak with {:.0}% of its RAM free.\n",
        headroom * 100.0
    );
    let mut t = Table::new(&[
        ("configuration", Align::Text),
        ("scenario", Align::Text),
        ("web peak", Align::Figure),
        ("worker peak", Align::Figure),
        ("Redis used_memory", Align::Figure),
        ("run", Align::Text),
    ]);
    for c in &a.configs {
        for m in &c.measurements {
            t.row(vec![
                c.label(),
                m.scenario.clone(),
                mb(m.web_peak_bytes),
                mb(m.worker_peak_bytes),
                m.redis_peak_bytes.map_or_else(|| "n/a".into(), mb),
                if m.all_jobs_completed {
                    "all jobs completed".to_string()
                } else {
                    format!("incomplete: {}", m.summary)
                },
            ]);
        }
    }
    s.push_str(&t.markdown());
    for n in &a.notes {
        let _ = writeln!(s, "\n- {n}");
    }
    s
}
