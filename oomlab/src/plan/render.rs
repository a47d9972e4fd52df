//! `plan.md`.

use std::fmt::Write as _;

use super::PlanReport;
use crate::units::{mb, secs_ms};

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
    s.push_str("| configuration | scenario | peak | idle after start | p50 to report ready | p95 to report ready | reports per minute | modelled runtime (declared, included) | jobs lost | run |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for c in &r.configs {
        for m in &c.measurements {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                c.label(),
                m.scenario,
                mb(m.peak_bytes),
                m.idle_rss_bytes.map_or_else(|| "n/a".into(), mb),
                secs_ms(m.time_to_ready_p50_s),
                secs_ms(m.time_to_ready_p95_s),
                m.reports_per_minute
                    .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min")),
                c.modelled_runtime_bytes.map_or_else(|| "n/a".into(), mb),
                m.jobs_lost,
                if m.all_jobs_completed {
                    "all jobs completed".to_string()
                } else {
                    format!("incomplete: {}", m.summary.replace('|', "\\|"))
                }
            );
        }
    }
    if let Some(a) = &r.split {
        let single = r.recommendation.as_ref().map(|rec| rec.summary.as_str());
        s.push_str(&super::split::markdown(a, single, r.headroom));
    }
    let _ = writeln!(s, "\n## Notes\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}
