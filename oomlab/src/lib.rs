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
//! Leaves first; a module uses only modules above it in this list (`cli`
//! alone uses every one).
//! - [`error`]: [`ConfigError`] (the user's to fix, exit 2) and [`Exit`].
//! - [`input`]: flag values (sizes, durations, percentages, input files by
//!   name), used as clap value parsers.
//! - [`units`]: how figures are written (`mb`, `secs`).
//! - [`trend`]: the memory trend over job cycles (Theil-Sen slope, its
//!   confidence interval) and the leak verdict; pure.
//! - [`scenario`]: scenario TOML files (`scenarios/*.toml`).
//! - [`watchdog`], [`cgroup`]: the limit check and the OOM event; memory
//!   and CPU cgroups below the harness's own.
//! - [`crash`]: [`crash::Crash`], what is known of a target that ended on
//!   its own (signal, last lines, where its core went).
//! - [`child`]: [`child::ServerProcess`], the target's process: its own
//!   process group, killed on drop, ready when it prints its ready line,
//!   started with `RUST_BACKTRACE=1` and core dumps allowed.
//! - [`redis_server`]: a throwaway `redis-server` on a loopback port (the
//!   split configuration's queue), stopped on drop.
//! - [`app_target`]: [`app_target::Target`], what a run measures and how it is
//!   started.
//! - [`stress`]: the target started and stopped many times, back to back,
//!   as `plan` does (issue 17's stress test; `examples/start_stop.rs`).
//! - [`sampler`]: the memory sampler (`/proc` every 10 ms, `/debug/memory`
//!   every 100 ms), writing `samples.csv` as it goes; [`live`] draws from it.
//! - [`load`]: the goose load that a scenario describes.
//! - [`report`]: [`report::RunReport`], the one result type of a run, and its
//!   exporters (`run.json`, `report.md`, `memory.svg`).
//! - [`harness`]: one run, [`harness::RunConfig`] in, [`harness::RunOutput`]
//!   out.
//! - [`finished`]: finished runs read back (`run.json`).
//! - [`matrix`]: runs one after the other with a progress bar (used by
//!   compare, plan and gate).
//! - [`compare`], [`gate`], [`plan`]: the answer commands; [`calibrate`]: the
//!   model next to a real app, and its error.
//! - [`bench`]: `oomlab bench`, the server's lean photo pipeline against
//!   `vipsthumbnail` on the same photos (uses `scenario` only; each variant
//!   runs in a process of its own, `oomlab bench-child`).
//! - [`cli`]: the command line, parsed into the configs above.

pub mod app_target;
pub mod bench;
pub mod calibrate;
pub mod cgroup;
pub mod child;
pub mod cli;
pub mod compare;
pub mod crash;
pub mod error;
pub mod finished;
pub mod folders;
pub mod gate;
pub mod harness;
pub mod heap;
pub mod input;
#[cfg(test)]
mod layers;
pub mod live;
pub mod load;
pub mod matrix;
pub mod plan;
pub mod profile_settings;
pub mod redis_server;
pub mod report;
pub mod sampler;
pub mod scenario;
pub mod silence;
pub mod stress;
pub mod trend;
pub mod units;
pub mod watchdog;

pub use error::{ConfigError, Exit};
