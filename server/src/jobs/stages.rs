//! Per-stage memory accounting of one job: duration, the process-wide
//! high-water mark of `stats.allocated`, and from jemalloc's per-thread
//! counters what the job's own thread allocated and still holds.
//!
//! What C code allocates with glibc `malloc` is not counted here (the
//! jemalloc of this build prefixes its symbols, so it does not replace
//! `malloc`): with `photos.decoder = "libjpeg-turbo"` the decoder's own
//! buffers (a progressive photo's coefficients, row buffers) are in RSS
//! only; the decoded image it writes into is a Rust buffer and is counted.

use std::cell::Cell;
use std::time::Instant;

use memstats::StageMemory;

use crate::memory::{HighWaterMonitor, StageWatch, ThreadCounters, thread_counters};

/// The stages of one job, as they are run.
pub(super) struct Stages {
    pub(super) done: Vec<StageMemory>,
    current: Option<(String, Instant, StageWatch, Option<ThreadCounters>)>,
    job_start: Option<ThreadCounters>,
    /// Bytes this thread freed on behalf of other jobs (a modelled cyclic
    /// collection of their leftovers): added back so that this job's live
    /// bytes are its own.
    /// A cell: a collection can run inside the PDF build's callbacks,
    /// which only borrow the stages.
    freed_for_others: Cell<u64>,
}

impl Stages {
    pub(super) fn new() -> Stages {
        Stages {
            done: Vec::new(),
            current: None,
            job_start: thread_counters(),
            freed_for_others: Cell::new(0),
        }
    }

    /// Bytes the job's thread allocated and has not freed since the job
    /// started (its own frees only).
    pub(super) fn live(&self) -> Option<i64> {
        let (start, now) = (self.job_start?, thread_counters()?);
        Some(
            (now.allocated - start.allocated) as i64 - (now.deallocated - start.deallocated) as i64
                + self.freed_for_others.get() as i64,
        )
    }

    /// This thread freed `bytes` that other jobs had allocated.
    pub(super) fn credit_freed_for_others(&self, bytes: u64) {
        self.freed_for_others
            .set(self.freed_for_others.get() + bytes);
    }

    pub(super) fn begin(&mut self, name: &str, monitor: &HighWaterMonitor) {
        self.end();
        self.current = Some((
            name.to_string(),
            Instant::now(),
            monitor.watch(),
            thread_counters(),
        ));
    }

    pub(super) fn end(&mut self) {
        if let Some((name, started, watch, counters)) = self.current.take() {
            let now = thread_counters();
            self.done.push(StageMemory {
                stage: name,
                duration_ms: started.elapsed().as_millis() as u64,
                allocated_high_water: watch.high_water(),
                allocated_at_start: watch.allocated_at_start,
                thread_allocated: counters.zip(now).map(|(a, b)| b.allocated - a.allocated),
                thread_live_after: self.live(),
            });
        }
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::to_value(&self.done).unwrap_or_default()
    }
}
