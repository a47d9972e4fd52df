//! The command line of `oomlab`: flags parsed once, here, into the typed
//! configs of the library ([`crate::harness::RunConfig`],
//! [`crate::compare::CompareConfig`], [`crate::gate::GateConfig`],
//! [`crate::plan::PlanConfig`]).
//!
//! Flag values go through the value parsers of [`crate::input`], so a bad
//! value is a clap error naming the flag (exit 2); input files (profiles,
//! scenarios, baselines) are loaded and checked while the config is built,
//! before anything starts (also exit 2).
//!
//! # Layout
//! - `run`: `oomlab run`'s flags, and the flags every run shares.
//! - `compare`, `gate`, `plan`, `calibrate`: the flags of the answer commands.
//! - `photos`: `--photos DIR`, shared by all four.
//! - `bench`: `oomlab bench`'s flags and the hidden `bench-child`.

mod bench;
mod calibrate;
mod compare;
mod gate;
mod photos;
mod plan;
mod run;

use clap::{Parser, Subcommand};

use crate::error::Exit;

pub use bench::{BenchArgs, BenchChildArgs};
pub use calibrate::CalibrateArgs;
pub use compare::CompareArgs;
pub use gate::GateArgs;
pub use plan::PlanArgs;
pub use run::RunArgs;

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
    Compare(CompareArgs),
    /// Check a run's peak memory against a budget and a baseline, for CI.
    Gate(GateArgs),
    /// Find the cheapest hosting plan, and the settings, that hold a load.
    Plan(PlanArgs),
    /// Run a profile of the model next to your real app on the same
    /// scenarios, and say how far apart their memory is.
    Calibrate(CalibrateArgs),
    /// Time the lean photo pipeline against vipsthumbnail on a directory of
    /// photos: wall time, CPU time and peak RSS, side by side.
    Bench(BenchArgs),
    /// One measured variant of `bench`, in a process of its own.
    #[command(hide = true)]
    BenchChild(BenchChildArgs),
    /// Run the report server itself (the harness starts its own binary in this
    /// mode, so the measured process is the server alone).
    #[command(hide = true)]
    Serve(report_server::cli::ServeArgs),
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    if let Command::Serve(args) = cli.command {
        report_server::memory::set_allocator(report_server::memory::AllocatorKind::Jemalloc);
        report_server::cli::init_logging();
        report_server::cli::run(args)?;
        return Ok(Exit::WithinLimit);
    }
    if let Command::BenchChild(args) = &cli.command {
        // Before any runtime or logger: the process measures itself.
        println!("{}", args.run()?);
        return Ok(Exit::WithinLimit);
    }
    init_logging();
    if let Command::Bench(args) = &cli.command {
        let result = crate::bench::run(&args.config()?)?;
        print!("{}", crate::bench::render(&result));
        return Ok(Exit::WithinLimit);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(_) | Command::BenchChild(_) | Command::Bench(_) => {
            unreachable!("handled above")
        }
        Command::Run(args) => {
            let cfg = args.config()?;
            let out = runtime.block_on(crate::harness::run(&cfg))?;
            match out.failure {
                Some(e) => Err(e),
                None => Ok(out.report.verdict.outcome.exit()),
            }
        }
        Command::Compare(args) => runtime.block_on(crate::compare::run(&args.config()?)),
        Command::Gate(args) => runtime.block_on(crate::gate::run(&args.config()?)),
        Command::Plan(args) => runtime.block_on(crate::plan::run(&args.config()?)),
        Command::Calibrate(args) => runtime.block_on(crate::calibrate::run(&args.config()?)),
    }
}

/// The scenarios `--scenario` names, or the command's defaults (names in
/// `scenarios/`) when it names none; each loaded and checked.
fn scenarios_or(
    given: &[std::path::PathBuf],
    defaults: &[&str],
) -> Result<Vec<crate::scenario::Scenario>, crate::error::ConfigError> {
    let paths = if given.is_empty() {
        defaults
            .iter()
            .map(|s| {
                crate::input::scenario(s).map_err(|e| {
                    crate::error::ConfigError::flag("--scenario", e, "pass --scenario FILE")
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        given.to_vec()
    };
    paths
        .iter()
        .map(|s| crate::scenario::Scenario::load(s))
        .collect()
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
    fn a_bad_flag_value_is_a_clap_error_naming_the_flag() {
        let e = Cli::try_parse_from([
            "oomlab",
            "run",
            "--profile",
            "../profiles/lean.toml",
            "--scenario",
            "../scenarios/tiny.toml",
            "--limit",
            "lots",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--limit"), "{e}");
        let e = Cli::try_parse_from(["oomlab", "gate", "--from", "r.json", "--headroom", "ten"])
            .unwrap_err();
        assert!(e.to_string().contains("--headroom"), "{e}");
    }

    #[test]
    fn cgroup_move_self_is_off_by_default_and_only_with_enforce_cgroup() {
        let run = |extra: &[&str]| {
            let mut argv = vec![
                "oomlab",
                "run",
                "--profile",
                "../profiles/lean.toml",
                "--scenario",
                "../scenarios/tiny.toml",
            ];
            argv.extend_from_slice(extra);
            let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("expected run");
            };
            args.config()
        };
        assert!(!run(&["--enforce", "cgroup"]).unwrap().cgroup_move_self);
        assert!(
            run(&["--enforce", "cgroup", "--cgroup-move-self"])
                .unwrap()
                .cgroup_move_self
        );
        let e = run(&["--cgroup-move-self"]).unwrap_err();
        // A flag error: exit 2.
        assert!(matches!(e, crate::error::ConfigError::Flag { .. }), "{e}");
        assert!(e.to_string().contains("--cgroup-move-self"), "{e}");
        assert!(e.to_string().contains("--enforce cgroup"), "{e}");
        // gate and compare take it too.
        for argv in [
            &["oomlab", "gate", "--from", "r.json", "--cgroup-move-self"][..],
            &[
                "oomlab",
                "compare",
                "--enforce",
                "cgroup",
                "--cgroup-move-self",
            ][..],
        ] {
            Cli::try_parse_from(argv).unwrap();
        }
    }
}
