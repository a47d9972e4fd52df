//! Bring your own app: the example Flask + reportlab app
//! (`examples/flask-reportlab`, `targets/flask-reportlab.toml`) run as a
//! target on the tiny scenario. It needs the app's venv, which
//! `examples/flask-reportlab/setup.sh` makes with pip (`.ci/run` does); where
//! it is missing the test says so and passes without running, as the other
//! optional-toolchain tests of the workspace do.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root when the example app's venv is there; otherwise `None`
/// after saying that `test` is skipped.
fn workspace_with_venv(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root
        .join("examples/flask-reportlab/.venv/bin/gunicorn")
        .is_file()
    {
        return Some(root);
    }
    eprintln!("{test}: skipped: no venv (run examples/flask-reportlab/setup.sh)");
    None
}

#[test]
fn the_example_flask_app_runs_as_a_target_and_its_whole_tree_is_measured() {
    let Some(root) = workspace_with_venv("the_example_flask_app_runs_as_a_target") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "run",
            "--target",
            "flask-reportlab",
            "--scenario",
            "tiny",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .current_dir(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 of 1 report(s) completed"), "{stdout}");
    let dir = crate::support::only_run_dir(out.path());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["shape"]["target"], "app");
    // gunicorn's master and its worker: a tree of two, summed.
    let csv = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
    let most = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(6)?.parse::<u32>().ok())
        .max()
        .unwrap();
    assert!(most >= 2, "a tree of {most} process(es)");
    assert!(
        run["peaks"]["process_at_peak"]
            .as_str()
            .is_some_and(|p| p.contains("gunicorn")),
        "{}",
        run["peaks"]
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("PSS sum"), "{md}");
}

#[test]
fn calibrate_runs_the_app_and_the_model_side_by_side_and_fails_when_they_disagree() {
    let Some(root) = workspace_with_venv("calibrate_runs_the_app_and_the_model") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    // lean holds tens of MB where the Python app idles near 100: far apart.
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "calibrate",
            "--target",
            "flask-reportlab",
            "--app-env",
            "REPORT_WORKERS=1",
            "--profile",
            "lean",
            "--scenario",
            "tiny",
            "--settle",
            "1s",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .current_dir(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("**not calibrated**"), "{stdout}");
    let dir = crate::support::only_run_dir(out.path());
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap())
            .unwrap();
    assert_eq!(c["app"], "flask-reportlab[REPORT_WORKERS=1]");
    assert_eq!(c["passed"], false);
    let row = &c["rows"][0];
    assert_eq!(row["scenario"], "tiny");
    let app_peak = row["app"]["peak_bytes"].as_u64().unwrap();
    let model_peak = row["model"]["peak_bytes"].as_u64().unwrap();
    assert!(app_peak > model_peak, "{row}");
    assert!(row["peak_error_pct"].as_f64().unwrap() < -15.0, "{row}");
    for side in ["app", "model"] {
        assert!(row[side]["idle_bytes"].as_u64().unwrap() > 0, "{row}");
        // The run went on 1 s after its job: the memory left is read.
        assert!(row[side]["left_after_bytes"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row[side]["jobs_completed"], 1, "{row}");
    }
    // The model's idle is below the app's: the file says what would close it.
    assert!(c["runtime_mb_for_idle"].as_u64().is_some(), "{c}");

    // Again with the app's runs reused: only the model runs.
    let again = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "calibrate",
            "--target",
            "flask-reportlab",
            "--app-env",
            "REPORT_WORKERS=1",
            "--profile",
            "lean",
            "--scenario",
            "tiny",
            "--settle",
            "1s",
            "--quiet",
            "--app-runs",
        ])
        .arg(&dir)
        .arg("--out")
        .arg(again.path())
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    let dir2 = crate::support::only_run_dir(again.path());
    let runs: Vec<_> = std::fs::read_dir(dir2.join("runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "only the model ran: {runs:?}");
    let c2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir2.join("calibration.json")).unwrap())
            .unwrap();
    assert_eq!(c2["rows"][0]["app"]["peak_bytes"].as_u64(), Some(app_peak));
    assert!(
        c2["notes"].to_string().contains("reused"),
        "the reuse is said: {c2}"
    );
}

#[test]
fn under_a_kernel_enforced_limit_the_example_app_loses_its_job_and_the_run_ends() {
    let test = "under_a_kernel_enforced_limit_the_example_app_loses_its_job";
    let Some(root) = workspace_with_venv(test) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "run",
            "--target",
            "flask-reportlab",
            "--scenario",
            "single-report",
        ])
        .args(["--enforce", "cgroup", "--quiet", "--out"])
        .arg(out.path())
        .current_dir(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    if o.status.code() == Some(2) && stderr.contains("--enforce cgroup") {
        eprintln!("{test}: skipped: no memory cgroup can be made here ({stderr})");
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let (_, run) = crate::support::run_json(out.path());
    let kill = &run["oom_events"][0];
    assert_eq!(kill["trigger"], "cgroup", "{stdout}");
    // The kernel killed the worker (and, on some runs, the master after
    // it): the worker's end is named either way.
    let summary = run["verdict"]["summary"].as_str().unwrap();
    assert!(summary.contains("the kernel killed gunicorn"), "{summary}");
    let respawned = summary.contains("then started: gunicorn");
    if respawned {
        assert_eq!(run["load"]["jobs_lost"], 1, "{summary}");
        assert!(summary.contains("1 job lost"), "{summary}");
    } else {
        assert!(
            summary.contains("the main process was killed too"),
            "{summary}"
        );
    }
    let after = run["duration_s"].as_f64().unwrap() - kill["at_s"].as_f64().unwrap();
    assert!(after < 60.0, "ended {after:.1} s after the kill");
    assert!(t.elapsed() < std::time::Duration::from_secs(180));
}

#[test]
fn compare_vary_runs_one_row_per_variant_of_the_app_traced_with_its_flame_graphs_linked() {
    let Some(root) = workspace_with_venv("compare_vary_runs_one_row_per_variant") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "compare",
            "--target",
            "flask-reportlab",
            "--scenario",
            "tiny",
            "--vary",
            "REPORT_PHOTO_SOURCE=memory,path",
            "--heap",
            "memray",
            "--out",
        ])
        .arg(out.path())
        .current_dir(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let dir = crate::support::only_run_dir(out.path());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("compare.json")).unwrap()).unwrap();
    crate::support::assert_valid_compare_json(&doc);
    let rows = doc["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["profile"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "flask-reportlab[REPORT_PHOTO_SOURCE=memory]",
            "flask-reportlab[REPORT_PHOTO_SOURCE=path]"
        ]
    );
    assert!(
        rows[1]["settings_delta"]
            .as_str()
            .unwrap()
            .contains("run.env.REPORT_PHOTO_SOURCE path"),
        "{}",
        rows[1]
    );
    // Each traced run's flame graph is linked from compare.html.
    let html = std::fs::read_to_string(dir.join("compare.html")).unwrap();
    assert_eq!(html.matches(">flame graph</a>").count(), 2, "{html}");
}
