//! Starts and stops the reference server many times, back to back, the way
//! `oomlab plan` does between its cells (`oomlab::stress`): issue 17's
//! stress test.
//!
//! ```text
//! cargo build --release -p oomlab --bin oomlab --example start_stop
//! target/release/examples/start_stop --cycles 500
//! ```
//!
//! Flags: `--cycles N` (default 500), `--profile PATH` (default
//! `profiles/resize.toml`), `--workers N` (the profile's worker count
//! overridden, as `plan`'s `-wN` configurations do), `--cpus SHARE` (the CPU
//! cgroup of every other cycle, default 0.5; `--cpus 0`: none),
//! `--busy N` (threads of this process that allocate and free while the
//! cycles run, as the load and the fake Cloudinary do in a `plan`; default
//! 2), `--max-duration SECONDS` (default 1800), `--oomlab PATH` (the binary
//! whose `serve` mode runs the server; default: `oomlab` next to this
//! example's folder, i.e. the build of the same profile), `--out DIR`
//! (default: a temporary folder; crashed cycles' folders are kept there).
//! Exit code: 0 when every cycle was clean, 1 otherwise.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use oomlab::app_target::Target;
use oomlab::stress::{self, StressConfig};

// As in oomlab's own binary: the harness forks its children from a jemalloc
// process, so the stress test does too.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

const USAGE: &str = "\
start_stop: start and stop the reference server many times, back to back, as `oomlab plan` does
between its cells (issue 17's stress test). Exit 0 when every cycle was clean, 1 otherwise, 2 on a
bad flag.

  --cycles N            cycles to run (default 500)
  --profile PATH        the server profile (default profiles/resize.toml)
  --workers N           override the profile's worker count, as plan's -wN configurations do
  --cpus SHARE          CPU cgroup share of every other cycle (default 0.5; 0: none)
  --busy N              threads here that allocate and free during the forks (default 2)
  --max-duration SECS   stop starting new cycles after this long (default 1800)
  --oomlab PATH         the oomlab binary whose `serve` runs the server (default: beside this example)
  --out DIR             where crashed cycles' folders are kept (default: a temporary folder)
  -h, --help            this text
";

fn run() -> anyhow::Result<bool> {
    let mut cycles = 500u32;
    let mut profile = PathBuf::from("profiles/resize.toml");
    let mut workers: Option<u32> = None;
    let mut cpus = Some(0.5);
    let mut max_duration = Duration::from_secs(1800);
    let mut oomlab = None;
    let mut out = None;
    let mut busy_threads = 2u32;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(true);
            }
            "--cycles" => cycles = value()?.parse().context("--cycles: a whole number")?,
            "--profile" => profile = value()?.into(),
            "--workers" => workers = Some(value()?.parse().context("--workers: a whole number")?),
            "--cpus" => {
                let share: f64 = value()?
                    .parse()
                    .context("--cpus: a share of a core, e.g. 0.5")?;
                cpus = (share > 0.0).then_some(share);
            }
            "--max-duration" => {
                max_duration =
                    Duration::from_secs(value()?.parse().context("--max-duration: whole seconds")?)
            }
            "--oomlab" => oomlab = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--busy" => {
                busy_threads = value()?
                    .parse()
                    .context("--busy: a whole number of threads")?
            }
            other => bail!(
                "unknown flag {other}: use --cycles, --profile, --workers, --cpus, --busy, --max-duration, --oomlab or --out (--help explains them)"
            ),
        }
    }
    let oomlab = match oomlab {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|dir| dir.join("oomlab"))
            .context("finding the oomlab binary (pass --oomlab PATH)")?,
    };
    if !oomlab.is_file() {
        bail!(
            "{} is not a file: build it (cargo build --release -p oomlab --bin oomlab) or pass --oomlab PATH",
            oomlab.display()
        );
    }
    let tmp = tempfile::tempdir()?;
    let dir = out.unwrap_or_else(|| tmp.path().to_path_buf());
    let cfg = StressConfig {
        target: Target::reference(&profile, None)
            .with_context(|| format!("loading the profile {}", profile.display()))?,
        program: Some(oomlab),
        env: workers
            .map(|w| vec![("REPORT_SERVER__WORKERS".to_string(), w.to_string())])
            .unwrap_or_default(),
        cycles,
        max_duration,
        cpus,
        ready_timeout: Duration::from_secs(60),
        stop_grace: Duration::from_secs(5),
        dir: dir.clone(),
        busy_threads,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(stress::run(&cfg))?;
    println!("{}", report.summary());
    let clean = report.crashes.is_empty() && report.failures.is_empty() && !report.timed_out;
    if !report.crashes.is_empty() {
        // Keep the crashed cycles' folders when they are in a temporary one.
        let kept = tmp.keep();
        println!("crashed cycles' folders are kept in {}", kept.display());
    }
    Ok(clean)
}
