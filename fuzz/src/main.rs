//! `oomlab-fuzz`: mutation-fuzz oomlab's parsers and the reduced JPEG decoder on stable Rust.
//!
//! Example: cargo run --release -p oomlab-fuzz -- --target submission --seconds 300

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use oomlab_fuzz::{Target, fuzz, write_seeds};

/// Fuzz a parser with seeded mutations of the shipped files; exits 1 and
/// writes the crashing input to `fuzz-crash-<target>.bin` on a panic.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Which parser (all when left out).
    #[arg(long, value_enum)]
    target: Option<Target>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the mutations (a run is repeatable for a seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The repository root (for the seed corpus: profiles/, scenarios/).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Write every target's seeds and libFuzzer dictionary into this folder
    /// (`DIR/<target>/`, `DIR/<target>.dict`) for the coverage-guided
    /// harness in fuzz/coverage, and exit without fuzzing.
    #[arg(long, value_name = "DIR")]
    write_seeds: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    if let Some(dir) = &cli.write_seeds {
        match write_seeds(&cli.root, dir) {
            Ok(n) => {
                println!(
                    "{n} seed(s) and {} dictionaries written to {}",
                    Target::ALL.len(),
                    dir.display()
                );
                std::process::exit(0);
            }
            Err(e) => {
                eprintln!(
                    "cannot write the seeds to {}: {e} (--write-seeds takes a writable folder)",
                    dir.display()
                );
                std::process::exit(2);
            }
        }
    }
    let targets = cli.target.map(|t| vec![t]).unwrap_or(Target::ALL.to_vec());
    let mut failed = false;
    for t in targets {
        let r = fuzz(
            t,
            &cli.root,
            cli.seed,
            Duration::from_secs(cli.seconds),
            u64::MAX,
        );
        match r.crash {
            None => println!(
                "{:?}: {} inputs in {:.0} s, no crash",
                r.target,
                r.executions,
                r.elapsed.as_secs_f64()
            ),
            Some((input, msg)) => {
                let file = format!("fuzz-crash-{:?}.bin", r.target).to_lowercase();
                let _ = std::fs::write(&file, &input);
                eprintln!(
                    "{:?}: CRASH after {} inputs: {msg}; input written to {file}",
                    r.target, r.executions
                );
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
