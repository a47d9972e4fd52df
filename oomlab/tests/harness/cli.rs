//! The binary's arguments, help and exit codes.

use std::process::Command;

fn oomlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oomlab"))
}

#[test]
fn run_help_explains_every_flag_with_examples() {
    let out = oomlab().args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--profile",
        "--scenario",
        "--limit",
        "--enforce",
        "--restart",
        "--oom-kill",
        "--lost-after",
        "--out",
        "--max-duration",
        "--server-bin",
        "--stop-grace",
        "Examples:",
        "exit codes",
        "load_failed    4",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn a_bad_limit_exits_with_2_and_names_the_flag_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "").unwrap();
    let out = oomlab()
        .args([
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--scenario",
            tiny().to_str().unwrap(),
            "--limit",
            "lots",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--limit") && err.contains("512MiB"), "{err}");
}

fn tiny() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tiny.toml")
}

#[test]
fn a_profile_with_an_unknown_key_exits_with_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("typo.toml");
    std::fs::write(&profile, "workers = 1\n[photos]\nembedd = \"resize\"\n").unwrap();
    let out_dir = dir.path().join("reports");
    let out = oomlab()
        .args([
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--scenario",
            tiny().to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: ") && err.contains("typo.toml") && err.contains("embedd"),
        "{err}"
    );
    // Nothing started: not even the run folder was made.
    assert!(!out_dir.exists(), "a run folder was made");
}

#[test]
fn an_unknown_scenario_exits_with_2_and_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    std::fs::write(&profile, "").unwrap();
    let out = oomlab()
        .args([
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--scenario",
            "nope",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--scenario") && err.contains("nope"), "{err}");
}

#[test]
fn an_unknown_flag_exits_with_2() {
    let out = oomlab().args(["run", "--frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `oomlab calibrate --app-runs DIR` against a target file of its own whose
/// command (`sh`) exists on every machine: the reuse checks run before any
/// app is started, so this needs no venv.
fn calibrate_reusing(app_runs: &std::path::Path) -> std::process::Output {
    let targets = tempfile::tempdir().unwrap();
    let target = targets.path().join("stub-app.toml");
    std::fs::write(
        &target,
        "[run]\ncommand = [\"sh\", \"-c\", \"sleep 60\"]\n[readiness]\npath = \"/\"\n",
    )
    .unwrap();
    oomlab()
        .args(["calibrate", "--target"])
        .arg(&target)
        .args([
            "--profile",
            "lean",
            "--scenario",
            "tiny",
            "--quiet",
            "--app-runs",
        ])
        .arg(app_runs)
        .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap()
}

#[test]
fn calibrate_app_runs_refuses_a_folder_that_is_not_a_calibration_of_that_app() {
    let dir = tempfile::tempdir().unwrap();
    let out = calibrate_reusing(dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--app-runs") && err.contains("calibration.json"),
        "{err}"
    );

    // A calibration of another app (or another environment of it).
    let json = serde_json::json!({
        "schema_version": 1, "oomlab_version": "0", "created_at": "2026-11-30T00:00:00Z",
        "app": "stub-app[REPORT_WORKERS=1]", "model": "lean", "model_file": "lean.toml",
        "tolerance_pct": 15.0, "settle_s": 3.0, "repeat": 1, "wall_time_s": 1.0, "rows": [],
        "runtime_mb": null, "runtime_mb_for_idle": null, "passed": false, "notes": []
    });
    std::fs::write(dir.path().join("calibration.json"), json.to_string()).unwrap();
    let out = calibrate_reusing(dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--app-runs") && err.contains("REPORT_WORKERS=1") && err.contains("--app-env"),
        "{err}"
    );
}

/// `oomlab run` of lean on tiny with `extra` flags: (exit code, stdout,
/// stderr, the run's server.log).
fn run_tiny(extra: &[&str]) -> (Option<i32>, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = oomlab()
        .args(["run", "--profile", "lean", "--scenario", "tiny", "--out"])
        .arg(dir.path())
        .args(extra)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let server_log = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("server.log")).ok())
        .collect::<String>();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        server_log,
    )
}

#[test]
fn goose_output_is_shown_only_with_verbose_and_no_colour_codes_off_a_terminal() {
    let (code, out, err, log) = run_tiny(&[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("report: "), "{out}");
    assert!(!out.contains("users launched"), "{out}");
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "{out}\n{err}"
    );
    // The server's own log lines, in the run's server.log, too.
    assert!(log.contains("serving"), "{log}");
    assert!(!log.contains('\x1b'), "{log}");
    let (code, out, err, _) = run_tiny(&["--verbose"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("users launched"), "{out}");
    assert!(out.contains("report: "), "{out}");
}
