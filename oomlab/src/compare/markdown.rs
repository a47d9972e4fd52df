//! `compare.md`: the table, the runs behind it, the settings that differ.

use std::fmt::Write;

use super::{CompareReport, ProfileRow, RowVerdict};
use crate::report::Outcome;
use crate::table::{Align, Table};
use crate::units::{mb, opt_mb, secs_ms};

/// The verdict cell, e.g. `held, 80.2 MiB headroom` or `killed on
/// two-reports at 14.2 s (531.0 MiB)`.
pub fn verdict_cell(v: &RowVerdict) -> String {
    match v {
        RowVerdict::Held { headroom_bytes } => format!("held, {} headroom", mb(*headroom_bytes)),
        RowVerdict::Killed {
            killed,
            scenario,
            at_s,
            bytes,
            ..
        } => {
            // With `--enforce off` nothing is killed: the limit was crossed.
            let verb = if *killed {
                Outcome::Killed.label()
            } else {
                Outcome::Crossed.label()
            };
            format!("**{verb}** on {scenario} at {at_s:.1} s ({})", mb(*bytes))
        }
        RowVerdict::Incomplete { .. } => "not known: a run did not finish".into(),
    }
}

/// The overall peak; `>=` when a run was killed, as the kill stopped the
/// climb (`oomlab plan` measures without a limit to get the whole figure).
pub fn peak_cell(r: &ProfileRow) -> String {
    let at_least = if matches!(r.verdict, RowVerdict::Killed { .. }) {
        ">= "
    } else {
        ""
    };
    format!("{at_least}{} ({})", mb(r.peak_bytes), r.peak_scenario)
}

fn row_cells(r: &ProfileRow) -> Vec<String> {
    vec![
        format!("**{}**", r.profile),
        opt_mb(r.idle_rss_bytes),
        opt_mb(r.one_job_peak_bytes),
        r.two_jobs_peak_bytes
            .map_or_else(|| "never 2 at once".into(), mb),
        peak_cell(r),
        verdict_cell(&r.verdict),
        secs_ms(r.time_to_ready_p50_s),
        secs_ms(r.time_to_ready_p95_s),
        r.reports_per_minute
            .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min")),
        opt_mb(r.modelled_runtime_bytes),
        if r.settings_delta.is_empty() {
            "-".into()
        } else {
            r.settings_delta.clone()
        },
    ]
}

/// Widest line of [`render_terminal`].
pub const TERMINAL_WIDTH: usize = crate::table::WIDTH;

/// The table for a terminal: the figures that decide (idle, the peaks with
/// one and two jobs in flight, the overall peak, p95 to report ready, the
/// verdict), aligned, every line at most [`TERMINAL_WIDTH`] characters (a
/// long profile name or verdict is cut with `…`, the figures never); the
/// whole table is in compare.md.
pub fn render_terminal(rep: &CompareReport) -> String {
    let verdict_head = format!("verdict at {}", mb(rep.limit_bytes));
    let mut t = Table::new(&[
        ("profile", Align::Text),
        ("idle", Align::Figure),
        ("1 job", Align::Figure),
        ("2 jobs", Align::Figure),
        ("peak", Align::Figure),
        ("p95 ready", Align::Figure),
        (verdict_head.as_str(), Align::Text),
    ]);
    for r in &rep.rows {
        let at_least = if matches!(r.verdict, RowVerdict::Killed { .. }) {
            ">="
        } else {
            ""
        };
        // The figure at a kill is in the peak column already.
        let verdict = match &r.verdict {
            RowVerdict::Killed {
                killed,
                scenario,
                at_s,
                ..
            } => format!(
                "{} on {scenario} at {at_s:.1} s",
                if *killed {
                    Outcome::Killed.label()
                } else {
                    Outcome::Crossed.label()
                }
            ),
            v => verdict_cell(v).replace("**", ""),
        };
        t.row(vec![
            r.profile.clone(),
            opt_mb(r.idle_rss_bytes),
            opt_mb(r.one_job_peak_bytes),
            r.two_jobs_peak_bytes.map_or_else(|| "-".into(), mb),
            format!("{at_least}{}", mb(r.peak_bytes)),
            secs_ms(r.time_to_ready_p95_s),
            verdict,
        ]);
    }
    t.render(TERMINAL_WIDTH)
}

/// The main table alone (compare.md's table).
pub fn render_table(rep: &CompareReport) -> String {
    let limit = memstats::format_mb(rep.limit_bytes);
    let head = [
        "profile".to_string(),
        "idle after start".into(),
        "peak, 1 job".into(),
        "peak, 2 jobs at once".into(),
        "peak overall (scenario)".into(),
        format!("{limit} MiB verdict"),
        "p50 to report ready".into(),
        "p95 to report ready".into(),
        "reports per minute".into(),
        "modelled runtime (declared, included)".into(),
        "settings that differ".into(),
    ];
    // Jobs lost to a death (a worker killed, its job never finished): a
    // column when any profile lost one.
    let lost = rep.rows.iter().any(|r| r.jobs_lost > 0);
    let mut head: Vec<(String, Align)> = head
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h,
                if (1..=4).contains(&i) || (6..=9).contains(&i) {
                    Align::Figure
                } else {
                    Align::Text
                },
            )
        })
        .collect();
    if lost {
        head.insert(6, ("jobs lost".into(), Align::Figure));
    }
    let mut t = owned_table(&head);
    for r in &rep.rows {
        let mut cells = row_cells(r);
        if lost {
            cells.insert(6, format!("{} of {}", r.jobs_lost, r.jobs_acknowledged));
        }
        t.row(cells);
    }
    t.markdown()
}

/// A [`Table`] with headers made at run time.
fn owned_table(head: &[(String, Align)]) -> Table {
    let cols: Vec<(&str, Align)> = head.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    Table::new(&cols)
}

/// The whole `compare.md`.
pub fn render(rep: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# oomlab compare: {} profile(s) x {} scenario(s)\n",
        rep.rows.len(),
        rep.scenarios.len()
    );
    let _ = writeln!(
        s,
        "Scenarios: {}. Limit: {} MiB. Built {}{}.\n",
        rep.scenarios.join(", "),
        memstats::format_mb(rep.limit_bytes),
        rep.created_at,
        rep.wall_time_s.map_or_else(
            || " from finished runs".to_string(),
            |w| format!(", the matrix took {w:.0} s")
        )
    );
    s.push_str(&render_table(rep));
    s.push_str(
        "\nIdle: RSS at the first sample after the server was ready. Peak, 1 job / 2 jobs: highest RSS \
         sampled while that many jobs were in flight (two jobs never run at once with one worker). Peak \
         overall: the highest of sampled RSS, VmHWM and the figure at a kill, over every scenario (`>=` when a run \
         was killed: the kill stopped the climb; `oomlab plan` measures without a limit). Times \
         and reports per minute are over every completed job of the profile (a killed run's jobs do not \
         complete). The modelled runtime is a declared input, not a measurement; it is part of every \
         measured figure.\n",
    );

    let _ = writeln!(s, "\n## Runs\n");
    let mut t = Table::new(&[
        ("profile", Align::Text),
        ("scenario", Align::Text),
        ("verdict", Align::Text),
        ("peak", Align::Figure),
        ("idle", Align::Figure),
        ("p50", Align::Figure),
        ("p95", Align::Figure),
        ("reports per minute", Align::Figure),
        ("run folder", Align::Text),
    ]);
    for c in &rep.runs {
        t.row(vec![
            c.profile.clone(),
            c.scenario.clone(),
            c.summary.clone(),
            mb(c.peak_bytes),
            opt_mb(c.idle_rss_bytes),
            secs_ms(c.time_to_ready_p50_s),
            secs_ms(c.time_to_ready_p95_s),
            c.reports_per_minute
                .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min")),
            format!("`{}`", c.dir.display()),
        ]);
    }
    s.push_str(&t.markdown());

    let trends: Vec<_> = rep
        .runs
        .iter()
        .filter_map(|c| Some((c, c.trend.as_ref()?)))
        .collect();
    if !trends.is_empty() {
        let _ = writeln!(
            s,
            "\n## Memory trend (runs with at least 5 completed jobs)\n"
        );
        let mut t = Table::new(&[
            ("profile", Align::Text),
            ("scenario", Align::Text),
            ("leak verdict", Align::Text),
            ("RSS slope per job", Align::Figure),
            ("RSS slope per hour", Align::Figure),
        ]);
        for (c, tr) in trends {
            t.row(vec![
                c.profile.clone(),
                c.scenario.clone(),
                tr.summary.clone(),
                format!("{:+.2} MiB", tr.slope_per_job_bytes / 1048576.0),
                tr.slope_per_hour_bytes
                    .map_or_else(|| "n/a".into(), |h| format!("{:+.1} MiB", h / 1048576.0)),
            ]);
        }
        s.push_str(&t.markdown());
    }

    let keys: Vec<&String> = {
        let mut k: Vec<&String> = rep
            .settings_that_differ
            .values()
            .flat_map(|m| m.keys())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    if !keys.is_empty() {
        let _ = writeln!(s, "\n## Settings that differ (from the profile files)\n");
        let mut head = vec![("profile".to_string(), Align::Text)];
        head.extend(keys.iter().map(|k| (format!("`{k}`"), Align::Text)));
        let mut t = owned_table(&head);
        for r in &rep.rows {
            let Some(m) = rep.settings_that_differ.get(&r.profile) else {
                continue;
            };
            let mut cells = vec![r.profile.clone()];
            cells.extend(
                keys.iter()
                    .map(|k| m.get(*k).cloned().unwrap_or_else(|| "?".into())),
            );
            t.row(cells);
        }
        s.push_str(&t.markdown());
    }
    let _ = writeln!(s, "\n## Notes\n");
    for n in &rep.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}
