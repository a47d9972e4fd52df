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
//! - `target`, `scenario`: `target init` and `scenario from-har`, files
//!   written from what the user already has.

mod bench;
mod calibrate;
mod compare;
mod gate;
mod photos;
mod plan;
mod run;
mod scenario;
mod target;

use clap::{Parser, Subcommand};

use crate::error::Exit;

pub use bench::{BenchArgs, BenchChildArgs};
pub use calibrate::CalibrateArgs;
pub use compare::CompareArgs;
pub use gate::GateArgs;
pub use plan::PlanArgs;
pub use run::RunArgs;
pub use scenario::ScenarioArgs;
pub use target::TargetArgs;

/// oomlab: reproduce, measure and prevent the out-of-memory kill of a report
/// server.
#[derive(Debug, Parser)]
#[command(name = "oomlab", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Also show the load generator's (goose's) own output: its log lines
    /// and its `N users launched.` on stdout. Off by default: they break the
    /// live line and say nothing the report does not.
    #[arg(long, global = true)]
    pub verbose: bool,
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
    /// Write a target file from the app's Render blueprint (`target init
    /// --from render.yaml`).
    Target(TargetArgs),
    /// Write a scenario from a browser's recorded flow (`scenario from-har
    /// FILE.har`).
    Scenario(ScenarioArgs),
    /// One measured variant of `bench`, in a process of its own.
    #[command(hide = true)]
    BenchChild(BenchChildArgs),
    /// Run the report server itself (the harness starts its own binary in this
    /// mode, so the measured process is the server alone).
    #[command(hide = true)]
    Serve(report_server::cli::ServeArgs),
}

/// Flags renamed so that one thing has one name in every subcommand (`gate
/// --budget` is `--limit` as in `run`, `compare`'s and `plan`'s
/// `--max-run-duration` is `--max-duration` as in `run` and `gate`): the old
/// spelling, the new one. The old ones still parse, as hidden aliases, for
/// one release, with [`renamed_flag_warnings`].
pub const RENAMED_FLAGS: &[(&str, &str)] = &[
    ("--budget", "--limit"),
    ("--max-run-duration", "--max-duration"),
];

/// A warning for each old spelling of a renamed flag among `args` (the
/// process's arguments; nothing after a `--`).
pub fn renamed_flag_warnings<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args.iter().map(|a| a.as_ref().to_string_lossy()) {
        if arg == "--" {
            break;
        }
        let name = arg.split_once('=').map_or(&*arg, |(n, _)| n);
        if let Some((old, new)) = RENAMED_FLAGS.iter().find(|(old, _)| *old == name) {
            out.push(format!(
                "warning: `{old}` is now `{new}`; the old name will stop working in the next release"
            ));
        }
    }
    out
}

/// Parses the process's arguments (clap exits with 2 on a mistake) and warns
/// on stderr about renamed flags given by their old names.
pub fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&args);
    for w in renamed_flag_warnings(&args) {
        eprintln!("{w}");
    }
    cli
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
    init_logging(cli.verbose);
    crate::silence::show_goose_output(cli.verbose);
    if let Command::Bench(args) = &cli.command {
        let result = crate::bench::run(&args.config()?)?;
        print!("{}", crate::bench::render(&result));
        return Ok(Exit::WithinLimit);
    }
    match &cli.command {
        Command::Target(t) => {
            let target::TargetCommand::Init(args) = &t.command;
            args.run()?;
            return Ok(Exit::WithinLimit);
        }
        Command::Scenario(s) => {
            let scenario::ScenarioCommand::FromHar(args) = &s.command;
            args.run()?;
            return Ok(Exit::WithinLimit);
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(_)
        | Command::BenchChild(_)
        | Command::Bench(_)
        | Command::Target(_)
        | Command::Scenario(_) => {
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

/// The log filter when `RUST_LOG` is not set: warnings, but none of goose's
/// (its WARN lines, such as a request cut by a kill, are what the report
/// explains) unless `--verbose`.
fn default_log_filter(verbose: bool) -> &'static str {
    if verbose { "info" } else { "warn,goose=off" }
}

/// Logs to stderr, with colour only on a terminal.
fn init_logging(verbose: bool) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter(verbose)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
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
    fn old_flag_names_still_parse_to_the_new_ones_and_are_warned_about() {
        let gate = |argv: &[&str]| {
            let Command::Gate(g) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("expected gate");
            };
            g
        };
        let new = gate(&["oomlab", "gate", "--from", "r.json", "--limit", "300MiB"]);
        let old = gate(&["oomlab", "gate", "--from", "r.json", "--budget", "300MiB"]);
        assert_eq!((new.limit, old.limit), (300 << 20, 300 << 20));
        let Command::Compare(c) =
            Cli::try_parse_from(["oomlab", "compare", "--max-run-duration=1h30m"])
                .unwrap()
                .command
        else {
            panic!("expected compare");
        };
        assert_eq!(c.matrix.max_duration.as_secs(), 5400);

        let w = renamed_flag_warnings(&["oomlab", "gate", "--budget", "1GiB"]);
        assert_eq!(
            w,
            [
                "warning: `--budget` is now `--limit`; the old name will stop working in the next release"
            ]
        );
        let w = renamed_flag_warnings(&["oomlab", "plan", "--max-run-duration=5m"]);
        assert!(w[0].contains("`--max-duration`"), "{w:?}");
        assert!(renamed_flag_warnings(&["oomlab", "gate", "--limit", "1GiB"]).is_empty());
        assert!(renamed_flag_warnings(&["oomlab", "run", "--", "--budget"]).is_empty());
        // Hidden: --help names only the new spelling.
        let help = Cli::command()
            .find_subcommand_mut("gate")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("--limit <SIZE>") && !help.contains("--budget <"),
            "{help}"
        );
        // Its examples use the new names, and the exit codes include 4.
        assert!(
            help.contains("oomlab gate --profile lean --scenario tiny --limit 512MiB"),
            "{help}"
        );
        assert!(help.contains("4 the load did not do its"), "{help}");
    }

    #[test]
    fn a_size_or_duration_without_a_unit_is_refused_naming_the_flag_and_the_fix() {
        for (argv, flag, fix) in [
            (
                &["oomlab", "gate", "--from", "r.json", "--limit", "512"][..],
                "--limit",
                "write 512MiB",
            ),
            (
                &["oomlab", "compare", "--limit", "512"][..],
                "--limit",
                "write 512MiB",
            ),
            (
                &["oomlab", "gate", "--from", "r.json", "--max-duration", "90"][..],
                "--max-duration",
                "write 90s",
            ),
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let e = e.to_string();
            assert!(e.contains(flag) && e.contains(fix), "{e}");
        }
    }

    #[test]
    fn goose_logs_only_with_verbose_which_every_subcommand_takes() {
        use tracing_subscriber::EnvFilter;
        let quiet = EnvFilter::new(default_log_filter(false)).to_string();
        assert!(
            quiet.contains("goose=off") && quiet.contains("warn"),
            "{quiet}"
        );
        let loud = EnvFilter::new(default_log_filter(true)).to_string();
        assert!(!loud.contains("goose=off"), "{loud}");
        for sub in ["run", "compare", "gate", "plan", "calibrate", "bench"] {
            let e = Cli::try_parse_from(["oomlab", sub, "--verbose", "--help"]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{sub}: {e}");
            assert!(e.to_string().contains("--verbose"), "{sub}");
        }
        let cli = Cli::try_parse_from(["oomlab", "compare", "--verbose"]).unwrap();
        assert!(cli.verbose);
        assert!(!Cli::try_parse_from(["oomlab", "compare"]).unwrap().verbose);
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
