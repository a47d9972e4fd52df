//! Memory figures shared by the oomlab report server and the harness.
//!
//! One owner per concept: the server publishes these types on
//! `GET /debug/memory`, the harness deserialises the same types, and both read
//! `/proc` through the same functions, so a figure means the same thing on
//! both sides of the wire.
//!
//! # Layout
//! - [`proc`]: readings of `/proc/<pid>/status` and `smaps_rollup` (RSS, its
//!   anonymous and file parts, the kernel's high-water mark, PSS) and the
//!   process tree below a pid.
//! - [`debug`]: the JSON document of `GET /debug/memory` (allocator figures,
//!   process figures, the modelled runtime, jobs in flight and their stages).
//! - [`units`]: parsing and printing of byte sizes such as `512MiB`.
//! - [`job`]: a job's created/started/finished times as the job status
//!   answer carries them, and the one time format.
//! - [`ready`]: the server's ready line on stdout (address, pid, profile).
//!
//! Every field that holds memory is in bytes; every duration in milliseconds
//! unless its name says otherwise.

pub mod debug;
pub mod job;
pub mod proc;
pub mod ready;
pub mod status;
pub mod units;

pub use debug::{AllocatorStats, DebugMemory, JobInFlight, StageMemory};
pub use job::{JobTimes, format_time, now_time, parse_time};
pub use proc::{
    ProcMemory, ProcessMemory, PssReader, TreeMemory, process_tree, read_proc_memory, read_tree,
    read_tree_memory,
};
pub use ready::{ReadyLine, ReadyLineError};
pub use status::JobStatus;
pub use units::{ByteSize, MIB, SizeError, format_mb, parse_bytes};
