//! The command line of `oomlab`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::{ConfigError, Exit};
use crate::watchdog::Enforce;

/// oomlab: reproduce, measure and prevent the out-of-memory kill of a report
/// server.
#[derive(Debug, Parser)]
#[command(name = "oomlab", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the report server under a memory limit with a scenario's load, and
    /// write a report of its memory.
    Run(RunArgs),
    /// Run every profile on a few scenarios and compare them in one table
    /// (the README's main command).
    Compare(crate::compare::CompareArgs),
    /// Check a run's peak memory against a budget and a baseline, for CI.
    Gate(crate::gate::GateArgs),
    /// Find the cheapest hosting plan, and the settings, that hold a load.
    Plan(crate::plan::PlanArgs),
    /// Run the report server itself (the harness starts its own binary in this
    /// mode, so the measured process is the server alone).
    #[command(hide = true)]
    Serve(report_server::cli::ServeArgs),
}

const RUN_EXAMPLES: &str = "\
Examples:
  # The kill that happened on Render's free plan, reproduced:
  oomlab run --profile original --scenario two-reports

  # The same with explicit files and limit, and a kernel-enforced limit:
  oomlab run --profile profiles/original.toml --scenario scenarios/two-reports.toml \\
      --limit 512MiB --enforce cgroup

  # Keep going after a kill, as the platform does, and count lost reports:
  oomlab run --profile quick-fix --scenario burst --restart-on-oom

  # Measure without killing:
  oomlab run --profile lean --scenario camera-photos --enforce off

Exit codes: 0 within the limit, 1 limit crossed or server killed or crashed,
2 bad arguments or files, 3 the harness itself failed or was interrupted.";

/// Flags of `oomlab run`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = RUN_EXAMPLES, after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// Server profile: a TOML file, or a name in `profiles/` (e.g. `original`
    /// for profiles/original.toml).
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: String,

    /// Load scenario: a TOML file, or a name in `scenarios/` (e.g.
    /// `two-reports` for scenarios/two-reports.toml).
    #[arg(long, value_name = "FILE|NAME")]
    pub scenario: String,

    /// Memory limit of the server, e.g. 512MiB, 512MB (= MiB, as the
    /// platforms write it), 2GiB.
    #[arg(long, default_value = "512MiB", value_name = "SIZE")]
    pub limit: String,

    /// How the limit is enforced: `watchdog` sends SIGKILL when the server's
    /// RSS or its kernel high-water mark (VmHWM) crosses it; `cgroup` puts the
    /// server in a memory cgroup below the harness's own and lets the kernel
    /// kill; `off` only records the crossing.
    #[arg(long, value_enum, default_value_t = Enforce::Watchdog)]
    pub enforce: Enforce,

    /// With `--enforce cgroup`: fall back to the watchdog when no memory
    /// cgroup can be made here (otherwise that is an error, exit 2).
    #[arg(long)]
    pub cgroup_fallback: bool,

    /// Restart the server after a kill, as the platform does, and go on with
    /// the scenario; the report counts submissions acknowledged but never
    /// completed.
    #[arg(long)]
    pub restart_on_oom: bool,

    /// With `--restart-on-oom`: give up after this many restarts.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_restarts: u32,

    /// Folder for reports; each run writes
    /// `<out>/<timestamp>-<profile>-<scenario>/`.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop the run after this long whatever happens, e.g. 90s, 15m, 1h.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub max_duration: String,

    /// How long the server may take to print its ready line, e.g. 30s.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub ready_timeout: String,

    /// Run this server binary instead of oomlab's own server mode. It takes
    /// the flags of `report-server` (--profile, --host, --port,
    /// --data-dir, --cloudinary-base-url, --cloudinary-cloud-name) and prints
    /// the ready line `{"event":"ready","addr":"HOST:PORT",...}` on stdout.
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,

    /// How long the server gets after SIGTERM at the end of a run before
    /// SIGKILL, e.g. 60s for a dhat build (`--server-bin
    /// target/profiling/report-server`), which writes dhat-heap.json at exit.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub stop_grace: String,

    /// Hold the server to this share of the CPU, in cores (e.g. 0.1, 0.5),
    /// with a CPU cgroup below the harness's own. When none can be made the
    /// run goes on unlimited and run.json says why. Default: not limited.
    #[arg(long, value_name = "F")]
    pub cpus: Option<f64>,

    /// Seed of the fake Cloudinary's photos.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,

    /// Never draw the live line (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,

    /// Print nothing of the run's own (start line, goose's stdout, verdict,
    /// report path): set by `oomlab compare` and `oomlab plan`, which show
    /// their own progress. Not a flag.
    #[arg(skip)]
    pub quiet_log: bool,
}

/// Parses a duration such as `90s`, `15m`, `1h`, `500ms` or `30` (seconds).
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration, ConfigError> {
    let err = || {
        ConfigError::flag(
            flag,
            format!("`{s}` is not a duration"),
            "write a number with a unit: 500ms, 90s, 15m or 1h",
        )
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(err()),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `arg` as a file, or as `<dir>/<arg>.toml` when it is a bare name.
pub fn resolve_input(flag: &str, arg: &str, dir: &str) -> Result<PathBuf, ConfigError> {
    let p = Path::new(arg);
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    let named = Path::new(dir).join(format!("{arg}.toml"));
    if !arg.contains('/') && !arg.ends_with(".toml") && named.is_file() {
        return Ok(named);
    }
    let known: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            let mut v: Vec<String> = d
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".toml").map(str::to_string)
                })
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    Err(ConfigError::flag(
        flag,
        format!("`{arg}` is neither a file nor a name in {dir}/"),
        if known.is_empty() {
            format!("pass the path of a TOML file (no {dir}/ folder in the current directory)")
        } else {
            format!("pass a TOML file or one of: {}", known.join(", "))
        },
    ))
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Serve(args) => {
            report_server::memory::set_allocator(report_server::memory::AllocatorKind::Jemalloc);
            report_server::cli::init_logging();
            report_server::cli::run(args)?;
            Ok(Exit::WithinLimit)
        }
        Command::Compare(args) => block_on(crate::compare::run(args)),
        Command::Gate(args) => block_on(crate::gate::run(args)),
        Command::Plan(args) => block_on(crate::plan::run(args)),
        Command::Run(args) => {
            init_logging();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(crate::harness::run(args))?;
            Ok(match report.verdict.exit_code {
                0 => Exit::WithinLimit,
                1 => Exit::LimitCrossed,
                _ => Exit::HarnessFailed,
            })
        }
    }
}

/// Runs one of the answer commands (compare, gate, plan) on a runtime.
fn block_on(f: impl std::future::Future<Output = anyhow::Result<Exit>>) -> anyhow::Result<Exit> {
    init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// Logs to stderr: warnings only unless `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_with_units_and_bad_ones_name_the_flag() {
        assert_eq!(
            parse_duration("--max-duration", "15m").unwrap(),
            Duration::from_secs(900)
        );
        assert_eq!(
            parse_duration("--max-duration", "90s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("--max-duration", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        let e = parse_duration("--max-duration", "soon")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-duration") && e.contains("15m"), "{e}");
    }

    #[test]
    fn an_unknown_profile_name_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lean.toml"), "").unwrap();
        let d = dir.path().to_str().unwrap();
        let e = resolve_input("--profile", "nope", d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--profile") && e.contains("lean"), "{e}");
        assert_eq!(
            resolve_input("--profile", "lean", d).unwrap(),
            dir.path().join("lean.toml")
        );
    }
}
