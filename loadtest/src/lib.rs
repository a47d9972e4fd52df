//! oomlab: reproduce, measure and prevent the out-of-memory kill of a report
//! server.
//!
//! `oomlab run` starts the fake Cloudinary in its own process, the report
//! server as a child process (its own binary re-executed in the hidden
//! `serve` mode, so the measured process is the server alone), replays a goose
//! scenario against it, samples the server's memory, kills it when it crosses
//! the limit the way the hosting platform does, and writes a report.
//!
//! # Layout
//! - [`error`]: [`ConfigError`] (the user's to fix, exit 2) and the exit codes.
//! - [`cli`]: the clap command line and [`cli::run`], the one entry point of
//!   the binary.
//! - [`child`]: [`child::ServerProcess`], the server child process: spawned in
//!   its own process group, killed on drop, ready when it prints its ready line.
//! - [`cgroup`]: a memory cgroup created below the harness's own cgroup, for
//!   `--enforce cgroup`.
//! - [`sampler`]: the memory sampler (`/proc` every 10 ms, `/debug/memory`
//!   every 100 ms), writing `samples.csv` as it goes.
//! - [`watchdog`]: the limit check and the OOM event it records.
//! - [`report`]: [`report::RunReport`], the one result type of a run, and its
//!   exporters (`run.json`, `report.md`, `memory.svg`).
//! - [`live`]: the live terminal line.
//! - [`harness`]: one run from start to verdict: fakes, server, sampler,
//!   watchdog, load, restarts, signals, outputs.
//! - `scenario`: scenario TOML files (`scenarios/*.toml`).
//! - `load`: the goose load that a scenario describes.
//! - [`compare`]: `oomlab compare`, a matrix of profiles x scenarios in one
//!   table (`compare.md`, `compare.json`, `compare.html`).
//! - [`gate`]: `oomlab gate`, the CI check against a memory budget and a
//!   baseline (JUnit XML, Markdown summary).
//! - [`plan`]: `oomlab plan`, the cheapest hosting plan and settings that
//!   hold a load (`plans/*.toml`).

pub mod cgroup;
pub mod child;
pub mod cli;
pub mod compare;
pub mod error;
pub mod gate;
pub mod harness;
pub mod live;
pub mod load;
pub mod plan;
pub mod report;
pub mod sampler;
pub mod scenario;
pub mod silence;
pub mod watchdog;

pub use error::{ConfigError, Exit};
