//! A target's `[[prepare]]` steps: run before the app starts, with the
//! placeholders filled and their output in the run's log; a failing step
//! stops the run with exit 3, naming the step and its last lines.

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
