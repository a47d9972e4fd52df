//! `--cpus`: a CPU cgroup below the harness's own holds the server to its
//! share.

use std::time::{Duration, Instant};

use oomlab::cgroup::CpuCgroup;
use oomlab::child::ServerProcess;

use crate::helpers::python_server;

/// User plus system CPU time of `pid`, seconds (`/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command in parentheses; utime and stime are fields
    // 14 and 15, i.e. 12 and 13 after the state.
    let rest: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    let hz: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    ticks as f64 / hz
}

#[tokio::test]
async fn a_cpu_limited_server_gets_about_its_share() {
    if !crate::helpers::python3("a_cpu_limited_server_gets_about_its_share") {
        return;
    }
    let share = 0.2;
    let name = format!("oomlab-test-cpu-{}", std::process::id());
    let cg = match CpuCgroup::create(&name, share) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipped: no CPU cgroup can be made here: {why}");
            return;
        }
    };
    let path = cg.path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = python_server(dir.path(), "");
    // Ready at once, then a busy loop: unlimited it would use a whole core.
    let script = "import json, os\nprint(json.dumps({'event': 'ready', 'addr': '127.0.0.1:9', 'pid': os.getpid()}), flush=True)\nwhile True:\n    pass\n";
    cmd.args = vec!["-c".into(), script.into()];
    let mut server = ServerProcess::start_in(
        &cmd,
        Duration::from_secs(20),
        vec![cg.procs_file().unwrap()],
    )
    .await
    .expect("the busy child starts");
    let pid = server.pid();
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&name), "the child is not in {name}:\n{own}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let used = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    let report = cg.report();
    server.kill();
    server.wait().await.unwrap();
    drop(cg);

    // Generous bounds: other tests share the machine, so it may get less
    // than its share, but never much more (unlimited: about 1.0).
    assert!(
        used > 0.03 && used < share * 1.6,
        "the child used {used:.2} cores with a share of {share}"
    );
    assert!(report.limited);
    assert_eq!(report.quota_us, Some(20_000));
    assert_eq!(report.period_us, Some(100_000));
    assert!(
        report.nr_throttled.unwrap_or(0) > 0,
        "a busy loop at 0.2 CPU is throttled: {report:?}"
    );
    assert!(
        !path.exists(),
        "the CPU cgroup {} is left behind",
        path.display()
    );
    eprintln!("a busy loop held to {share} CPU used {used:.3} cores");
}
