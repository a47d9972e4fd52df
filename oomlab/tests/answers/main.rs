//! Tests of the answers: `oomlab compare`, `oomlab gate` and `oomlab plan`.
//! Most use synthetic run reports (`fixtures`), so they take milliseconds;
//! the `real_*` tests run the real harness on the `tiny` scenario.

mod compare;
mod fixtures;
mod gate;
mod plan;
mod slope;
#[path = "../support/mod.rs"]
mod support;
