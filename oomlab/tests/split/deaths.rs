//! Deaths in a split run, as the platform would meet them: Redis, the
//! worker or the web service killed with SIGKILL from outside while the
//! load runs. Every death is noticed, named in the verdict by the process
//! that died first, and ends the run or (with `--restart always`) is
//! followed by a restart after which every acknowledged job completes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{repo, run_json};
use crate::{redis_available, service};

/// Three users, four small submissions each, a second apart: several
/// seconds of load with jobs in flight.
fn scenario(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("steady.toml");
    std::fs::write(
        &p,
        r#"name = "steady"
[users]
count = 3
iterations = 4
think_time_s = 1
job_timeout_s = 60
max_run_time_s = 90
[submission]
items = 1
photos_per_item = 2
photo_kind = "640x480-60k"
signatures = ["inspector"]
photos = "upload"
"#,
    )
    .unwrap();
    p
}

/// `oomlab run --split` of lean on the steady scenario, started.
fn start(out: &Path, scenario: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oomlab"))
        .args(["run", "--split", "--profile", &repo("profiles/lean.toml")])
        .arg("--scenario")
        .arg(scenario)
        .args(["--limit", "512MiB", "--max-duration", "120s", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(c) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// The child of `harness` whose command line contains `word` (`redis`,
/// `web`, `worker`), once the load has run for `after`.
fn find(harness: u32, word: &str, after: Duration) -> u32 {
    let t = Instant::now();
    std::thread::sleep(after);
    while t.elapsed() < Duration::from_secs(60) {
        for c in children(harness) {
            let cmd = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let hit = match word {
                "redis" => args
                    .first()
                    .is_some_and(|a| a.contains("redis") || a.contains("valkey")),
                role => args.iter().any(|a| a == role),
            };
            if hit {
                return c;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {word} process under {harness}");
}

fn sigkill(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// Waits for the run and reads its report: exit code, verdict line, run.json.
fn finish(child: Child, out: &Path) -> (Option<i32>, String, Value) {
    let o = child.wait_with_output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, doc) = run_json(out);
    let summary = doc["verdict"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (o.status.code(), format!("{summary}\n---\n{text}"), doc)
}

#[test]
fn redis_killed_from_outside_ends_the_run_at_once_and_is_named() {
    if !redis_available("redis_killed_from_outside_ends_the_run_at_once_and_is_named") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let child = start(&out, &scenario(dir.path()), &[]);
    let redis = find(child.id(), "redis", Duration::from_secs(4));
    sigkill(redis);
    let (code, text, doc) = finish(child, &out);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(doc["verdict"]["outcome"], "crashed", "{text}");
    assert!(text.contains("Redis died at"), "{text}");
    let death = &doc["split"]["redis"]["exits"][0];
    assert!(
        death["status"].as_str().unwrap().contains("SIGKILL"),
        "{death}"
    );
    assert_eq!(death["restarted"], false);
    // Noticed at once (Redis is the harness's child): the services were
    // stopped right after, the worker within its 5 s stop grace, not at
    // --max-duration (120 s) as before.
    let at = death["at_s"].as_f64().unwrap();
    let stopped = service(&doc, "worker")["exits"][0]["exited_at_s"]
        .as_f64()
        .unwrap();
    assert!(
        stopped - at < 2.0 + 5.0,
        "stopping began {:.1} s after",
        stopped - at
    );
}

#[test]
fn with_restart_always_redis_and_a_killed_worker_come_back_and_every_job_completes() {
    if !redis_available("with_restart_always_redis_and_a_killed_worker_come_back") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let child = start(&out, &scenario(dir.path()), &["--restart", "always"]);
    let worker = find(child.id(), "worker", Duration::from_secs(4));
    sigkill(worker);
    let redis = find(child.id(), "redis", Duration::from_secs(2));
    sigkill(redis);
    let (code, text, doc) = finish(child, &out);
    assert_eq!(code, Some(0), "{text}");
    let w = service(&doc, "worker");
    assert_eq!(w["starts"], 2, "{text}");
    assert_eq!(w["exits"][0]["cause"], "crashed", "{text}");
    assert_eq!(
        doc["split"]["redis"]["exits"][0]["restarted"], true,
        "{text}"
    );
    let jobs = &doc["split"]["jobs"];
    assert_eq!(jobs["acknowledged"], 12, "{text}");
    assert_eq!(jobs["completed"], jobs["acknowledged"], "{text}");
}

#[test]
fn the_web_service_killed_is_the_one_the_headline_names() {
    if !redis_available("the_web_service_killed_is_the_one_the_headline_names") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let child = start(&out, &scenario(dir.path()), &[]);
    let web = find(child.id(), "web", Duration::from_secs(4));
    sigkill(web);
    let (code, text, doc) = finish(child, &out);
    assert_eq!(code, Some(1), "{text}");
    let summary = doc["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("the web service crashed")
            || summary.starts_with("the web service exited"),
        "{summary}"
    );
    assert!(summary.contains("SIGKILL"), "{summary}");
    assert_eq!(service(&doc, "web")["exits"][0]["cause"], "crashed");
    assert_eq!(service(&doc, "worker")["exits"][0]["cause"], "stopped");
}
