//! `compare.html`: one self-contained page with the table and two inline SVG
//! charts (peak memory per profile and scenario against the limit; time to
//! report ready per profile). The SVG is written by hand: bars and a line
//! need no plotting crate, and the output stays byte-stable for tests.

use std::fmt::Write;

use super::{CompareReport, ProfileRow, RowVerdict, markdown};
use crate::report::Outcome;
use crate::units::mb;

const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Axis ticks for values up to `max`: a step of 1, 2 or 5 times a power of
/// ten, how many steps reach `max` (3 to 7 of them), and the decimals that
/// tell the ticks apart (so 0 to 2.5 s reads 0.0, 0.5, ... 2.5 s, never
/// "2 s, 2 s, 1 s").
pub fn nice_ticks(max: f64) -> (f64, u32, usize) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let ticks = (max / step).ceil().max(1.0) as u32;
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    (step, ticks, decimals)
}

/// One bar of a chart: its value (`None`: no figure) and, for a run that
/// went over the limit, the word for it (`killed`, `crossed`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// The figure, in the chart's unit.
    pub value: Option<f64>,
    /// `Some("killed")` for a run killed at the limit: the bar is outlined
    /// in red and labelled, and a missing figure is labelled rather than
    /// left as a gap that reads as zero.
    pub over_limit: Option<&'static str>,
}

/// The word for a run that went over the limit, `None` for any other.
fn over_limit_word(o: Outcome) -> Option<&'static str> {
    match o {
        Outcome::Killed => Some("killed"),
        Outcome::Crossed => Some("crossed"),
        _ => None,
    }
}

const KILLED_RED: &str = "#c00";

/// Grouped bars: one group per label, one bar per series. A bar without a
/// figure is labelled `n/a` (or `killed`) at the axis, never left as a gap
/// that reads as zero. An optional horizontal line marks a limit. The
/// legend sits under the plot, never over it.
fn bars(
    title: &str,
    unit: &str,
    labels: &[String],
    series: &[(String, Vec<Bar>)],
    line: Option<(f64, String)>,
) -> String {
    let (w, h, left, bottom, top) = (900.0, 360.0, 70.0, 60.0, 40.0);
    let highest = series
        .iter()
        .flat_map(|(_, v)| v.iter().filter_map(|b| b.value))
        .chain(line.as_ref().map(|l| l.0))
        .fold(0.0f64, f64::max);
    let (step, ticks, decimals) = nice_ticks(highest * 1.05);
    let max = step * ticks as f64;
    let plot_h = h - bottom - top;
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let group_w = (w - left - 20.0) / labels.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    let mut s = String::new();
    // Scales down to the page's width (no sideways scrolling), never up.
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<title>{}</title><text x="{left}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title),
        esc(title)
    );
    for i in 0..=ticks {
        let v = step * i as f64;
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v:.decimals$} {unit}</text>"##,
            w - 20.0,
            left - 4.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    for (g, label) in labels.iter().enumerate() {
        let gx = left + g as f64 * group_w + group_w * 0.1;
        for (k, (name, vals)) in series.iter().enumerate() {
            let Some(bar) = vals.get(g) else { continue };
            let x = gx + k as f64 * bar_w;
            let mid = x + (bar_w - 1.0) / 2.0;
            let what = bar
                .over_limit
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            match bar.value {
                Some(v) => {
                    let outline = if bar.over_limit.is_some() {
                        format!(r#" stroke="{KILLED_RED}" stroke-width="2""#)
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        s,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"{outline}><title>{}: {} on {}: {v:.1} {unit}{}</title></rect>"#,
                        y(v),
                        bar_w.max(1.0) - 1.0,
                        (top + plot_h - y(v)).max(0.0),
                        PALETTE[k % PALETTE.len()],
                        esc(title),
                        esc(label),
                        esc(name),
                        esc(&what)
                    );
                    if let Some(word) = bar.over_limit {
                        let _ = write!(
                            s,
                            r#"<text x="{mid:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{KILLED_RED}">{word}</text>"#,
                            (y(v) - 4.0).max(top - 2.0)
                        );
                    }
                }
                None => {
                    let (word, colour) = match bar.over_limit {
                        Some(w) => (w, KILLED_RED),
                        None => ("n/a", "#888"),
                    };
                    let _ = write!(
                        s,
                        r#"<text x="{mid:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{colour}">{word}<title>{}: {} on {}: no figure{}</title></text>"#,
                        top + plot_h - 4.0,
                        esc(title),
                        esc(label),
                        esc(name),
                        esc(&what)
                    );
                }
            }
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            h - bottom + 16.0,
            esc(label)
        );
    }
    if let Some((v, name)) = line {
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#c00" stroke-width="2" stroke-dasharray="6 3"/><text x="{}" y="{:.1}" fill="#c00" text-anchor="end">{}</text>"##,
            w - 20.0,
            w - 22.0,
            y(v) - 4.0,
            esc(&name),
            y = y(v),
        );
    }
    for (k, (name, _)) in series.iter().enumerate() {
        let x = left + k as f64 * 170.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            h - 22.0,
            PALETTE[k % PALETTE.len()],
            x + 14.0,
            h - 13.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Peak memory per profile (groups) and scenario (bars), MiB, with the limit.
pub fn memory_chart(rep: &CompareReport) -> String {
    let labels: Vec<String> = rep.rows.iter().map(|r| r.profile.clone()).collect();
    let series: Vec<(String, Vec<Bar>)> = rep
        .scenarios
        .iter()
        .map(|s| {
            let vals = labels
                .iter()
                .map(|p| {
                    let run = rep
                        .runs
                        .iter()
                        .find(|c| &c.profile == p && &c.scenario == s);
                    Bar {
                        value: run.map(|c| c.peak_bytes as f64 / 1048576.0),
                        over_limit: run.and_then(|c| over_limit_word(c.outcome)),
                    }
                })
                .collect();
            (s.clone(), vals)
        })
        .collect();
    let limit = rep.limit_bytes as f64 / 1048576.0;
    bars(
        "Peak memory (RSS / VmHWM / at kill), MiB",
        "MiB",
        &labels,
        &series,
        Some((
            limit,
            format!("limit {} MiB", memstats::format_mb(rep.limit_bytes)),
        )),
    )
}

/// Time from submission to report ready per profile, p50 and p95, seconds;
/// a profile killed on a scenario is marked killed (its times are those of
/// the jobs that did complete, if any).
pub fn time_chart(rep: &CompareReport) -> String {
    let labels: Vec<String> = rep.rows.iter().map(|r| r.profile.clone()).collect();
    let bar = |r: &ProfileRow, v: Option<f64>| Bar {
        value: v,
        over_limit: match &r.verdict {
            RowVerdict::Killed { killed: true, .. } => Some("killed"),
            RowVerdict::Killed { killed: false, .. } => Some("crossed"),
            _ => None,
        },
    };
    let series = vec![
        (
            "p50".to_string(),
            rep.rows
                .iter()
                .map(|r| bar(r, r.time_to_ready_p50_s))
                .collect(),
        ),
        (
            "p95".to_string(),
            rep.rows
                .iter()
                .map(|r| bar(r, r.time_to_ready_p95_s))
                .collect(),
        ),
    ];
    bars(
        "Time from submission to report ready, s",
        "s",
        &labels,
        &series,
        None,
    )
}

/// The page's style: numbers right-aligned, killed rows marked, the table
/// scrolling inside its own box rather than the page.
const STYLE: &str = "<style>body{font-family:sans-serif;margin:1em auto;max-width:1200px;padding:0 1em}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.n{text-align:right;white-space:nowrap}td.settings{min-width:24em;font-size:12px}td.verdict{min-width:12em}\
tr.killed td{background:#fdecea}tr.killed td:first-child{box-shadow:inset 4px 0 #c00;font-weight:bold}\
</style></head><body>\n";

/// A table column: its header, whether it holds figures (right-aligned),
/// and its cell for a row.
type Column = (&'static str, bool, fn(&ProfileRow) -> String);

fn opt_mb(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".into(), mb)
}

const COLUMNS: &[Column] = &[
    ("profile", false, |r| r.profile.clone()),
    ("idle after start", true, |r| opt_mb(r.idle_rss_bytes)),
    ("peak, 1 job", true, |r| opt_mb(r.one_job_peak_bytes)),
    ("peak, 2 jobs at once", true, |r| {
        r.two_jobs_peak_bytes
            .map_or_else(|| "never 2 at once".into(), mb)
    }),
    ("peak overall (scenario)", true, markdown::peak_cell),
    ("verdict", false, |r| {
        markdown::verdict_cell(&r.verdict).replace("**", "")
    }),
    ("p50 to ready", true, |r| {
        crate::units::secs_ms(r.time_to_ready_p50_s)
    }),
    ("p95 to ready", true, |r| {
        crate::units::secs_ms(r.time_to_ready_p95_s)
    }),
    ("reports per minute", true, |r| {
        r.reports_per_minute
            .map_or_else(|| "n/a".into(), |v| format!("{v:.1}/min"))
    }),
    ("modelled runtime (declared)", true, |r| {
        opt_mb(r.modelled_runtime_bytes)
    }),
    ("settings that differ", false, |r| r.settings_delta.clone()),
];

/// The table: one row per profile, a killed one marked; a column that is
/// `n/a` in every row is left out, and said so under the table.
pub fn table(rep: &CompareReport) -> String {
    let cells: Vec<Vec<String>> = rep
        .rows
        .iter()
        .map(|r| COLUMNS.iter().map(|(_, _, f)| f(r)).collect())
        .collect();
    let shown: Vec<usize> = (0..COLUMNS.len())
        .filter(|&i| i == 0 || cells.is_empty() || cells.iter().any(|row| row[i] != "n/a"))
        .collect();
    let mut s = String::from("<div class=\"scroll\"><table><tr>");
    for &i in &shown {
        let _ = write!(s, "<th>{}</th>", COLUMNS[i].0);
    }
    s.push_str("</tr>\n");
    for (r, row) in rep.rows.iter().zip(&cells) {
        let killed = matches!(r.verdict, RowVerdict::Killed { .. });
        s.push_str(if killed {
            "<tr class=\"killed\">"
        } else {
            "<tr>"
        });
        for &i in &shown {
            let (head, numeric, _) = COLUMNS[i];
            let class = if numeric {
                " class=\"n\""
            } else if head == "settings that differ" {
                " class=\"settings\""
            } else if head == "verdict" {
                " class=\"verdict\""
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{}</td>", esc(&row[i]));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table></div>\n");
    let left_out: Vec<&str> = (0..COLUMNS.len())
        .filter(|i| !shown.contains(i))
        .map(|i| COLUMNS[i].0)
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(
            s,
            "<p>Left out, n/a in every row: {}.</p>",
            esc(&left_out.join(", "))
        );
    }
    s
}

/// The whole page; links to the runs are relative to `base`, the folder the
/// page is written to, when the runs are inside it.
pub fn render(rep: &CompareReport, base: &std::path::Path) -> String {
    let mut s = String::new();
    s.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>oomlab compare</title>\n");
    s.push_str(STYLE);
    let _ = writeln!(
        s,
        "<h1>oomlab compare</h1><p>Scenarios: {}. Limit: {} MiB. Built {}.</p>",
        esc(&rep.scenarios.join(", ")),
        memstats::format_mb(rep.limit_bytes),
        esc(&rep.created_at)
    );
    s.push_str(&table(rep));
    s.push_str("<h2>Memory</h2>\n");
    s.push_str(&memory_chart(rep));
    s.push_str("\n<h2>Time to report ready</h2>\n");
    s.push_str(&time_chart(rep));
    s.push_str("\n<h2>Runs</h2><ul>\n");
    for c in &rep.runs {
        let link = c
            .dir
            .strip_prefix(base)
            .unwrap_or(&c.dir)
            .display()
            .to_string();
        let flame = c
            .flamegraph
            .as_ref()
            .map(|f| format!(", <a href=\"{}/{}\">flame graph</a>", esc(&link), esc(f)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "<li>{} on {}: {} (<a href=\"{}/report.md\">report</a>, <a href=\"{}/memory.svg\">timeline</a>{flame})</li>",
            esc(&c.profile),
            esc(&c.scenario),
            esc(&c.summary),
            esc(&link),
            esc(&link)
        );
    }
    s.push_str("</ul>\n<h2>Notes</h2><ul>\n");
    for n in &rep.notes {
        let _ = writeln!(s, "<li>{}</li>", esc(n));
    }
    s.push_str("</ul></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn axis_ticks_are_round_and_distinct() {
        let (step, n, d) = super::nice_ticks(2.2);
        assert_eq!((step, n, d), (0.5, 5, 1));
        let (step, n, d) = super::nice_ticks(540.0);
        assert_eq!((step, n, d), (200.0, 3, 0));
        let (step, n, d) = super::nice_ticks(2.2);
        let labels: Vec<String> = (0..=n)
            .map(|i| format!("{:.d$}", step * i as f64))
            .collect();
        let mut dedup = labels.clone();
        dedup.dedup();
        assert_eq!(labels, dedup);
        assert_eq!(super::nice_ticks(0.0).1, 5);
    }
}
