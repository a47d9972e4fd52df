//! A target that crashes: run.json and report.md say how (signal, time,
//! stage, jobs in flight, last lines, core file), apart from an OOM kill.
//! The targets are target files (`--target FILE`): a shell that sends
//! itself SIGSEGV while starting, and a small Python app that acknowledges a
//! submission and then sends itself SIGSEGV while the load waits on it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `oomlab run --target <file> --scenario tiny` from the workspace root;
/// returns the run's folder and the exit code.
fn run_target(target: &Path, out: &Path) -> (PathBuf, Option<i32>, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--scenario", "tiny", "--quiet", "--target"])
        .arg(target)
        .arg("--out")
        .arg(out)
        .current_dir(&root)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("no run folder: {text}"))
        .path();
    (dir, o.status.code(), text)
}

fn read_run(dir: &Path) -> (serde_json::Value, String) {
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    (serde_json::from_str(&json).unwrap(), md)
}

/// The core: where this machine's kernel.core_pattern sends it.
fn check_core(crash: &serde_json::Value, run_dir: &Path, cwd: &Path) {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let core = &crash["core"];
    if !crash["core_dumped"].as_bool().unwrap() {
        // RLIMIT_CORE could not be raised here (hard limit 0): said so.
        assert_eq!(core["kind"], "not_written", "{crash}");
    } else if pattern.starts_with('|') {
        assert_eq!(core["kind"], "piped", "{crash}");
        assert!(pattern.contains(core["handler"].as_str().unwrap()));
    } else if pattern.trim() == "core" {
        // Written into the target's working folder, moved into the run's.
        assert_eq!(core["kind"], "written", "{crash}");
        let path = PathBuf::from(core["path"].as_str().unwrap());
        assert!(path.starts_with(run_dir) && path.is_file(), "{crash}");
        assert!(!cwd.join("core").exists());
    } else {
        assert!(
            ["written", "not_found"].contains(&core["kind"].as_str().unwrap()),
            "{crash}"
        );
    }
}

fn schema_accepts(run: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/run.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(run)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn a_target_that_segfaults_while_starting_gets_a_crash_section() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("segv-at-start.toml");
    std::fs::write(
        &target,
        format!(
            r#"name = "segv-at-start"
[run]
working_dir = "{}"
command = ["sh", "-c", "echo 'starting on {{port}}'; echo 'about to crash' >&2; kill -SEGV $$"]
[readiness]
log_regex = "never printed"
timeout_s = 20
"#,
            work.path().display()
        ),
    )
    .unwrap();
    let out = work.path().join("out");
    let (dir, code, text) = run_target(&target, &out);
    assert_eq!(code, Some(1), "{text}");
    let (run, md) = read_run(&dir);
    schema_accepts(&run);
    assert_eq!(run["verdict"]["outcome"], "crashed", "{run}");
    let summary = run["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("before it was ready") && summary.contains("SIGSEGV"),
        "{summary}"
    );
    assert!(run["oom_events"].as_array().unwrap().is_empty());
    let exit = &run["server"]["exits"][0];
    assert_eq!(exit["cause"], "crashed");
    let crash = &exit["crash"];
    assert_eq!(crash["signal"]["number"], 11, "{crash}");
    assert_eq!(crash["signal"]["name"], "SIGSEGV");
    assert_eq!(crash["before_ready"], true);
    let lines: Vec<&str> = crash["last_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("starting on")),
        "{lines:?}"
    );
    assert!(lines.contains(&"about to crash"), "{lines:?}");
    check_core(crash, &dir, work.path());

    assert!(md.contains("## Crash (start 0)"), "{md}");
    assert!(md.contains("- signal: 11 (SIGSEGV)"), "{md}");
    assert!(md.contains("before it was ready"), "{md}");
    assert!(md.contains("about to crash"), "{md}");
    assert!(md.contains("not the harness's kill"), "{md}");
}

/// A Python app with the reference server's HTTP shape that acknowledges a
/// submission, keeps its job `processing`, and sends itself SIGSEGV a
/// second later.
const CRASHING_APP: &str = r#"
import http.server, json, os, signal, sys, threading

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, {"ok": True})
        self.answer(200, {"job_id": 1, "status": "processing", "progress": 30})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/api/photos":
            return self.answer(200, {"url": "http://cdn.test/demo/image/upload/p.jpg", "public_id": "p"})
        print("job 1 acknowledged; crashing in 1 s", flush=True)
        threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGSEGV)).start()
        self.answer(202, {"submission_id": 1, "job_id": 1, "status_url": "/api/jobs/1"})

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

#[test]
fn a_target_that_segfaults_under_load_names_the_jobs_in_flight() {
    if !crate::helpers::python3("a_target_that_segfaults_under_load_names_the_jobs_in_flight") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("app.py"), CRASHING_APP).unwrap();
    let target = work.path().join("segv-under-load.toml");
    std::fs::write(
        &target,
        format!(
            r#"name = "segv-under-load"
[run]
working_dir = "{}"
command = ["python3", "app.py", "{{port}}"]
[readiness]
path = "/healthz"
timeout_s = 20
"#,
            work.path().display()
        ),
    )
    .unwrap();
    let out = work.path().join("out");
    let (dir, code, text) = run_target(&target, &out);
    assert_eq!(code, Some(1), "{text}");
    let (run, md) = read_run(&dir);
    schema_accepts(&run);
    assert_eq!(run["verdict"]["outcome"], "crashed", "{run}");
    assert!(run["oom_events"].as_array().unwrap().is_empty());
    let crash = &run["server"]["exits"][0]["crash"];
    assert_eq!(crash["signal"]["name"], "SIGSEGV", "{crash}");
    assert_eq!(crash["before_ready"], false);
    // The app publishes no /debug/memory: the load's view of job 1.
    let jobs = crash["jobs_in_flight"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{crash}");
    assert_eq!(jobs[0]["job_id"], 1);
    assert!(
        crash["last_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "job 1 acknowledged; crashing in 1 s"),
        "{crash}"
    );
    check_core(crash, &dir, work.path());
    assert!(md.contains("## Crash (start 0)"), "{md}");
    assert!(md.contains("after it was ready"), "{md}");
    assert!(md.contains("job 1: stage awaiting its report"), "{md}");
}
