//! The "Memory trend" section of `report.md`.

use std::fmt::Write as _;

use super::{EndLevel, SeriesTrend, slope_text};
use crate::report::RunReport;
use crate::table::{Align, Table};
use crate::trend::MIN_JOBS;
use crate::units::mb;

/// The section: the settle step, then the trend and its verdict (or why
/// there is none). Empty for a run with neither.
pub fn markdown(r: &RunReport) -> String {
    let mut o = String::new();
    if r.trend.is_none() && r.settle.is_none() {
        // Fewer jobs: no section at all (a trend was never in reach).
        if r.load.jobs_completed >= MIN_JOBS as u64 {
            let _ = writeln!(
                o,
                "\n## Memory trend\n\nNo trend: {} jobs completed, but not {MIN_JOBS} of one server start with a sample after their report (a restart splits the series).",
                r.load.jobs_completed
            );
        }
        return o;
    }
    let _ = writeln!(o, "\n## Memory trend\n");
    if let Some(t) = &r.trend {
        let _ = writeln!(o, "**Leak verdict:** {}\n", t.summary);
        let _ = writeln!(
            o,
            "Each job cycle is read at {}; the first {} of {} cycles are a warm-up, left out of the fit (Theil-Sen, 95% interval).\n",
            t.cycle_point, t.warmup_jobs, t.jobs
        );
        let mut table = Table::new(&[
            ("figure", Align::Text),
            ("verdict", Align::Text),
            ("slope per job", Align::Text),
            ("slope per hour", Align::Text),
            ("before the load", Align::Figure),
            ("end", Align::Figure),
            ("first / last cycle", Align::Figure),
        ]);
        table.row(row("anonymous RSS", &t.rss));
        if let Some(a) = &t.allocated {
            table.row(row("jemalloc allocated", a));
        }
        o.push_str(&table.markdown());
    }
    if let Some(s) = &r.settle {
        let _ = writeln!(
            o,
            "\nSettle step ({:.1} s idle after the load, {:.1} to {:.1} s): RSS {} before, {} after (anonymous {} before, {} after); jemalloc allocated {} before, {} after.",
            s.ended_at_s - s.started_at_s,
            s.started_at_s,
            s.ended_at_s,
            mb(s.rss_before_bytes),
            mb(s.rss_after_bytes),
            mb(s.rss_anon_before_bytes),
            mb(s.rss_anon_after_bytes),
            crate::units::opt_mb(s.allocated_before_bytes),
            crate::units::opt_mb(s.allocated_after_bytes),
        );
    }
    o
}

fn row(name: &str, s: &SeriesTrend) -> Vec<String> {
    let end = match s.end_from {
        EndLevel::Settle => "after settle",
        EndLevel::LastCycles => "last cycles",
    };
    let mut verdict = s.verdict.as_str().to_string();
    if let Some(j) = s.jobs_to_limit {
        verdict.push_str(&format!(": limit in ~{j:.0} jobs"));
        if let Some(h) = s.hours_to_limit {
            verdict.push_str(&format!(" / {}", super::hours_text(h)));
        }
    }
    vec![
        name.to_string(),
        verdict,
        slope_text(&s.slope_per_job, "job"),
        s.slope_per_hour
            .as_ref()
            .map_or_else(|| "n/a".into(), |h| slope_text(h, "h")),
        mb(s.reference_bytes),
        format!("{} ({end})", mb(s.end_bytes)),
        format!(
            "{} / {}",
            s.points
                .first()
                .map_or_else(|| "n/a".into(), |p| mb(p.bytes)),
            s.points
                .last()
                .map_or_else(|| "n/a".into(), |p| mb(p.bytes)),
        ),
    ]
}
