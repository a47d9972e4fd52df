//! The watchdog kills at the limit, including a spike between two samples.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use oomlab::sampler::{Sampler, Shared, Watched};
use oomlab::watchdog::{Enforce, Trigger};

use crate::helpers::{MIB, python_server, start};

#[tokio::test]
async fn the_watchdog_kills_a_server_that_grows_past_the_limit() {
    if !crate::helpers::python3("the_watchdog_kills_a_server_that_grows_past_the_limit") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Grows by 8 MiB every 20 ms after ready, up to 256 MiB.
    let mut cmd = python_server(dir.path(), "");
    let script = "import json, os, time\nprint(json.dumps({'event': 'ready', 'addr': '127.0.0.1:9', 'pid': os.getpid()}), flush=True)\nheld = []\nfor _ in range(32):\n    held.append(bytearray(8 << 20))\n    time.sleep(0.02)\ntime.sleep(600)\n";
    cmd.args = vec!["-c".into(), script.into()];
    let mut server = start(&cmd).await;
    let shared = Shared::new(64 * MIB, Enforce::Watchdog, &dir.path().join("samples.csv")).unwrap();
    let sampler = Sampler::start(
        shared.clone(),
        Watched {
            pid: server.pid(),
            generation: 0,
            cgroup: None,
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("killed within 30 s")
        .unwrap();
    assert!(sampler.killed());
    sampler.stop();
    assert_eq!(status.signal(), Some(9), "SIGKILL, as the platform does");
    let st = shared.state();
    assert_eq!(st.oom_events.len(), 1);
    let e = &st.oom_events[0];
    assert!(e.killed);
    assert!(
        e.bytes() > 64 * MIB,
        "the event records the memory over the limit"
    );
    // It was caught early, far below the 256 MiB it grows to: within a few
    // 8 MiB steps (one is the rule; the bound is generous because the test
    // binary runs beside other tests on 2 loaded cores, which can delay the
    // sampler's thread by tens of milliseconds).
    assert!(
        e.bytes() < 64 * MIB + 64 * MIB,
        "caught late: {} bytes",
        e.bytes()
    );
    // Samples were written to disk as they were taken.
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    assert!(csv.lines().count() >= 2, "{csv}");
    assert!(csv.starts_with("t_s,generation,rss_bytes"));
}

#[tokio::test]
async fn a_spike_that_falls_before_the_next_sample_is_caught_by_the_high_water_mark() {
    if !crate::helpers::python3(
        "a_spike_that_falls_before_the_next_sample_is_caught_by_the_high_water_mark",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The spike happens and is freed before the ready line, so no sample can
    // see it in RSS: only VmHWM remembers it.
    let cmd = python_server(
        dir.path(),
        "b = bytearray(160 << 20)\nb[::4096] = b'x' * len(b[::4096])\ndel b",
    );
    let mut server = start(&cmd).await;
    let rss_now = memstats::read_proc_memory(server.pid(), false).unwrap();
    assert!(
        rss_now.rss < 64 * MIB,
        "the spike is gone from RSS: {rss_now:?}"
    );
    assert!(
        rss_now.hwm > 160 * MIB,
        "and remembered by VmHWM: {rss_now:?}"
    );
    let shared = Shared::new(64 * MIB, Enforce::Watchdog, &dir.path().join("samples.csv")).unwrap();
    let sampler = Sampler::start(
        shared.clone(),
        Watched {
            pid: server.pid(),
            generation: 0,
            cgroup: None,
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("killed within 30 s")
        .unwrap();
    sampler.stop();
    assert_eq!(status.signal(), Some(9));
    let st = shared.state();
    assert_eq!(st.oom_events[0].trigger, Trigger::Vmhwm);
    assert!(st.oom_events[0].vmhwm_bytes > 160 * MIB);
}

#[tokio::test]
async fn with_enforcement_off_the_crossing_is_recorded_and_nothing_is_killed() {
    if !crate::helpers::python3(
        "with_enforcement_off_the_crossing_is_recorded_and_nothing_is_killed",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cmd = python_server(dir.path(), "b = bytearray(96 << 20)");
    let server = start(&cmd).await;
    let shared = Shared::new(64 * MIB, Enforce::Off, &dir.path().join("samples.csv")).unwrap();
    let sampler = Sampler::start(
        shared.clone(),
        Watched {
            pid: server.pid(),
            generation: 0,
            cgroup: None,
        },
    );
    let seen = crate::helpers::eventually(Duration::from_secs(10), || {
        !shared.state().oom_events.is_empty()
    })
    .await;
    assert!(seen, "the crossing is recorded");
    assert!(!sampler.killed());
    assert!(crate::helpers::alive(server.pid()), "the server lives on");
    sampler.stop();
    assert!(!shared.state().oom_events[0].killed);
}

#[tokio::test]
async fn in_a_memory_cgroup_the_kernel_kills_at_the_limit() {
    if !crate::helpers::python3("in_a_memory_cgroup_the_kernel_kills_at_the_limit") {
        return;
    }
    let name = format!("oomlab-test-{}", std::process::id());
    let cg = match oomlab::cgroup::MemoryCgroup::create(&name, 64 * MIB) {
        Ok(cg) => std::sync::Arc::new(cg),
        Err(why) => {
            eprintln!("skipped: no memory cgroup here: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = python_server(dir.path(), "");
    let script = "import json, os, time\nprint(json.dumps({'event': 'ready', 'addr': '127.0.0.1:9', 'pid': os.getpid()}), flush=True)\nheld = []\nfor _ in range(32):\n    held.append(bytearray(8 << 20))\n    time.sleep(0.02)\ntime.sleep(600)\n";
    cmd.args = vec!["-c".into(), script.into()];
    let mut server = oomlab::child::ServerProcess::start(
        &cmd,
        Duration::from_secs(20),
        Some(cg.procs_file().unwrap()),
    )
    .await
    .unwrap();
    // The child joined the cgroup before exec; the harness did not move.
    let procs = std::fs::read_to_string(cg.path().join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == server.pid().to_string()),
        "{procs}"
    );
    assert!(
        !procs
            .lines()
            .any(|l| l.trim() == std::process::id().to_string())
    );
    let shared = Shared::new(64 * MIB, Enforce::Cgroup, &dir.path().join("samples.csv")).unwrap();
    let sampler = Sampler::start(
        shared.clone(),
        Watched {
            pid: server.pid(),
            generation: 0,
            cgroup: Some(cg.clone()),
        },
    );
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("killed within 30 s")
        .unwrap();
    assert_eq!(status.signal(), Some(9));
    let seen = crate::helpers::eventually(Duration::from_secs(5), || {
        shared
            .state()
            .oom_events
            .iter()
            .any(|e| e.trigger == Trigger::Cgroup)
    })
    .await;
    sampler.stop();
    assert!(seen, "the cgroup's OOM kill is recorded");
    let reading = cg.read().unwrap();
    assert!(reading.oom_kills >= 1);
    assert!(reading.peak_bytes.unwrap() <= 64 * MIB);
    drop(server);
}
