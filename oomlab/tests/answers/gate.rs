//! `oomlab gate` through the binary, on synthetic runs (`--from`): exit codes,
//! messages, JUnit and Markdown outputs.

use std::path::Path;

use crate::fixtures::{self, oomlab};

/// The exit code, stdout, and everything the user saw (stdout then stderr)
/// with the 100-column wrapping undone, for `contains` checks.
fn gate(from: &Path, extra: &[&str], out: &Path) -> (i32, String, String) {
    let junit = out.join("junit.xml");
    let summary = out.join("gate.md");
    let mut args = vec![
        "gate",
        "--from",
        from.to_str().unwrap(),
        "--limit",
        "512MiB",
        "--headroom",
        "10%",
        "--junit",
        junit.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = oomlab(&args, &[]);
    let seen = format!("{stdout}\n{stderr}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (code, stdout, seen)
}

#[test]
fn a_peak_well_under_the_budget_passes_and_writes_junit_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixtures::write(
        dir.path(),
        "lean-tiny",
        &fixtures::run("lean", "tiny", 300, 1, 4.0),
    );
    let step = dir.path().join("step-summary.md");
    std::fs::write(&step, "earlier step\n").unwrap();
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("gate.md");
    let (code, out, err) = oomlab(
        &[
            "gate",
            "--from",
            run.to_str().unwrap(),
            "--budget",
            "512MiB",
            "--headroom",
            "10%",
            "--junit",
            junit.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ],
        &[("GITHUB_STEP_SUMMARY", &step)],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("passed"), "{out}");
    // The old name of --limit still works, with a warning.
    assert!(
        err.contains("warning: `--budget` is now `--limit`"),
        "{err}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite") && xml.contains("peak under budget minus headroom"),
        "{xml}"
    );
    assert!(!xml.contains("<failure"), "{xml}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("## oomlab gate: passed") && md.contains("300.0 MiB"),
        "{md}"
    );
    // Appended, not overwritten.
    let step = std::fs::read_to_string(&step).unwrap();
    assert!(
        step.starts_with("earlier step\n") && step.contains("oomlab gate: passed"),
        "{step}"
    );
}

#[test]
fn a_load_that_failed_fails_the_gate_with_exit_4_however_low_its_peak() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixtures::load_failed(fixtures::run("lean", "tiny", 60, 1, 4.0));
    let run = fixtures::write(dir.path(), "lean-tiny", &r);
    let (code, out, err) = gate(&run, &[], dir.path());
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(
        err.contains("the load failed: upload photo answered 404")
            && err.contains("its peak is not an answer"),
        "{err}"
    );
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        xml.contains("<failure") && xml.contains("the load did its work"),
        "{xml}"
    );
}

#[test]
fn a_peak_over_the_budget_fails_naming_the_figure_budget_and_stage() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixtures::killed(
        fixtures::run("original", "two-reports", 500, 2, 20.0),
        531,
        14.2,
    );
    let run = fixtures::write(dir.path(), "original-two", &r);
    let (code, out, err) = gate(&run, &[], dir.path());
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("peak memory 531.0 MiB"), "{err}");
    assert!(err.contains("over the budget of 512.0 MiB"), "{err}");
    assert!(err.contains("job 2 in stage pdf"), "{err}");
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        xml.contains("<failure") && xml.contains("531.0 MiB"),
        "{xml}"
    );
    // The kill fails a case of its own, and every case has the run's time.
    assert!(
        err.contains("the server was killed: killed at 14.2 s"),
        "{err}"
    );
    assert_eq!(xml.matches("<failure").count(), 2, "{xml}");
    assert!(
        xml.contains(r#"name="the run finished""#) && xml.contains(r#"time=""#),
        "{xml}"
    );
}

#[test]
fn a_peak_under_the_budget_but_inside_the_headroom_fails() {
    let dir = tempfile::tempdir().unwrap();
    // 480 MB < 512 MB, but over 512 x 0.9 = 460.8 MB.
    let run = fixtures::write(
        dir.path(),
        "qf",
        &fixtures::run("quick-fix", "two-reports", 480, 2, 20.0),
    );
    let (code, out, err) = gate(&run, &[], dir.path());
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("peak memory 480.0 MiB"), "{err}");
    assert!(
        err.contains("inside its 10% headroom") && err.contains("460.8 MiB"),
        "{err}"
    );
    // quick-fix has one worker: one job in flight at the peak.
    assert!(err.contains("at the peak: job 1 in stage pdf"), "{err}");
    assert!(err.contains("of which 63.0 MiB modelled runtime"), "{err}");
}

#[test]
fn a_regression_beyond_the_allowed_share_fails_even_under_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixtures::write(
        dir.path(),
        "base",
        &fixtures::run("lean", "two-reports", 200, 2, 10.0),
    );
    let now = fixtures::write(
        dir.path(),
        "now",
        &fixtures::run("lean", "two-reports", 220, 2, 10.0),
    );
    let (code, out, err) = gate(
        &now,
        &[
            "--baseline",
            base.to_str().unwrap(),
            "--max-regression",
            "5%",
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("+10.0% against the baseline's 200.0 MiB"),
        "{err}"
    );
    assert!(err.contains("up to +5% (210.0 MiB)"), "{err}");
    // Within the share: passes.
    let ok = fixtures::write(
        dir.path(),
        "ok",
        &fixtures::run("lean", "two-reports", 205, 2, 10.0),
    );
    let (code, out, err) = gate(
        &ok,
        &[
            "--baseline",
            base.to_str().unwrap(),
            "--max-regression",
            "5%",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_missing_or_malformed_baseline_exits_2_naming_the_flag_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixtures::write(
        dir.path(),
        "now",
        &fixtures::run("lean", "tiny", 100, 1, 3.0),
    );
    let missing = dir.path().join("nope.json");
    let (code, _, err) = gate(&run, &["--baseline", missing.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--baseline") && err.contains("nope.json") && err.contains("run.json"),
        "{err}"
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"peak\": 12").unwrap();
    let (code, _, err) = gate(&run, &["--baseline", bad.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--baseline") && err.contains("bad.json") && err.contains("not a run.json"),
        "{err}"
    );
}

#[test]
fn bad_thresholds_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let run = fixtures::write(
        dir.path(),
        "now",
        &fixtures::run("lean", "tiny", 100, 1, 3.0),
    );
    let (code, _, err) = gate(&run, &["--max-regression", "lots"], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-regression"), "{err}");
}

#[test]
fn the_gate_markdown_is_pinned() {
    let r = fixtures::killed(
        fixtures::run("original", "two-reports", 500, 2, 20.0),
        531,
        14.2,
    );
    let base = fixtures::run("original", "two-reports", 450, 2, 20.0);
    let t = oomlab::gate::Thresholds {
        budget_bytes: 512 << 20,
        headroom: 0.10,
        max_regression: 0.05,
    };
    let g = oomlab::gate::evaluate(&r, Some((Path::new("baseline/run.json"), &base)), t);
    assert!(!g.passed());
    insta::assert_snapshot!(oomlab::gate::markdown(&g));
}

/// The command `.ci/run` uses, end to end on the tiny scenario.
#[test]
fn real_gate_of_lean_on_tiny_passes() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = oomlab(
        &[
            "gate",
            "--profile",
            "lean",
            "--scenario",
            "tiny",
            "--limit",
            "512MiB",
            "--headroom",
            "10%",
            "--out",
            dir.path().to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("oomlab gate: passed"), "{out}");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("peak under budget minus headroom")
    );
}

#[test]
fn the_default_regression_share_passes_run_to_run_noise_and_fails_beyond_it() {
    // Ten runs of the same code differed by up to 19% (README): +15% passes
    // with the default 20%, +25% fails.
    let dir = tempfile::tempdir().unwrap();
    let base = fixtures::write(
        dir.path(),
        "base",
        &fixtures::run("lean", "two-reports", 200, 2, 10.0),
    );
    let baseline = ["--baseline", base.to_str().unwrap()];
    for (mb, want) in [(230, 0), (250, 1)] {
        let now = fixtures::write(
            dir.path(),
            &format!("now{mb}"),
            &fixtures::run("lean", "two-reports", mb, 2, 10.0),
        );
        let (code, out, err) = gate(&now, &baseline, dir.path());
        assert_eq!(code, want, "{mb} MiB: {out}\n{err}");
    }
}

#[test]
fn the_committed_ci_baseline_is_a_run_the_gate_reads_and_passes() {
    // .github/workflows/memory-gate.yml gates against ci/baseline-run.json:
    // a change to run.json's format that the file no longer parses under,
    // or a baseline over the workflow's own limit, fails here first.
    let baseline = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/baseline-run.json");
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = oomlab(
        &[
            "gate",
            "--from",
            baseline.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--limit",
            "128MiB",
            "--headroom",
            "10%",
            "--junit",
            dir.path().join("junit.xml").to_str().unwrap(),
            "--summary",
            dir.path().join("gate.md").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("oomlab gate: passed"), "{out}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(run["profile"]["name"], "lean", "{run}");
    assert_eq!(run["scenario"]["name"], "two-reports", "{run}");
}
