//! Background jobs: the queue, the dedicated worker threads, and the job
//! itself (load, Excel, upload, photos, PDF, upload, complete).
//!
//! Workers are plain OS threads, not tasks on the async runtime: image
//! decoding and PDF assembly are CPU-heavy and would stall request handling.
//! Each job runs start to end on one worker thread, so jemalloc's per-thread
//! counters attribute its allocations exactly. Network I/O of a job runs on its
//! worker thread too, on a current-thread runtime of its own ([`WorkerIo`]).
//!
//! `backend` is the queue by `queue.backend`: the in-process [`JobQueue`] or
//! the Redis queue (`redis_queue`, worked by `redis_worker`) that lets the
//! `web` and `worker` roles run as two processes. `run` is one job, `layout`
//! its PDF stage (photos checked, prepared and placed), `degraded` the
//! photos it could not show as they are, `cost` what decoding a photo would
//! hold (`limits.max_decode_bytes`), `stages` its per-stage memory, `photos` what each embed mode makes of a photo
//! (`decode`/`encode`: the scaled decode and the re-encode of `resize`, by
//! `photos.decoder` and `photos.encoder`;
//! `orientation`: EXIF orientation for `resize`), `retention` what the
//! document holds and when it is given back (`model.release`),
//! `pdf`/`pdf_stream`/`excel` the reports, `cpu` the modelled app's CPU
//! time spent per stage (`[model.cpu]`), `test_leak` the leak on purpose
//! of `model.test_leak_per_job_mb` (tests only).

mod backend;
pub mod cost;
pub mod cpu;
pub mod decode;
pub mod degraded;
pub mod encode;
pub mod excel;
pub mod generations;
mod layout;
pub mod orientation;
pub mod pdf;
pub mod pdf_stream;
pub mod photos;
pub mod redis_queue;
mod redis_worker;
pub mod retention;
mod run;
mod stages;
pub mod test_leak;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use memstats::JobInFlight;

pub use backend::Queue;
pub use degraded::{DegradedPhoto, Notes, ShownAs};
pub use layout::{BuiltPdf, PdfOutput, build_pdf};
pub use retention::{Collected, Collector, Held};
pub use run::{JobContext, JobEnd, MAX_JOB_ATTEMPTS, WorkerIo, run_job};

/// The job queue: unbounded by default, as the modelled app's.
pub struct JobQueue {
    jobs: Mutex<VecDeque<i64>>,
    ready: Condvar,
    capacity: Option<usize>,
    stopping: AtomicBool,
}

/// The queue is at its capacity.
#[derive(Debug)]
pub struct QueueFull;

impl JobQueue {
    pub fn new(capacity: Option<usize>) -> JobQueue {
        JobQueue {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            capacity,
            stopping: AtomicBool::new(false),
        }
    }

    /// Refuse a new job when the queue is bounded and full.
    pub fn has_room(&self) -> bool {
        self.capacity.is_none_or(|cap| self.len() < cap)
    }

    pub fn push(&self, job_id: i64) -> Result<(), QueueFull> {
        let mut q = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if self.capacity.is_some_and(|cap| q.len() >= cap) {
            return Err(QueueFull);
        }
        q.push_back(job_id);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Push without the capacity check (jobs taken up again after a restart
    /// were acknowledged already and must not be dropped).
    pub fn push_recovered(&self, job_id: i64) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job_id);
        self.ready.notify_one();
    }

    /// Wait for the next job; `None` once the queue is stopping.
    pub fn pop(&self) -> Option<i64> {
        let mut q = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(id) = q.pop_front() {
                return Some(id);
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wake every worker and make `pop` return `None`. Jobs left in the queue
    /// stay `pending` in the database and are taken up on the next start.
    pub fn stop(&self) {
        // Under the lock: a worker in `pop` holds it from its `stopping`
        // check until `wait` releases it, so the flag and the wake-up cannot
        // fall between the two (a lost wake-up left a worker asleep and the
        // process stuck in its stop, once in 50 starts under a CPU quota).
        let q = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        self.stopping.store(true, Ordering::SeqCst);
        drop(q);
        self.ready.notify_all();
    }
}

/// What a worker is doing right now, for `/debug/memory` and `/metrics`.
#[derive(Default)]
pub struct InFlight {
    jobs: Mutex<BTreeMap<i64, InFlightJob>>,
}

#[derive(Debug, Clone)]
struct InFlightJob {
    stage: String,
    progress: u8,
    started: Instant,
    live_bytes: Option<i64>,
}

impl InFlight {
    pub fn begin(&self, job_id: i64) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            job_id,
            InFlightJob {
                stage: "load".into(),
                progress: 10,
                started: Instant::now(),
                live_bytes: None,
            },
        );
    }

    pub fn update(&self, job_id: i64, stage: &str, progress: u8, live_bytes: Option<i64>) {
        if let Some(j) = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&job_id)
        {
            j.stage = stage.to_string();
            j.progress = progress;
            j.live_bytes = live_bytes;
        }
    }

    pub fn end(&self, job_id: i64) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job_id);
    }

    pub fn snapshot(&self) -> Vec<JobInFlight> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, j)| JobInFlight {
                job_id: *id,
                stage: j.stage.clone(),
                progress: j.progress,
                elapsed_ms: j.started.elapsed().as_millis() as u64,
                live_bytes: j.live_bytes,
            })
            .collect()
    }
}

/// Start `n` worker threads that take jobs from the queue until it stops
/// (with Redis, and a reaper thread that re-delivers expired leases).
pub fn spawn_workers(ctx: Arc<JobContext>, n: usize) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads: Vec<_> = (0..n)
        .map(|i| {
            let ctx = ctx.clone();
            std::thread::Builder::new()
                .name(format!("job-worker-{i}"))
                .spawn(move || run_worker_until_stopped(&ctx))
                .expect("spawning a worker thread")
        })
        .collect();
    if let Queue::Redis { redis, .. } = &*ctx.queue {
        let redis = redis.fresh();
        let ctx = ctx.clone();
        threads.push(
            std::thread::Builder::new()
                .name("lease-reaper".into())
                .spawn(move || redis_worker::run_reaper_until_stopped(&ctx, &redis))
                .expect("spawning the reaper thread"),
        );
    }
    threads
}

fn run_worker_until_stopped(ctx: &JobContext) {
    let io = match WorkerIo::new(ctx) {
        Ok(io) => io,
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                "a worker cannot start its runtime"
            );
            return;
        }
    };
    let queue = match &*ctx.queue {
        Queue::InProcess(q) => q,
        Queue::Redis { redis, .. } => {
            let redis = redis.fresh();
            return redis_worker::run_redis_worker_until_stopped(ctx, &redis, &io);
        }
    };
    while let Some(job_id) = queue.pop() {
        // A panic in one job must not take the worker down with it.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(ctx, &io, job_id)));
        if result.is_err() {
            tracing::error!(job_id, "job panicked; marked failed");
            ctx.fail_after_panic(job_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_queue_refuses_when_full_and_recovered_jobs_still_enter() {
        let q = JobQueue::new(Some(1));
        q.push(1).unwrap();
        assert!(q.push(2).is_err());
        assert!(!q.has_room());
        q.push_recovered(3);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(1));
        q.stop();
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn stop_wakes_a_worker_that_is_just_entering_pop() {
        // The race of a stop against a worker between its flag check and
        // its wait, tried many times; a lost wake-up leaves a thread asleep.
        for round in 0..5_000 {
            let q = std::sync::Arc::new(JobQueue::new(None));
            let (done, finished) = std::sync::mpsc::channel();
            let worker = {
                let q = q.clone();
                std::thread::spawn(move || {
                    let popped = q.pop();
                    let _ = done.send(popped);
                })
            };
            // Stop at a different moment of the worker's way into `pop`.
            for _ in 0..(round % 64) * 20 {
                std::hint::spin_loop();
            }
            q.stop();
            let popped = finished
                .recv_timeout(std::time::Duration::from_secs(5))
                .unwrap_or_else(|_| panic!("round {round}: a worker slept through stop"));
            assert_eq!(popped, None);
            worker.join().unwrap();
        }
    }
}
