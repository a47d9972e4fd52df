//! `--oom-kill kernel|tree`: the kill as a container's kernel makes it, or
//! as a platform restarting the instance. The target is a small prefork
//! app in Python, shaped as gunicorn is: a master that forks a worker and
//! starts another when it dies; the worker takes a submission, writes the
//! job's status ("processing") to a file, as an app's database would, and
//! allocates past the limit while it builds the "report". Killed, the
//! worker takes the job with it and the status never moves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helpers::python3;
use crate::support::run_json;

const PREFORK_APP: &str = r#"
import http.server, json, os, socket, sys, threading, time

port, state = int(sys.argv[1]), sys.argv[2]
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(64)

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
        job = self.path.rsplit("/", 1)[-1]
        try:
            status = open(os.path.join(state, job)).read()
        except OSError:
            return self.answer(404, {"error": "no such job"})
        self.answer(200, {"job_id": int(job), "status": status})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/api/photos":
            return self.answer(200, {"url": "http://cdn.test/demo/image/upload/p.jpg", "public_id": "p"})
        open(os.path.join(state, "1"), "w").write("processing")
        threading.Thread(target=build, daemon=True).start()
        self.answer(202, {"submission_id": 1, "job_id": 1, "status_url": "/api/jobs/1"})

def build():
    # Written pages, 16 MiB at a time: resident, as a decoded photo is.
    held = []
    for _ in range(40):
        held.append(b"\x01" * (16 << 20))
        time.sleep(0.05)
    time.sleep(600)

def serve():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
    server.socket = sock
    server.serve_forever()

for _ in range(5):
    pid = os.fork()
    if pid == 0:
        serve()
        os._exit(0)
    os.waitpid(pid, 0)
"#;

/// A target file in `dir` for the prefork app.
fn target(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("app.py"), PREFORK_APP).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let path = dir.join("prefork.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "prefork"
[run]
working_dir = "{}"
command = ["python3", "app.py", "{{port}}", "state"]
[readiness]
path = "/healthz"
timeout_s = 20
"#,
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// `oomlab run` of the prefork app on `tiny` at 160 MiB with `extra`:
/// its exit code, output, run.json and wall time.
fn run(extra: &[&str]) -> (Option<i32>, String, serde_json::Value, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    let out = dir.path().join("reports");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--scenario", "tiny", "--quiet", "--limit", "160MiB"])
        .args(["--lost-after", "2s", "--max-duration", "90s", "--target"])
        .arg(&target)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .current_dir(&root)
        .output()
        .unwrap();
    let wall = t.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.is_dir(), "no report folder: {text}");
    let (_, run) = run_json(&out);
    (o.status.code(), text, run, wall)
}

#[test]
fn the_kernel_mode_kills_the_worker_only_records_the_respawn_and_ends_on_the_lost_job() {
    if !python3("the_kernel_mode_kills_the_worker_only") {
        return;
    }
    let (code, text, run, wall) = run(&["--oom-kill", "kernel"]);
    assert_eq!(code, Some(1), "{text}");
    let kill = &run["oom_events"][0];
    assert_eq!(kill["killed"], true, "{text}");
    let victim = kill["victim"]["pid"]
        .as_u64()
        .expect("a victim, not the tree");
    let processes = run["services"][0]["processes"].as_array().unwrap();
    let ended = processes
        .iter()
        .find(|p| p["change"] == "ended")
        .expect("the worker's end is an event");
    assert_eq!(ended["pid"].as_u64(), Some(victim));
    assert_eq!(ended["killed_by"], "watchdog");
    assert!(
        processes
            .iter()
            .any(|p| p["change"] == "started" && p["pid"].as_u64() != Some(victim)),
        "the master's new worker is an event: {processes:?}"
    );
    assert_eq!(run["load"]["jobs_lost"], 1, "{text}");
    assert_eq!(run["jobs"][0]["status"], "lost");
    // The master lived on: one start of the service, not a crash.
    assert_eq!(run["server"]["starts"], 1);
    let summary = run["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("the watchdog killed python3") && summary.contains("1 job lost"),
        "{summary}"
    );
    assert!(summary.contains("then started: python3"), "{summary}");
    // Ended promptly: within 10 s of the kill, not at the job's deadline.
    let at = kill["at_s"].as_f64().unwrap();
    let duration = run["duration_s"].as_f64().unwrap();
    assert!(
        duration - at < 10.0,
        "ended {:.1} s after the kill",
        duration - at
    );
    assert!(wall < Duration::from_secs(60), "{wall:?}");
}

#[test]
fn the_tree_mode_kills_master_and_worker_together() {
    if !python3("the_tree_mode_kills_master_and_worker_together") {
        return;
    }
    let (code, text, run, _) = run(&["--oom-kill", "tree"]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(run["oom_events"][0]["killed"], true);
    assert!(run["oom_events"][0].get("victim").is_none(), "{text}");
    assert_eq!(run["server"]["exits"][0]["cause"], "watchdog", "{text}");
    let processes = run["services"][0]["processes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !processes.iter().any(|p| p["change"] == "started"),
        "nothing respawned: {processes:?}"
    );
    assert_eq!(run["limit"]["oom_kill"], "tree");
}
