//! Integration tests of reduced-jpeg, one binary (the peak-memory test has
//! its own file: it installs a counting global allocator).

mod compare;
mod corpus;
mod fuzz_finds;
mod robustness;
mod support;
