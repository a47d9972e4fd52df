//! The second example app, of another shape (`examples/fastapi-fpdf`,
//! `targets/fastapi-fpdf.toml`): FastAPI under uvicorn with two worker
//! processes, a CSRF form login, the photos sent with the form, the job's
//! URL in `Location`. Its target maps `tiny` to its own flow (`[scenarios]`),
//! prepares its login user (`[[prepare]]`) and names its stages (`[log]`).
//! It needs the app's venv, which `examples/fastapi-fpdf/setup.sh` makes
//! with pip (`.ci/run` does); where it is missing the test says so and
//! passes without running.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root when the app's venv is there; otherwise `None` after
/// saying that `test` is skipped.
fn workspace_with_venv(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root
        .join("examples/fastapi-fpdf/.venv/bin/uvicorn")
        .is_file()
    {
        return Some(root);
    }
    eprintln!("{test}: skipped: no venv (run examples/fastapi-fpdf/setup.sh)");
    None
}

#[test]
fn the_fastapi_app_runs_its_own_flow_on_tiny_and_its_stages_are_read_from_its_log() {
    let test = "the_fastapi_app_runs_its_own_flow_on_tiny";
    let Some(root) = workspace_with_venv(test) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--target", "fastapi-fpdf", "--scenario", "tiny"])
        .args(["--quiet", "--out"])
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
    let (dir, run) = crate::support::run_json(out.path());
    // The app's own file ran, under the shipped name.
    assert_eq!(run["scenario"]["name"], "tiny", "{}", run["scenario"]);
    let work = &run["load"]["work"];
    assert_eq!(work["users_logged_in"], 1, "{work}");
    assert_eq!(work["photos_uploaded"], 3, "{work}");
    assert_eq!(work["downloads_checked"], 2, "{work}");
    // Every step of its flow answered, the flow steps by name.
    let steps = work["steps"].as_array().expect("the step table");
    let names: Vec<_> = steps
        .iter()
        .map(|s| {
            s["name"]
                .as_str()
                .unwrap_or_else(|| s["step"].as_str().unwrap())
        })
        .collect();
    for name in ["login page", "log_in", "new inspection page", "submit"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(steps.iter().all(|s| s["ok"] == s["requests"]), "{steps:?}");
    // uvicorn's supervisor and its two workers: a tree.
    let csv = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
    let most = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(6)?.parse::<u32>().ok())
        .max()
        .unwrap();
    assert!(most >= 3, "a tree of {most} process(es)");
    // The job's stages came from the app's log lines.
    let stages = run["log_stages"].to_string();
    for stage in ["excel", "pdf", "upload", "done"] {
        assert!(
            stages.contains(&format!("\"{stage}\"")),
            "{stage}: {stages}"
        );
    }
}

/// The scenario `oomlab scenario from-har` writes from the browser's
/// recording of this app (tests/fixtures/fastapi-fpdf-flow.har: the form
/// login, the photos sent with the form, the CSRF token as a header, the
/// job in `Location`) runs against the app as it is, with nothing edited
/// but the photos' size.
#[test]
fn a_scenario_written_from_the_browser_s_recording_runs_against_the_app() {
    let test = "a_scenario_written_from_the_browser_s_recording_runs_against_the_app";
    let Some(root) = workspace_with_venv(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("recorded.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args([
            "scenario",
            "from-har",
            "oomlab/tests/fixtures/fastapi-fpdf-flow.har",
            "--out",
        ])
        .arg(&scenario)
        .current_dir(&root)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The flow is under test, not the memory: small photos.
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(text.contains("photo_kind = \"phone\""), "{text}");
    std::fs::write(
        &scenario,
        text.replace("photo_kind = \"phone\"", "photo_kind = \"640x480-60k\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--target", "fastapi-fpdf", "--scenario"])
        .arg(&scenario)
        .args(["--quiet", "--max-duration", "120s", "--out"])
        .arg(&out)
        .current_dir(&root)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}\n{text}");
    assert!(stdout.contains("1 of 1 report(s) completed"), "{stdout}");
    let (_, run) = crate::support::run_json(&out);
    let work = &run["load"]["work"];
    assert_eq!(work["users_logged_in"], 1, "{work}");
    assert_eq!(work["photos_uploaded"], 3, "{work}");
    assert_eq!(work["downloads_checked"], 2, "{work}");
    let steps = work["steps"].as_array().expect("the step table");
    assert!(steps.iter().all(|s| s["ok"] == s["requests"]), "{steps:?}");
}
