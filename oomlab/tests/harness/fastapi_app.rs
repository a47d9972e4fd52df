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
