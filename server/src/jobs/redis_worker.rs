//! A worker thread on the Redis queue: take a job (leased), keep its lease
//! alive while it runs, acknowledge it once its end is in the database; and
//! the reaper that re-delivers the jobs of workers that died.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::redis_queue::RedisQueue;
use super::run::{JobContext, JobEnd, WorkerIo, run_job};

/// How often an idle worker asks for a job: the latency a new job may wait
/// when workers are idle (Redis's blocking pops cannot run in the script
/// that moves a job and writes its lease at once).
const POLL: Duration = Duration::from_millis(100);

/// Take jobs until the queue stops.
pub(super) fn run_redis_worker_until_stopped(ctx: &JobContext, redis: &RedisQueue, io: &WorkerIo) {
    while !ctx.queue.is_stopping() {
        let delivery = match redis.take() {
            Ok(Some(d)) => d,
            Ok(None) => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "cannot take a job from Redis");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let job_id = delivery.job_id;
        tracing::info!(job_id, delivery = delivery.delivery, "job taken");
        let end = {
            let _lease = LeaseKeeper::start(redis, job_id);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(ctx, io, job_id)));
            match result {
                Ok(end) => end,
                Err(_) => {
                    tracing::error!(job_id, "job panicked; marked failed");
                    ctx.fail_after_panic(job_id);
                    JobEnd::Recorded
                }
            }
        };
        match end {
            JobEnd::Recorded | JobEnd::AlreadyFinished => {
                if let Err(e) = redis.ack(job_id) {
                    // Delivered again after the lease; the next delivery
                    // finds it finished and acknowledges it then.
                    tracing::warn!(
                        job_id,
                        error = format!("{e:#}"),
                        "cannot acknowledge the job"
                    );
                }
            }
            // Another delivery owns the job now: its entry is not ours.
            JobEnd::Superseded => {}
            // Not recorded (no database connection): the lease runs out
            // and the reaper puts it back.
            JobEnd::Unrecorded => {}
        }
    }
}

/// Renews a job's lease every third of it on its own thread until dropped,
/// so a long job is not re-delivered while its worker is alive.
struct LeaseKeeper {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LeaseKeeper {
    fn start(redis: &RedisQueue, job_id: i64) -> LeaseKeeper {
        let done = Arc::new(AtomicBool::new(false));
        let every = redis.lease() / 3;
        // The keeper borrows nothing from the worker: a handle of its own.
        let renewer = redis.fresh();
        let flag = done.clone();
        let thread = std::thread::Builder::new()
            .name(format!("lease-{job_id}"))
            .spawn(move || {
                let mut next = Instant::now() + every;
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park_timeout(Duration::from_millis(50).min(every));
                    if Instant::now() < next {
                        continue;
                    }
                    next = Instant::now() + every;
                    match renewer.renew(job_id) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(
                                job_id,
                                "the job's lease ran out; it was delivered again"
                            );
                        }
                        Err(e) => {
                            tracing::warn!(
                                job_id,
                                error = format!("{e:#}"),
                                "cannot renew the lease"
                            );
                        }
                    }
                }
            })
            .ok();
        LeaseKeeper { done, thread }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Re-deliver expired leases every half lease until the queue stops.
pub(super) fn run_reaper_until_stopped(ctx: &JobContext, redis: &RedisQueue) {
    let every = (redis.lease() / 2).max(Duration::from_millis(100));
    while !ctx.queue.is_stopping() {
        match redis.reap() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "leases ran out; jobs delivered again"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "the reaper cannot reach Redis"),
        }
        let until = Instant::now() + every;
        while Instant::now() < until && !ctx.queue.is_stopping() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
