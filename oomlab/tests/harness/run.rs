//! `oomlab run` end to end: the real binary, the real server (its own binary
//! in serve mode), the fake Cloudinary and the `tiny` scenario.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::alive;
use crate::support::assert_valid_run_json;

fn repo(p: &str) -> String {
    format!("{}/../{p}", env!("CARGO_MANIFEST_DIR"))
}

fn oomlab_run(out: &Path, profile: &str, limit: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oomlab"));
    c.args([
        "run",
        "--profile",
        &repo(&format!("profiles/{profile}.toml")),
    ])
    .args(["--scenario", &repo("scenarios/tiny.toml")])
    .args(["--limit", limit, "--max-duration", "120s", "--out"])
    .arg(out)
    .args(extra)
    .stdin(Stdio::null());
    c
}

/// The one run folder below `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn read_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_run_within_the_limit_exits_0_and_writes_every_output_valid_against_the_schema() {
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(out.path(), "lean", "512MiB", &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let dir = run_dir(out.path());
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-lean-tiny"), "{name}");
    let doc = read_json(&dir);
    assert_valid_run_json(&doc);
    assert_eq!(doc["verdict"]["outcome"], "within_limit");
    assert_eq!(doc["load"]["jobs_completed"], 1);
    assert!(doc["peaks"]["vmhwm_bytes"].as_u64().unwrap() > 0);
    for f in ["samples.csv", "report.md", "memory.svg", "server.log"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("**Verdict:** within the limit"), "{md}");
    assert!(
        std::fs::read_to_string(dir.join("memory.svg"))
            .unwrap()
            .contains("<svg")
    );
    let csv = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
    assert!(csv.lines().count() > 10, "samples every 10 ms");
}

#[test]
fn a_run_over_the_limit_is_killed_exits_1_and_still_leaves_its_evidence() {
    let out = tempfile::tempdir().unwrap();
    // Any server is above 8 MiB once ready: killed at the first samples.
    let o = oomlab_run(out.path(), "lean", "8MiB", &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let dir = run_dir(out.path());
    let doc = read_json(&dir);
    assert_valid_run_json(&doc);
    assert_eq!(doc["verdict"]["outcome"], "killed");
    assert!(
        doc["verdict"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("killed at ")
    );
    assert_eq!(doc["oom_events"][0]["killed"], true);
    assert_eq!(doc["server"]["exits"][0]["cause"], "watchdog");
    assert!(String::from_utf8_lossy(&o.stdout).contains("killed at "));
}

#[test]
fn restart_on_oom_restarts_the_server_and_counts_its_starts() {
    // At 8 MiB each start is killed at its first samples. Whether the load
    // is still going when the first kill lands (so that there is something
    // to restart for) is a race with the load's first failing request; try
    // up to three runs for one in which it was, and judge that one.
    let mut attempt = 0;
    let out = loop {
        attempt += 1;
        let out = tempfile::tempdir().unwrap();
        let o = oomlab_run(
            out.path(),
            "lean",
            "8MiB",
            &["--restart", "on-oom", "--max-restarts", "2"],
        )
        .output()
        .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let doc = read_json(&run_dir(out.path()));
        if doc["server"]["starts"].as_u64().unwrap_or(0) >= 2 || attempt == 3 {
            break out;
        }
    };
    let doc = read_json(&run_dir(out.path()));
    assert_valid_run_json(&doc);
    // Each start is killed at its first samples; the load may end (its
    // requests failing) before the restarts run out.
    let starts = doc["server"]["starts"].as_u64().unwrap();
    assert!((2..=3).contains(&starts), "{starts} starts");
    let exits = doc["server"]["exits"].as_array().unwrap();
    let kills = exits.iter().filter(|x| x["cause"] == "watchdog").count();
    assert!(kills >= 1, "{exits:?}");
    assert_eq!(doc["oom_events"].as_array().unwrap().len(), kills);
    let gens: Vec<u64> = exits
        .iter()
        .map(|x| x["generation"].as_u64().unwrap())
        .collect();
    assert_eq!(
        gens,
        (0..gens.len() as u64).collect::<Vec<_>>(),
        "one exit per start"
    );
}

/// The server's pid from the ready line in `server.log`, within 60 s.
fn server_pid(out: &Path, harness: &mut Child) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        assert!(
            harness.try_wait().unwrap().is_none(),
            "the harness exited early"
        );
        if let Some(dir) = std::fs::read_dir(out).unwrap().flatten().next() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.contains("\"ready\"")) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                return v["pid"].as_u64().unwrap() as u32;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the server never got ready");
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

#[test]
fn a_harness_killed_with_sigkill_leaves_no_server_behind() {
    let out = tempfile::tempdir().unwrap();
    let mut harness = oomlab_run(out.path(), "lean", "512MiB", &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server_pid(out.path(), &mut harness);
    harness.kill().unwrap(); // SIGKILL: no destructor runs
    harness.wait().unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "server {pid} outlived the harness"
    );
}

#[test]
fn sigterm_stops_the_run_writes_the_report_and_leaves_no_server_behind() {
    let out = tempfile::tempdir().unwrap();
    let mut harness = oomlab_run(out.path(), "lean", "512MiB", &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server_pid(out.path(), &mut harness);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(harness.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = harness.wait().unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "server {pid} outlived the harness"
    );
    let dir = run_dir(out.path());
    // Stopped while the load was running (3), or it had just finished (0).
    let code = status.code();
    assert!(code == Some(3) || code == Some(0), "{status:?}");
    assert_valid_run_json(&read_json(&dir));
}

/// `--cpus`: the quota is recorded in run.json (valid against the schema),
/// or, where no CPU cgroup can be made, why the CPU was not limited.
#[test]
fn a_cpu_limited_run_records_how_the_cpu_was_limited() {
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(out.path(), "lean", "512MiB", &["--cpus", "0.5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let doc = read_json(&run_dir(out.path()));
    assert_valid_run_json(&doc);
    let cpu = &doc["limit"]["cpu"];
    assert_eq!(cpu["cpus"], 0.5);
    if cpu["limited"] == true {
        assert_eq!(cpu["quota_us"], 50_000);
        assert_eq!(cpu["period_us"], 100_000);
        let cg = std::path::PathBuf::from(cpu["cgroup"].as_str().unwrap());
        assert!(
            !cg.exists(),
            "the CPU cgroup {} is left behind",
            cg.display()
        );
    } else {
        let why = cpu["why_not"].as_str().unwrap();
        assert!(stderr.contains("CPU was not limited"), "{stderr}");
        eprintln!("CPU was not limited here: {why}");
    }
}

#[test]
fn a_bad_cpu_share_exits_2_and_names_the_flag() {
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(out.path(), "lean", "512MiB", &["--cpus", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--cpus"), "{stderr}");
}
