//! `oomlab target init --from render.yaml` and `oomlab scenario from-har`,
//! as the binary runs them: the files written load, an existing file is
//! not overwritten without `--force`, mistakes exit 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn oomlab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oomlab"));
    c.current_dir(root());
    c
}

#[test]
fn target_init_writes_the_example_app_s_blueprint_as_a_target_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("inspections.toml");
    let run = |force: bool| {
        let mut c = oomlab();
        c.args([
            "target",
            "init",
            "--from",
            "examples/flask-reportlab/render.yaml",
            "--out",
        ])
        .arg(&out);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    let first = run(false);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "name = \"inspections\"",
        "limit = \"512MiB\"",
        "working_dir = \"examples/flask-reportlab\"",
        "\"--bind\", \"{host}:{port}\"",
        "cloudinary_env = true",
        "CLOUDINARY_URL = \"{cloudinary_url}\"",
        "DATA_DIR = \"{data_dir}\"",
        "path = \"/healthz\"",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    // What needs the user is on stderr.
    assert!(
        err.contains("check in") && err.contains("inspections-data"),
        "{err}"
    );

    let again = run(false);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(run(true).status.code(), Some(0));
}

#[test]
fn target_init_with_several_web_services_and_no_service_exits_2_listing_them() {
    let dir = tempfile::tempdir().unwrap();
    let blueprint = dir.path().join("render.yaml");
    std::fs::write(
        &blueprint,
        "services:\n  - type: web\n    name: api\n    startCommand: node api.js\n  - type: web\n    name: admin\n    startCommand: node admin.js\n",
    )
    .unwrap();
    let out = oomlab()
        .args(["target", "init", "--from"])
        .arg(&blueprint)
        .arg("--out")
        .arg(dir.path().join("t.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api (web)") && err.contains("admin (web)") && err.contains("--service"),
        "{err}"
    );
    assert!(!dir.path().join("t.toml").exists());
}

#[test]
fn scenario_from_har_writes_the_browser_s_recording_as_a_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("recorded.toml");
    let out = oomlab()
        .args([
            "scenario",
            "from-har",
            "oomlab/tests/fixtures/flask-reportlab-flow.har",
            "--out",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
    assert!(
        stdout.contains("3 photo uploads") && stdout.contains("a submission"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains("upload_path = \"/api/photos\""), "{text}");
    assert!(text.contains("[[http.steps]]"), "{text}");

    let bad = oomlab()
        .args(["scenario", "from-har", "Cargo.toml", "--out"])
        .arg(dir.path().join("x.toml"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a HAR file"));
}
