//! Issue 17's stress test, short: the reference server started and stopped
//! back to back the way `plan` does, every other start in a CPU cgroup when
//! one can be made (`oomlab::stress`). The long version is
//! `examples/start_stop.rs --cycles 500` (README, development).

use std::path::{Path, PathBuf};
use std::time::Duration;

use oomlab::app_target::Target;
use oomlab::stress::{self, StressConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_and_stops_fifty_times_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = tempfile::tempdir().unwrap();
    let cfg = StressConfig {
        target: Target::reference(&root.join("profiles/resize.toml"), None).unwrap(),
        // The test binary has no `serve` mode; oomlab's own binary has.
        program: Some(PathBuf::from(env!("CARGO_BIN_EXE_oomlab"))),
        // As plan's `-w2` configurations.
        env: vec![("REPORT_SERVER__WORKERS".into(), "2".into())],
        cycles: 50,
        // A bound, not an expectation: a debug build on a busy machine.
        max_duration: Duration::from_secs(120),
        cpus: Some(0.5),
        ready_timeout: Duration::from_secs(30),
        stop_grace: Duration::from_secs(5),
        dir: work.path().to_path_buf(),
        busy_threads: 1,
    };
    let report = stress::run(&cfg).await.unwrap();
    let summary = report.summary();
    eprintln!("{summary}");
    assert!(report.crashes.is_empty(), "{summary}");
    assert!(report.failures.is_empty(), "{summary}");
    assert!(report.cycles >= 10, "{summary}");
    assert_eq!(report.ready.len() as u32, report.cycles, "{summary}");
    // Clean cycles leave nothing behind.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}
