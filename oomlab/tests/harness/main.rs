//! Integration tests of the harness: one binary, modules by area.
//!
//! Children are small Python programs that print the server's ready line and
//! then allocate: the watchdog, the cgroup and process ownership are tested
//! against them with small limits (64 MiB), so the tests stay fast and do not
//! depend on the report server. Without python3 they are skipped, with a line
//! saying so.

mod app;
mod cli;
mod cpu;
mod crash;
mod fastapi_app;
mod from_what_you_have;
mod heap;
mod helpers;
mod kill_modes;
mod leak;
mod ownership;
mod photos;
mod prepare;
mod retry;
mod run;
mod start_stop;
#[path = "../support/mod.rs"]
mod support;
mod watchdog;
mod work;
