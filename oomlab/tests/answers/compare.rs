//! `oomlab compare`: the table from synthetic runs (pinned Markdown and
//! JSON), and `--from` through the binary.

use std::path::PathBuf;

use oomlab::compare::{self, CompareReport, RowVerdict};
use oomlab::finished::FinishedRun;

use crate::fixtures::{self, MB, oomlab};

fn matrix() -> Vec<FinishedRun> {
    let f = |profile: &str, scenario: &str, r| FinishedRun {
        report: r,
        dir: PathBuf::from(format!("runs/{profile}-{scenario}")),
    };
    vec![
        f(
            "original",
            "single-report",
            fixtures::run("original", "single-report", 420, 1, 18.0),
        ),
        f(
            "original",
            "two-reports",
            fixtures::killed(
                fixtures::run("original", "two-reports", 500, 2, 20.0),
                531,
                14.2,
            ),
        ),
        f(
            "quick-fix",
            "single-report",
            fixtures::run("quick-fix", "single-report", 410, 1, 18.0),
        ),
        f(
            "quick-fix",
            "two-reports",
            fixtures::run("quick-fix", "two-reports", 430, 2, 21.0),
        ),
        f(
            "lean",
            "single-report",
            fixtures::run("lean", "single-report", 40, 1, 9.0),
        ),
        f(
            "lean",
            "two-reports",
            fixtures::run("lean", "two-reports", 48, 2, 10.0),
        ),
    ]
}

fn pinned(mut r: CompareReport) -> CompareReport {
    r.created_at = "2026-11-28T12:00:00Z".into();
    r
}

#[test]
fn the_table_has_one_row_per_profile_with_its_verdict_and_peaks() {
    let r = compare::build(&matrix(), 512 * MB, Some(300.0), vec![]);
    assert_eq!(
        r.rows
            .iter()
            .map(|r| r.profile.as_str())
            .collect::<Vec<_>>(),
        ["original", "quick-fix", "lean"]
    );
    assert_eq!(r.scenarios, ["single-report", "two-reports"]);
    let orig = &r.rows[0];
    assert!(
        matches!(&orig.verdict, RowVerdict::Killed { scenario, at_s, bytes, .. }
        if scenario == "two-reports" && *at_s == 14.2 && *bytes == 531 * MB)
    );
    assert_eq!(orig.peak_bytes, 531 * MB);
    // The kill happened with 2 jobs in flight: it counts as a 2-job peak.
    assert_eq!(orig.two_jobs_peak_bytes, Some(531 * MB));
    assert_eq!(orig.one_job_peak_bytes, Some(420 * MB));
    assert_eq!(orig.modelled_runtime_bytes, Some(63 * MB));
    let lean = &r.rows[2];
    assert_eq!(
        lean.verdict,
        RowVerdict::Held {
            headroom_bytes: (512 - 48) * MB
        }
    );
    // lean models no runtime: the server's own 15 MB idle.
    assert_eq!(lean.idle_rss_bytes, Some(15 * MB));
    assert_eq!(lean.modelled_runtime_bytes, Some(0));
    // The settings that differ come from the profile files.
    assert_eq!(orig.settings_delta, "(the baseline)");
    assert!(
        lean.settings_delta.contains("photos.embed resize"),
        "{}",
        lean.settings_delta
    );
    assert_eq!(r.settings_that_differ["quick-fix"]["workers"], "1");
}

#[test]
fn a_profile_whose_load_failed_is_incomplete_never_held() {
    let mut runs = matrix();
    let lean = runs.last_mut().unwrap();
    lean.report = fixtures::load_failed(lean.report.clone());
    let r = compare::build(&runs, 512 * MB, Some(300.0), vec![]);
    let lean = &r.rows[2];
    assert!(
        matches!(&lean.verdict, RowVerdict::Incomplete { why }
        if why.contains("the load failed: upload photo answered 404")),
        "{:?}",
        lean.verdict
    );
    let md = compare::markdown::render(&pinned(r));
    assert!(md.contains("the load failed"), "{md}");
}

#[test]
fn the_terminal_table_fits_100_columns_and_keeps_every_verdict() {
    let r = compare::build(&matrix(), 512 * MB, Some(300.0), vec![]);
    let t = compare::markdown::render_terminal(&r);
    assert_eq!(t.lines().count(), 4, "{t}");
    for line in t.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].starts_with("profile") && lines[0].contains("verdict at 512.0 MiB"),
        "{t}"
    );
    assert!(
        lines[1].starts_with("original")
            && lines[1].contains(">=531.0 MiB")
            && lines[1].contains("killed on two-reports"),
        "{t}"
    );
    assert!(
        lines[3].starts_with("lean") && lines[3].contains("held, 464.0 MiB headroom"),
        "{t}"
    );
    assert!(!t.contains("**") && !t.contains('|'), "{t}");
}

/// A user's profile file may have a long name: the line stays within 100
/// columns, the name and the verdict share what is left by the figures
/// (cut with `…`), the figures are whole.
#[test]
fn the_terminal_table_fits_100_columns_with_a_long_profile_name() {
    let mut r = compare::build(&matrix(), 512 * MB, Some(300.0), vec![]);
    let long = "a-profile-from-a-user-directory-whose-name-goes-on-and-on-and-on";
    r.rows[2].profile = long.into();
    let t = compare::markdown::render_terminal(&r);
    let widest = t.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{t}");
    let lean = t.lines().nth(3).unwrap();
    assert!(
        lean.starts_with("a-profile-from") && lean.contains('…'),
        "{t}"
    );
    assert!(
        lean.contains("48.0 MiB") && lean.contains("held, 464.0 MiB"),
        "{t}"
    );
}

#[test]
fn the_markdown_is_pinned() {
    let r = pinned(compare::build(&matrix(), 512 * MB, Some(300.0), vec![]));
    insta::assert_snapshot!(compare::markdown::render(&r));
}

#[test]
fn the_json_shape_is_pinned_and_round_trips() {
    let r = pinned(compare::build(
        &matrix(),
        512 * MB,
        None,
        vec!["rebuilt from 6 finished run(s)".into()],
    ));
    insta::assert_json_snapshot!(r);
    let back: CompareReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn the_html_page_holds_the_table_and_inline_svg_charts() {
    let r = pinned(compare::build(&matrix(), 512 * MB, Some(300.0), vec![]));
    let html = compare::html::render(&r, std::path::Path::new("."));
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(
        html.contains("limit 512.0 MiB")
            && html.contains("killed on two-reports at 14.2 s (531.0 MiB)"),
        "{html}"
    );
    // The killed row is marked; figures are right-aligned, names are not.
    assert!(
        html.contains("<tr class=\"killed\"><td>original</td>"),
        "{html}"
    );
    assert_eq!(html.matches("<tr class=\"killed\">").count(), 1, "{html}");
    assert!(
        html.contains("<td>lean</td><td class=\"n\">15.0 MiB</td>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"settings\">"), "{html}");
    // The table scrolls in its own box, the charts shrink to the page.
    assert!(html.contains("<div class=\"scroll\"><table>"), "{html}");
    assert_eq!(
        html.matches("style=\"max-width:100%;height:auto\"").count(),
        2
    );
}

#[test]
fn the_charts_mark_killed_bars_and_never_draw_a_missing_figure_as_zero() {
    let mut r = pinned(compare::build(&matrix(), 512 * MB, Some(300.0), vec![]));
    let mem = compare::html::memory_chart(&r);
    // original on two-reports was killed: one red-outlined, labelled bar.
    assert_eq!(mem.matches(">killed</text>").count(), 1, "{mem}");
    assert!(
        mem.contains("original on two-reports: 531.0 MiB (killed)</title>"),
        "{mem}"
    );
    assert_eq!(
        mem.matches("stroke=\"#c00\" stroke-width=\"2\"").count(),
        2,
        "bar and limit line: {mem}"
    );
    // A killed profile with no completed job has no time: it says killed at
    // the axis instead of showing an empty slot that reads as 0 s.
    r.rows[0].time_to_ready_p50_s = None;
    r.rows[0].time_to_ready_p95_s = None;
    let time = compare::html::time_chart(&r);
    assert!(
        time.contains("original on p50: no figure (killed)</title>")
            && time.contains("original on p95: no figure (killed)</title>"),
        "{time}"
    );
    // ... and a figure missing for another reason says n/a.
    r.rows[2].time_to_ready_p95_s = None;
    let time = compare::html::time_chart(&r);
    assert!(time.contains(">n/a<title>"), "{time}");
}

#[test]
fn a_column_that_is_na_in_every_row_is_left_out_and_said_so() {
    // The synthetic runs have no load time: reports per minute is n/a in
    // every row.
    let mut r = pinned(compare::build(&matrix(), 512 * MB, Some(300.0), vec![]));
    assert!(r.rows.iter().all(|row| row.reports_per_minute.is_none()));
    r.rows[1].reports_per_minute = Some(2.5);
    let html = compare::html::render(&r, std::path::Path::new("."));
    assert!(
        html.contains("<th>reports per minute</th>")
            && html.contains("<td class=\"n\">2.5/min</td>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"n\">n/a</td>"), "{html}");
    assert!(!html.contains("Left out"), "{html}");
    r.rows[1].reports_per_minute = None;
    let html = compare::html::render(&r, std::path::Path::new("."));
    assert!(!html.contains("<th>reports per minute</th>"), "{html}");
    assert!(
        html.contains("<p>Left out, n/a in every row: reports per minute.</p>"),
        "{html}"
    );
}

#[test]
fn compare_from_finished_runs_writes_three_files_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("compare-old/runs");
    for r in matrix() {
        let name = format!("{}-{}", r.report.profile.name, r.report.scenario.name);
        fixtures::write(&runs, &name, &r.report);
    }
    let out = dir.path().join("out");
    let (code, stdout, err) = oomlab(
        &[
            "compare",
            "--from",
            dir.path().join("compare-old").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(
        stdout.contains("\noriginal ") && stdout.contains("killed on two-reports at 14.2 s\n"),
        "{stdout}"
    );
    let made: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(made.len(), 1);
    for f in ["compare.md", "compare.json", "compare.html"] {
        assert!(made[0].join(f).is_file(), "{f} missing");
    }
    let json: CompareReport =
        serde_json::from_str(&std::fs::read_to_string(made[0].join("compare.json")).unwrap())
            .unwrap();
    assert_eq!(json.rows.len(), 3);
    assert_eq!(json.wall_time_s, None);
    assert!(json.notes[0].contains("without running again"));
}

#[test]
fn compare_from_a_folder_without_runs_exits_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = oomlab(
        &[
            "compare",
            "--from",
            dir.path().to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--from") && err.contains("no run.json"),
        "{err}"
    );
}

#[test]
fn an_unknown_profile_exits_2_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = oomlab(
        &[
            "compare",
            "--profile",
            "nope",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--profile") && err.contains("lean"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was written"
    );
}

/// The real thing on the smallest scenario: one run through the harness, the
/// three files written, the table printed.
#[test]
fn real_compare_of_lean_on_tiny_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, err) = oomlab(
        &[
            "compare",
            "--profile",
            "lean",
            "--scenario",
            "tiny",
            "--quiet",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    assert!(
        stdout.contains("\nlean ") && stdout.contains("held,"),
        "{stdout}"
    );
    // The runs print nothing of their own: no harness start line, no goose
    // "users launched", no verdict or report path between the table's lines.
    for chatter in ["users launched", "report: ", "within the limit:"] {
        assert!(!stdout.contains(chatter), "{chatter:?} in:\n{stdout}");
    }
    assert!(!err.contains("oomlab: lean on tiny"), "{err}");
    let made = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let json: CompareReport =
        serde_json::from_str(&std::fs::read_to_string(made.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json.runs.len(), 1);
    assert!(json.wall_time_s.is_some());
    assert!(
        made.join("runs")
            .join(json.runs[0].dir.file_name().unwrap())
            .join("run.json")
            .is_file()
    );
}

#[test]
fn compare_json_matches_the_checked_in_schema() {
    let r = compare::build(&matrix(), 512 * MB, Some(300.0), vec![]);
    crate::support::assert_valid_compare_json(&serde_json::to_value(&r).unwrap());
    // A row that did not finish is valid too.
    let mut r2 = r.clone();
    r2.rows[0].verdict = RowVerdict::Incomplete {
        why: "crashed".into(),
    };
    crate::support::assert_valid_compare_json(&serde_json::to_value(&r2).unwrap());
    // And the schema is not a rubber stamp.
    let mut bad = serde_json::to_value(&r).unwrap();
    bad["rows"][0]["peak_bytes"] = serde_json::json!("lots");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/compare.schema.json")).unwrap();
    assert!(!jsonschema::validator_for(&schema).unwrap().is_valid(&bad));
}
