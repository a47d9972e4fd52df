//! Starts and stops a target many times, back to back, the way `plan` and
//! `compare` do between their cells: the same child set-up
//! ([`ServerProcess::start_in`]: own process group, death signal, core
//! limit, cgroup placement between fork and exec), a fresh data folder per
//! start, a CPU cgroup below the harness's own made and removed around
//! every other start (when one can be made), the stop signal and then
//! SIGKILL after the grace. Any start that ends on its own (before it is
//! ready, while it is up, or by a signal other than the harness's while
//! stopping) is a crash, kept with its folder for a post-mortem.
//!
//! Bounded in count (`cycles`) and time (`max_duration`). The tool of
//! issue 17 (a SIGSEGV seen once while `plan` started the server):
//! `examples/start_stop.rs` runs it from the command line, and
//! `tests/harness/start_stop.rs` runs a short version in `cargo test`.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::app_target::{Placement, Target};
use crate::cgroup::CpuCgroup;
use crate::child::{ExitedBeforeReady, ServerProcess};
use crate::crash::Crash;

/// What to start and how often.
#[derive(Debug, Clone)]
pub struct StressConfig {
    /// The target.
    pub target: Target,
    /// Replaces the program of the target's command (e.g. the `oomlab`
    /// binary when the caller is not it, for the reference server's `serve`
    /// mode).
    pub program: Option<PathBuf>,
    /// Extra variables for the child (e.g. `REPORT_SERVER__WORKERS`).
    pub env: Vec<(String, String)>,
    /// Starts at most.
    pub cycles: u32,
    /// Stop starting new cycles after this long.
    pub max_duration: Duration,
    /// CPU share of the odd cycles' CPU cgroup; `None`: no CPU cgroup.
    pub cpus: Option<f64>,
    /// How long a start may take to be ready.
    pub ready_timeout: Duration,
    /// How long it gets after its stop signal.
    pub stop_grace: Duration,
    /// Where each cycle's folder (data and log) goes; clean cycles' folders
    /// are removed, crashed ones kept.
    pub dir: PathBuf,
    /// Threads of the harness that allocate and free while the cycles run,
    /// as the load, the fake Cloudinary and the sampler do during a `plan`:
    /// the forks then happen while other threads use the allocator.
    pub busy_threads: u32,
}

/// What the cycles showed.
#[derive(Debug, Clone, Default)]
pub struct StressReport {
    /// Cycles made.
    pub cycles: u32,
    /// Of which in a CPU cgroup.
    pub in_cpu_cgroup: u32,
    /// Why no CPU cgroup was used although one was asked for.
    pub cpu_cgroup_why_not: Option<String>,
    /// Starts that ended on their own, with their cycle and folder.
    pub crashes: Vec<(u32, PathBuf, Crash)>,
    /// Starts that failed otherwise (not ready in time, could not spawn),
    /// and stops that needed SIGKILL.
    pub failures: Vec<String>,
    /// Time to ready of each clean start.
    pub ready: Vec<Duration>,
    /// Wall-clock time of all cycles.
    pub elapsed: Duration,
    /// Whether `max_duration` cut the cycles short.
    pub timed_out: bool,
}

impl StressReport {
    /// One paragraph: cycles, crashes, failures, times to ready.
    pub fn summary(&self) -> String {
        let mut ready = self.ready.clone();
        ready.sort();
        let at = |q: f64| {
            ready
                .get(((ready.len() as f64 - 1.0) * q).round() as usize)
                .map_or("n/a".to_string(), |d| format!("{} ms", d.as_millis()))
        };
        let mut s = format!(
            "{} start/stop cycle(s) in {:.1} s ({} in a CPU cgroup, {} without){}: {} crash(es), {} other failure(s); ready after p50 {}, max {}",
            self.cycles,
            self.elapsed.as_secs_f64(),
            self.in_cpu_cgroup,
            self.cycles - self.in_cpu_cgroup,
            if self.timed_out {
                ", cut short by the time bound"
            } else {
                ""
            },
            self.crashes.len(),
            self.failures.len(),
            at(0.5),
            at(1.0),
        );
        if let Some(why) = &self.cpu_cgroup_why_not {
            s.push_str(&format!("; no CPU cgroup: {why}"));
        }
        for (n, dir, c) in &self.crashes {
            s.push_str(&format!(
                "\n- cycle {n}: {} ({}), {}; folder {}",
                c.how(),
                if c.before_ready {
                    "before it was ready"
                } else {
                    "after it was ready"
                },
                c.core_sentence(),
                dir.display()
            ));
        }
        for f in &self.failures {
            s.push_str(&format!("\n- {f}"));
        }
        s
    }
}

/// Runs the cycles. An error only when nothing can be started at all (the
/// folder cannot be made).
pub async fn run(cfg: &StressConfig) -> anyhow::Result<StressReport> {
    std::fs::create_dir_all(&cfg.dir)?;
    let started = Instant::now();
    let mut report = StressReport::default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let _busy = Busy::start(cfg.busy_threads);
    for n in 0..cfg.cycles {
        if started.elapsed() >= cfg.max_duration {
            report.timed_out = true;
            break;
        }
        let cpu = match cfg.cpus.filter(|_| n % 2 == 1) {
            Some(share) => {
                let name = format!("oomlab-stress-{}-{n}", std::process::id());
                match CpuCgroup::create(&name, share) {
                    Ok(cg) => Some(cg),
                    Err(why) => {
                        report.cpu_cgroup_why_not.get_or_insert(why);
                        None
                    }
                }
            }
            None => None,
        };
        report.in_cpu_cgroup += u32::from(cpu.is_some());
        let dir = cfg.dir.join(format!("cycle-{n}"));
        std::fs::create_dir_all(&dir)?;
        let clean = one(cfg, &client, &dir, n, cpu.as_ref(), &mut report).await;
        drop(cpu);
        if clean {
            let _ = std::fs::remove_dir_all(&dir);
        }
        report.cycles += 1;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Threads that allocate and free buffers of assorted sizes until dropped.
struct Busy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start(n: u32) -> Busy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..n)
            .map(|i| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(i);
                    let mut held: Vec<Vec<u8>> = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        // xorshift: sizes from 16 B to 1 MiB, up to 64 held.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let size = 16usize << (x % 17);
                        held.push(vec![(x & 0xff) as u8; size]);
                        if held.len() > 64 {
                            held.swap_remove((x >> 20) as usize % held.len());
                        }
                        if x.is_multiple_of(64) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One start, one look at it, one stop; `true` when all went as it should.
async fn one(
    cfg: &StressConfig,
    client: &reqwest::Client,
    dir: &std::path::Path,
    n: u32,
    cpu: Option<&CpuCgroup>,
    report: &mut StressReport,
) -> bool {
    let placement = Placement {
        data_dir: dir.join("server-data"),
        // Nothing is fetched at start; the server only keeps the address.
        cloudinary_base_url: "http://127.0.0.1:9".into(),
        cloudinary_cloud_name: "stress".into(),
        log: dir.join("server.log"),
    };
    let mut cmd = match cfg.target.command(&placement) {
        Ok(c) => c,
        Err(e) => {
            report.failures.push(format!("cycle {n}: {e:#}"));
            return false;
        }
    };
    if let Some(p) = &cfg.program {
        cmd.program = p.clone();
    }
    cmd.env.extend(cfg.env.iter().cloned());
    let procs = match cpu.map(CpuCgroup::procs_file).transpose() {
        Ok(p) => p.into_iter().collect(),
        Err(e) => {
            report
                .failures
                .push(format!("cycle {n}: opening cgroup.procs: {e}"));
            return false;
        }
    };
    let t = Instant::now();
    let mut server = match ServerProcess::start_in(&cmd, cfg.ready_timeout, procs).await {
        Ok(s) => s,
        Err(e) => {
            match e.downcast::<ExitedBeforeReady>() {
                Ok(x) => report.crashes.push((n, dir.to_path_buf(), x.crash)),
                Err(e) => report.failures.push(format!("cycle {n}: {e:#}")),
            }
            return false;
        }
    };
    report.ready.push(t.elapsed());
    // What the harness's poller does first, once.
    if cmd.debug_memory {
        let _ = client
            .get(format!("{}/debug/memory", server.base_url()))
            .send()
            .await;
    }
    let status = match server.stop(cfg.stop_grace).await {
        Ok(s) => s,
        Err(e) => {
            report.failures.push(format!("cycle {n}: waiting: {e}"));
            return false;
        }
    };
    match status.signal() {
        None if status.success() => true,
        Some(s) if s == cmd.stop_signal as i32 => true,
        Some(9) => {
            report.failures.push(format!(
                "cycle {n}: did not stop within {:?} of its stop signal; killed",
                cfg.stop_grace
            ));
            false
        }
        _ => {
            server.output_written().await;
            report
                .crashes
                .push((n, dir.to_path_buf(), server.crash(status, false)));
            false
        }
    }
}
