//! `compare` and `plan` (through the matrix runner) run a cell whose target
//! crashed before it was ready once more, and say so; a cell that crashes
//! before it is ready twice is a failed cell, not a configuration that
//! does not hold.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A Python app with the reference server's HTTP shape whose jobs complete
/// at once, with reports that start as a PDF and an xlsx do.
pub(crate) const GOOD_APP: &str = r#"
import http.server, json, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, {"ok": True})
        if self.path.startswith("/api/jobs/1/report."):
            # The file each name says it is (the load checks the start).
            magic = b"%PDF-1.4\n" if self.path.endswith(".pdf") else b"PK\x03\x04"
            return self.answer(200, magic + b"%" * 1000, "application/octet-stream")
        self.answer(200, {"job_id": 1, "status": "completed", "progress": 100})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/api/photos":
            return self.answer(200, {"url": "http://cdn.test/demo/image/upload/p.jpg", "public_id": "p"})
        self.answer(202, {"submission_id": 1, "job_id": 1, "status_url": "/api/jobs/1"})

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

/// A target file in `dir` whose command is `script` (sh).
fn target(dir: &Path, name: &str, script: &str) -> PathBuf {
    std::fs::write(dir.join("app.py"), GOOD_APP).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "{name}"
[run]
working_dir = "{}"
command = ["sh", "-c", "{script}"]
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

/// `oomlab compare --target <file> --scenario tiny`: its output and the
/// compare folder.
fn compare(target: &Path, out: &Path) -> (String, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["compare", "--scenario", "tiny", "--quiet", "--target"])
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
        .map(|e| e.path())
        .find(|p| p.join("compare.md").is_file())
        .unwrap_or_else(|| panic!("no compare folder: {text}"));
    (text, dir)
}

/// Every run.json under `dir`.
fn runs(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "run.json") {
                out.push(serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_cell_whose_target_crashed_before_it_was_ready_is_run_once_more() {
    if !crate::helpers::python3("a_cell_whose_target_crashed_before_it_was_ready_is_run_once_more")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // The first start crashes; the next one serves.
    let t = target(
        work.path(),
        "crashes-once",
        "if [ -e crashed-once ]; then exec python3 app.py {port}; else touch crashed-once; kill -SEGV $$; fi",
    );
    let out = work.path().join("out");
    let (text, dir) = compare(&t, &out);
    let md = std::fs::read_to_string(dir.join("compare.md")).unwrap();
    assert!(
        md.contains("crashed before it was ready (signal 11 (SIGSEGV)")
            && md.contains("retried once"),
        "{md}\n{text}"
    );
    assert!(!md.contains("the run failed"), "{md}");
    let runs = runs(&dir);
    assert_eq!(runs.len(), 2, "the crashed attempt and the retry");
    let crashed: Vec<_> = runs
        .iter()
        .filter(|r| r["verdict"]["outcome"] == "crashed")
        .collect();
    assert_eq!(crashed.len(), 1, "{runs:?}");
    let retry = runs
        .iter()
        .find(|r| r["verdict"]["outcome"] != "crashed")
        .unwrap();
    assert_eq!(retry["verdict"]["outcome"], "within_limit", "{retry}");
    assert!(
        retry["limit"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("this run is a retry")),
        "{}",
        retry["limit"]
    );
}

#[test]
fn a_cell_that_crashes_before_it_is_ready_twice_is_a_failed_cell() {
    let work = tempfile::tempdir().unwrap();
    let t = target(work.path(), "always-crashes", "kill -SEGV $$");
    let out = work.path().join("out");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["compare", "--scenario", "tiny", "--target"])
        .arg(&t)
        .arg("--out")
        .arg(&out)
        .current_dir(&root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Its only cell failed: no table, and the harness's exit code.
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("retried once"), "{stderr}");
    assert!(
        stderr.contains("crashed before it was ready twice")
            && stderr.contains("is not in the table"),
        "{stderr}"
    );
    // Both attempts left their report.
    let runs = runs(&out);
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["verdict"]["outcome"] == "crashed"));
}
