//! Mutation fuzzing of oomlab's parsers and of the reduced JPEG decoder on
//! stable Rust.
//!
//! A seeded mutation fuzzer (bit flips, byte insertions and deletions,
//! splices between corpus entries, dictionary tokens) over a seed corpus
//! taken from the shipped files (and, for the decoder, small JPEGs of every
//! kind it claims, made here), feeding each target and catching panics:
//! the CI smoke test, with no tool beyond cargo. It has no coverage
//! feedback, so it explores less deeply than libFuzzer; the coverage-guided
//! harness in `fuzz/coverage` (cargo-fuzz, its own workspace) runs the same
//! [`Target::run_one`] from the same seeds ([`write_seeds`]).
//!
//! # Features
//! `parsers` (default): the four parser targets, the mutator, the loop and
//! the `oomlab-fuzz` binary. Their crates bring tokio, axum, printpdf and
//! some 350 packages, which take over an hour to build instrumented; without
//! the feature the crate is [`jpeg`] alone, whose only dependency is
//! `reduced-jpeg`, so `fuzz/coverage`'s `reduced_jpeg` target builds in
//! minutes.
//!
//! # Layout
//! - [`jpeg`]: the decoder's target: what is checked, its dictionary, its
//!   seeds (these with `parsers`: they are encoded by libjpeg-turbo and
//!   `jpeg-encoder`).
//! - `targets` (`parsers`): [`Target`], the five targets and what each
//!   checks; [`Mutator`], the seeded mutations; [`fuzz`], run one target
//!   for a time or a count and report the first crash; [`write_seeds`].

pub mod jpeg;
#[cfg(feature = "parsers")]
mod targets;

#[cfg(feature = "parsers")]
pub use targets::{FuzzReport, Mutator, Target, fuzz, write_seeds};
