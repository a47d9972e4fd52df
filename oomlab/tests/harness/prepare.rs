//! A target file's own steps and flows. `[[prepare]]` steps run before the
//! app starts, with the placeholders filled and their output in the run's
//! log; a failing step stops the run with exit 3, naming the step and its
//! last lines. `[scenarios]` maps a shipped scenario's name to the app's own
//! file, which runs under that name (and which calibrate pairs by it).

use std::path::Path;
use std::process::Command;

use crate::helpers::python3;
use crate::retry::GOOD_APP;
use crate::support::{only_run_dir, repo};

/// A target file in `dir` for the good app with `prepare` (TOML) after
/// its `[run]` table; `oomlab run` of it on `tiny`: exit code, output and
/// the run folder, if one was written.
fn run(dir: &Path, prepare: &str) -> (Option<i32>, String, Option<std::path::PathBuf>) {
    std::fs::write(dir.join("app.py"), GOOD_APP).unwrap();
    let target = dir.join("prepared.toml");
    std::fs::write(
        &target,
        format!(
            r#"name = "prepared"
[run]
working_dir = "{}"
command = ["python3", "app.py", "{{port}}"]
env = {{ FROM_RUN = "run-env" }}
{prepare}
[readiness]
path = "/healthz"
timeout_s = 20
"#,
            dir.display()
        ),
    )
    .unwrap();
    let out = dir.join("reports");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--scenario", "tiny", "--quiet", "--target"])
        .arg(&target)
        .arg("--out")
        .arg(&out)
        .current_dir(repo(""))
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let folder = out.is_dir().then(|| only_run_dir(&out));
    (o.status.code(), text, folder)
}

#[test]
fn prepare_steps_run_before_the_app_in_order_with_placeholders_and_env() {
    if !python3("prepare_steps_run_before_the_app") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, text, folder) = run(
        dir.path(),
        r#"[[prepare]]
command = ["sh", "-c", "echo $FROM_RUN $OWN > {data_dir}/first"]
env = { OWN = "own-env" }
[[prepare]]
command = ["sh", "-c", "cp {data_dir}/first {data_dir}/second; echo made the second"]
"#,
    );
    assert_eq!(code, Some(0), "{text}");
    let folder = folder.unwrap();
    let second = std::fs::read_to_string(folder.join("server-data/second")).unwrap();
    assert_eq!(second, "run-env own-env\n");
    let log = std::fs::read_to_string(folder.join("server.log")).unwrap();
    assert!(log.contains("[oomlab] [[prepare]] step 2"), "{log}");
    assert!(log.contains("made the second"), "{log}");
}

#[test]
fn a_failing_prepare_step_stops_the_run_with_exit_3_naming_it() {
    if !python3("a_failing_prepare_step_stops_the_run") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, text, _) = run(
        dir.path(),
        r#"[[prepare]]
command = ["sh", "-c", "echo creating the user; echo 'no such table: users' >&2; exit 1"]
"#,
    );
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("[[prepare]] step 1 (`sh -c echo creating the user"),
        "{text}"
    );
    assert!(text.contains("no such table: users"), "{text}");
}

#[test]
fn a_prepare_step_with_an_unknown_placeholder_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text, folder) = run(
        dir.path(),
        r#"[[prepare]]
command = ["sh", "-c", "cp -r app {data_folder}"]
"#,
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("prepare.command") && text.contains("data_folder"),
        "{text}"
    );
    assert!(folder.is_none(), "nothing ran");
}

#[test]
fn a_target_runs_its_own_scenario_file_under_the_shipped_name() {
    if !python3("a_target_runs_its_own_scenario_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("my-tiny.toml");
    let tiny = std::fs::read_to_string(repo("scenarios/tiny.toml")).unwrap();
    std::fs::write(&own, tiny.replace("iterations = 1", "iterations = 2")).unwrap();
    let (code, text, folder) = run(
        dir.path(),
        &format!("[scenarios]\ntiny = \"{}\"\n", own.display()),
    );
    assert_eq!(code, Some(0), "{text}");
    let doc = crate::support::read_run_json(&folder.unwrap());
    assert_eq!(doc["scenario"]["name"], "tiny");
    assert_eq!(doc["scenario"]["path"], own.display().to_string());
    assert_eq!(
        doc["load"]["submissions_acknowledged"], 2,
        "the app's own file ran"
    );
}

#[test]
fn calibrate_refuses_a_scenario_file_the_target_does_not_map_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), GOOD_APP).unwrap();
    let target = dir.path().join("t.toml");
    std::fs::write(
        &target,
        format!(
            "name = \"t\"\n[run]\nworking_dir = \"{}\"\ncommand = [\"python3\", \"app.py\", \"{{port}}\"]\n[readiness]\npath = \"/healthz\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let own = dir.path().join("mine.toml");
    std::fs::copy(repo("scenarios/tiny.toml"), &own).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["calibrate", "--profile", "lean", "--target"])
        .arg(&target)
        .arg("--scenario")
        .arg(&own)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .current_dir(repo(""))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not map it in its [scenarios]") && stderr.contains("single-report"),
        "{stderr}"
    );
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}
