//! The document served at `GET /debug/memory`.

use serde::{Deserialize, Serialize};

use crate::proc::ProcMemory;

/// Figures read from the allocator (jemalloc's `stats.*` after an
/// `epoch` advance). All in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatorStats {
    /// Bytes allocated by the application and not yet freed (`stats.allocated`).
    pub allocated: u64,
    /// Bytes in active pages (`stats.active`), a multiple of the page size.
    pub active: u64,
    /// Bytes in physically resident data pages mapped by the allocator
    /// (`stats.resident`).
    pub resident: u64,
    /// Bytes in chunks mapped by the allocator (`stats.mapped`).
    pub mapped: u64,
    /// Bytes retained by the allocator: virtual memory not returned to the OS
    /// (`stats.retained`).
    pub retained: u64,
    /// Bytes dedicated to allocator metadata (`stats.metadata`).
    pub metadata: u64,
}

/// One job that a worker is processing, as seen at the moment of reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobInFlight {
    /// The job's id in the database.
    pub job_id: i64,
    /// The stage being run: `load`, `excel`, `excel_upload`, `photos`, `pdf`,
    /// `pdf_upload`, `complete`.
    pub stage: String,
    /// Progress as the modelled app reports it (10, 30, 45, 60, 75, 100).
    pub progress: u8,
    /// Milliseconds since the job started processing.
    pub elapsed_ms: u64,
    /// Bytes allocated minus bytes freed by this job's worker thread since the
    /// job started (jemalloc per-thread counters); `None` when the allocator
    /// cannot tell.
    pub live_bytes: Option<i64>,
}

/// Memory that one stage of a job took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageMemory {
    /// Stage name (see [`JobInFlight::stage`]).
    pub stage: String,
    /// Wall-clock duration of the stage in milliseconds.
    pub duration_ms: u64,
    /// Highest process-wide `stats.allocated` seen during the stage, in bytes.
    pub allocated_high_water: u64,
    /// Process-wide `stats.allocated` when the stage began, in bytes.
    pub allocated_at_start: u64,
    /// Bytes this job's thread allocated during the stage (per-thread counter).
    pub thread_allocated: Option<u64>,
    /// Bytes the job's thread still held at the stage's end (allocated minus
    /// freed since the job started).
    pub thread_live_after: Option<i64>,
}

/// The JSON document of `GET /debug/memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebugMemory {
    /// Which global allocator the server runs under: `jemalloc`, `dhat` or
    /// `system`.
    pub allocator: String,
    /// The allocator's figures; `None` unless the allocator is jemalloc.
    pub jemalloc: Option<AllocatorStats>,
    /// jemalloc options in effect (`background_thread`, `dirty_decay_ms`,
    /// `muzzy_decay_ms`), as read back from the allocator.
    pub allocator_options: serde_json::Value,
    /// The server's own process figures from `/proc/self`.
    pub process: ProcMemory,
    /// Bytes held from start to stand in for the modelled interpreter
    /// (`model.runtime_mb`): a declared model input, not a measurement.
    pub modelled_runtime_bytes: u64,
    /// Bytes of finished jobs' photo buffers that the modelled app's cyclic
    /// garbage collector has not freed yet (`model.release = "cyclic_gc"`):
    /// allocated, in no job in flight, freed by the next collection. Always
    /// 0 with `immediate`. Absent (0) in documents of older servers.
    #[serde(default)]
    pub uncollected_bytes: u64,
    /// Jobs waiting in the queue.
    pub queue_depth: u64,
    /// Jobs being processed, with their stage.
    pub jobs_in_flight: Vec<JobInFlight>,
    /// Milliseconds since the server started.
    pub uptime_ms: u64,
}
