//! `plan.md`, and [`terminal`]: what `oomlab plan` prints, the same answer
//! in at most [`table::WIDTH`] columns.

use std::fmt::Write as _;

use super::PlanReport;
use crate::table::{self, Align, Table};
use crate::units::{mb, opt_mb, secs_ms};

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
    let mut t = Table::new(&[
        ("plan", Align::Text),
        ("RAM", Align::Figure),
        ("CPU", Align::Figure),
        ("USD/month", Align::Figure),
        ("must stay under", Align::Figure),
        ("verdict", Align::Text),
        ("configurations that hold", Align::Figure),
    ]);
    for v in &r.verdicts {
        let verdict = match (&v.best, v.lowest_peak_bytes) {
            (Some(b), _) => format!("holds with {b}"),
            (None, Some(low)) => format!("does not hold: the lowest peak is {}", mb(low)),
            (None, None) => "not known: no configuration completed".into(),
        };
        t.row(vec![
            format!(
                "{}{}",
                v.plan.name,
                v.plan
                    .note
                    .as_ref()
                    .map_or_else(String::new, |n| format!(" ({n})"))
            ),
            mb(v.plan.ram_bytes),
            v.plan.cpu.to_string(),
            v.plan.usd_per_month.to_string(),
            mb(v.ceiling_bytes),
            verdict,
            if v.holding.is_empty() {
                "-".to_string()
            } else {
                v.holding.len().to_string()
            },
        ]);
    }
    s.push_str(&t.markdown());
    let _ = writeln!(
        s,
        "\n## Measurements (no memory limit; CPU share as in the configuration, none: not limited)\n"
    );
    let mut t = Table::new(&[
        ("configuration", Align::Text),
        ("scenario", Align::Text),
        ("peak", Align::Figure),
        ("idle after start", Align::Figure),
        ("p50 to report ready", Align::Figure),
        ("p95 to report ready", Align::Figure),
        ("times", Align::Text),
        ("reports per minute", Align::Figure),
        ("modelled runtime (declared, included)", Align::Figure),
        ("jobs lost", Align::Figure),
        ("run", Align::Text),
    ]);
    for c in &r.configs {
        for m in &c.measurements {
            t.row(vec![
                c.label(),
                m.scenario.clone(),
                mb(m.peak_bytes),
                m.idle_rss_bytes.map_or_else(|| "n/a".into(), mb),
                secs_ms(m.time_to_ready_p50_s),
                secs_ms(m.time_to_ready_p95_s),
                c.timing.word().to_string(),
                m.reports_per_minute
                    .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min")),
                c.modelled_runtime_bytes.map_or_else(|| "n/a".into(), mb),
                m.jobs_lost.to_string(),
                if m.all_jobs_completed {
                    "all jobs completed".to_string()
                } else {
                    format!("incomplete: {}", m.summary)
                },
            ]);
        }
    }
    s.push_str(&t.markdown());
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

/// What `oomlab plan` prints: the recommendation, every plan's verdict,
/// each configuration's figures (peak, idle, p95 to report ready, jobs
/// lost), the split answer and the notes, every line at most
/// [`table::WIDTH`] characters; `plan.md` has every column.
pub fn terminal(r: &PlanReport) -> String {
    let w = table::WIDTH;
    let scen: Vec<String> = r
        .scenarios
        .iter()
        .map(|(n, wt)| format!("{n} (weight {wt})"))
        .collect();
    let mut s = table::wrap(&format!("oomlab plan: {}", scen.join(", ")), w, "  ");
    s.push_str(&table::wrap(
        &format!(
            "Plans: {} figures taken {}. Headroom: {:.0}% of RAM kept free.",
            r.provider,
            r.plans_taken,
            r.headroom * 100.0
        ),
        w,
        "  ",
    ));
    s.push('\n');
    s.push_str(&table::wrap(
        &match &r.recommendation {
            Some(rec) => format!("Recommendation: {}", rec.summary),
            None => format!(
                "No plan holds this load with {:.0}% headroom under any configuration tried.",
                r.headroom * 100.0
            ),
        },
        w,
        "  ",
    ));
    let mut plans = Table::new(&[
        ("plan", Align::Text),
        ("RAM", Align::Figure),
        ("CPU", Align::Figure),
        ("USD/mo", Align::Figure),
        ("ceiling", Align::Figure),
        ("hold", Align::Figure),
        ("verdict", Align::Text),
    ]);
    for v in &r.verdicts {
        plans.row(vec![
            v.plan.name.clone(),
            mb(v.plan.ram_bytes),
            v.plan.cpu.to_string(),
            v.plan.usd_per_month.to_string(),
            mb(v.ceiling_bytes),
            v.holding.len().to_string(),
            match (&v.best, v.lowest_peak_bytes) {
                (Some(b), _) => format!("holds with {b}"),
                (None, Some(low)) => format!("does not hold: lowest peak {}", mb(low)),
                (None, None) => "not known: no configuration completed".into(),
            },
        ]);
    }
    s.push('\n');
    s.push_str(&plans.render(w));
    let mut runs = Table::new(&[
        ("configuration", Align::Text),
        ("CPU", Align::Figure),
        ("scenario", Align::Text),
        ("peak", Align::Figure),
        ("p95 ready", Align::Figure),
        ("times", Align::Text),
        ("lost", Align::Figure),
        ("run", Align::Text),
    ]);
    for c in &r.configs {
        for m in &c.measurements {
            runs.row(vec![
                c.settings_label(),
                c.cpu_cell(),
                m.scenario.clone(),
                mb(m.peak_bytes),
                secs_ms(m.time_to_ready_p95_s),
                c.timing.word().to_string(),
                m.jobs_lost.to_string(),
                if m.all_jobs_completed {
                    "completed".to_string()
                } else {
                    run_cell(false, &m.summary)
                },
            ]);
        }
    }
    s.push('\n');
    s.push_str(&runs.render(w));
    if let Some(a) = &r.split {
        s.push('\n');
        s.push_str(&table::wrap(
            &format!(
                "Split (web + worker + Key Value): {}",
                a.recommendation
                    .as_ref()
                    .map_or("no triple holds", |rec| rec.summary.as_str())
            ),
            w,
            "  ",
        ));
        let mut t = Table::new(&[
            ("configuration", Align::Text),
            ("scenario", Align::Text),
            ("web peak", Align::Figure),
            ("worker peak", Align::Figure),
            ("Redis", Align::Figure),
            ("run", Align::Text),
        ]);
        for c in &a.configs {
            for m in &c.measurements {
                t.row(vec![
                    c.label(),
                    m.scenario.clone(),
                    mb(m.web_peak_bytes),
                    mb(m.worker_peak_bytes),
                    opt_mb(m.redis_peak_bytes),
                    run_cell(m.all_jobs_completed, &m.summary),
                ]);
            }
        }
        s.push_str(&t.render(w));
    }
    s.push_str("\nNotes:\n");
    for n in &r.notes {
        s.push_str(&table::wrap(&format!("- {n}"), w, "  "));
    }
    s
}

/// A run's cell: `all jobs completed`, or why not.
fn run_cell(all_jobs_completed: bool, summary: &str) -> String {
    if all_jobs_completed {
        "all jobs completed".to_string()
    } else {
        format!("incomplete: {summary}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::plans_file::HostingPlan;
    use super::super::rank::{Config, Measurement, PlanVerdict, Recommendation, Timing};
    use super::super::split::{SplitAnswer, SplitConfig, SplitMeasurement};
    use super::*;

    const LONG: &str = "a-profile-from-a-user-directory-whose-name-goes-on-and-on";

    fn measurement(scenario: &str, peak_mb: u64, complete: bool) -> Measurement {
        Measurement {
            scenario: scenario.into(),
            weight: 1.0,
            peak_bytes: peak_mb << 20,
            idle_rss_bytes: Some(80 << 20),
            time_to_ready_p50_s: Some(4.2),
            time_to_ready_p95_s: Some(123.456),
            reports_per_minute: Some(12.5),
            all_jobs_completed: complete,
            jobs_lost: u64::from(!complete),
            summary: if complete {
                "within the limit".into()
            } else {
                "the load failed: upload photo answered 404 on 3 of 3 tries, \
                 and the report of job 7 was never ready"
                    .into()
            },
            dir: "runs/x".into(),
        }
    }

    fn plan(name: &str, ram_mb: u64, cpu: f64, usd: f64) -> HostingPlan {
        HostingPlan {
            name: name.into(),
            ram_bytes: ram_mb << 20,
            cpu,
            usd_per_month: usd,
            note: Some("a note a buyer should read before choosing it".into()),
        }
    }

    /// A plan report with long names everywhere a user's files put them.
    fn report() -> PlanReport {
        let configs = vec![
            Config {
                profile: LONG.into(),
                workers: Some(12),
                cpu: Some(0.25),
                modelled_runtime_bytes: Some(150 << 20),
                timing: Timing::AppLike,
                measurements: vec![
                    measurement("a-scenario-with-a-long-name-too", 1900, true),
                    measurement("burst", 2100, false),
                ],
            },
            Config {
                profile: "lean".into(),
                workers: Some(1),
                cpu: None,
                modelled_runtime_bytes: None,
                timing: Timing::Server,
                measurements: vec![measurement("burst", 48, true)],
            },
        ];
        let verdicts = vec![
            PlanVerdict {
                plan: plan("Free", 512, 0.1, 0.0),
                ceiling_bytes: 460 << 20,
                holding: vec!["lean, 1 worker".into()],
                best: Some("lean, 1 worker".into()),
                lowest_peak_bytes: None,
            },
            PlanVerdict {
                plan: plan(
                    "Pro Ultra Max with a long marketing name",
                    16384,
                    4.0,
                    1250.5,
                ),
                ceiling_bytes: 14745 << 20,
                holding: vec![],
                best: None,
                lowest_peak_bytes: Some(2100 << 20),
            },
        ];
        PlanReport {
            schema_version: crate::plan::SCHEMA_VERSION,
            oomlab_version: "0".into(),
            created_at: "2026-12-07T00:00:00Z".into(),
            plans_file: "plans/render.toml".into(),
            provider: "Render".into(),
            plans_taken: "2026-11-28".into(),
            headroom: 0.1,
            concurrency: Some(4),
            scenarios: vec![
                ("a-scenario-with-a-long-name-too".into(), 2.0),
                ("burst".into(), 1.0),
            ],
            configs,
            verdicts,
            recommendation: Some(Recommendation {
                plan: "Free".into(),
                usd_per_month: 0.0,
                config: "lean, 1 worker".into(),
                peak_bytes: 48 << 20,
                headroom_bytes: 412 << 20,
                summary: "Free (USD 0/month, 512.0 MiB RAM) with lean, 1 worker: peak 48.0 MiB, \
                          412.0 MiB headroom, p95 to report ready 123.456 s"
                    .into(),
            }),
            wall_time_s: Some(61.0),
            notes: vec![format!(
                "memory was measured once per CPU share x profile x workers x scenario {}",
                "with no memory limit ".repeat(6)
            )],
            split: Some(SplitAnswer {
                configs: vec![SplitConfig {
                    profile: LONG.into(),
                    workers: Some(2),
                    measurements: vec![SplitMeasurement {
                        scenario: "burst".into(),
                        web_peak_bytes: 95 << 20,
                        worker_peak_bytes: 1900 << 20,
                        redis_peak_bytes: Some(3 << 20),
                        all_jobs_completed: true,
                        summary: "within the limit".into(),
                        dir: "runs/y".into(),
                    }],
                }],
                recommendation: None,
                notes: vec![],
            }),
        }
    }

    #[test]
    fn the_terminal_answer_fits_100_columns_with_long_names() {
        let r = report();
        let out = terminal(&r);
        assert!(table::max_line_width(&out) <= table::WIDTH, "{out}");
        assert!(
            out.contains("Recommendation: Free (USD 0/month, 512.0 MiB RAM) with lean, 1 worker:"),
            "{out}"
        );
        assert!(out.contains("holds with lean, 1 worker"), "{out}");
        assert!(out.contains("2100.0 MiB"), "{out}");
        assert!(
            out.contains("Split (web + worker + Key Value): no triple holds"),
            "{out}"
        );
        // The Markdown is as wide as its cells: the terminal is not.
        assert!(table::max_line_width(&markdown(&r)) > table::WIDTH);
    }

    #[test]
    fn the_plan_json_matches_the_checked_in_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/plan.schema.json")).unwrap();
        let v = jsonschema::validator_for(&schema).expect("the schema compiles");
        let mut r = report();
        let doc = serde_json::to_value(&r).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        r.split = None;
        r.recommendation = None;
        assert!(v.is_valid(&serde_json::to_value(&r).unwrap()));
    }
}
