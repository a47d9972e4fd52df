//! [`Queue`]: the queue a process uses, by `queue.backend`: the in-process
//! [`JobQueue`] (one process, the default) or the [`RedisQueue`] shared by a
//! `web` and a `worker` process.

use std::sync::atomic::{AtomicBool, Ordering};

use super::JobQueue;
use super::redis_queue::RedisQueue;
use crate::settings::{QueueBackend, Settings};

/// The queue of this process.
pub enum Queue {
    InProcess(JobQueue),
    Redis {
        // Boxed: the client and its scripts are ten times the in-process
        // queue's size.
        redis: Box<RedisQueue>,
        capacity: Option<usize>,
        stopping: AtomicBool,
    },
}

impl Queue {
    /// The queue `settings.queue` names (connects to Redis for `redis`).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Queue> {
        Ok(match settings.queue.backend {
            QueueBackend::Sqlite => Queue::InProcess(JobQueue::new(settings.queue_capacity)),
            QueueBackend::Redis => Queue::Redis {
                redis: Box::new(RedisQueue::connect(&settings.queue)?),
                capacity: settings.queue_capacity,
                stopping: AtomicBool::new(false),
            },
        })
    }

    /// Refuse a new job when the queue is bounded and full. With Redis an
    /// unreachable server says "room": the push that follows reports it.
    pub fn has_room(&self) -> bool {
        match self {
            Queue::InProcess(q) => q.has_room(),
            Queue::Redis {
                redis, capacity, ..
            } => capacity.is_none_or(|cap| redis.waiting().map(|n| n < cap).unwrap_or(true)),
        }
    }

    /// Queue a job whose row is committed. Blocks on Redis: call it off the
    /// async workers.
    pub fn push(&self, job_id: i64) -> anyhow::Result<()> {
        match self {
            Queue::InProcess(q) => q
                .push(job_id)
                .map_err(|_| anyhow::anyhow!("the queue is full (queue_capacity)")),
            Queue::Redis { redis, .. } => redis.push(job_id),
        }
    }

    /// Queue a job found unfinished in the database at start (never
    /// refused for capacity: it was acknowledged already). With Redis a job
    /// already waiting or being processed is left where it is.
    pub fn push_recovered(&self, job_id: i64) -> anyhow::Result<()> {
        match self {
            Queue::InProcess(q) => {
                q.push_recovered(job_id);
                Ok(())
            }
            Queue::Redis { redis, .. } => redis.recover(job_id).map(|_| ()),
        }
    }

    /// The backend's name and, when it cannot be used, why (`/healthz`).
    /// Blocks on Redis: call it off the async workers.
    pub fn health(&self) -> (&'static str, Result<(), String>) {
        match self {
            Queue::InProcess(_) => ("sqlite", Ok(())),
            Queue::Redis { redis, .. } => (
                "redis",
                redis
                    .ping()
                    .map_err(|e| format!("Redis is unreachable: {e:#}")),
            ),
        }
    }

    /// Whether a job stored as pending can be missing from the queue while
    /// the process runs, so that the web must queue pending jobs again
    /// periodically: with Redis, after a push that failed while it was
    /// down, or after Redis restarted without its data. The in-process
    /// queue is filled from the database at start and then by every
    /// submission of its own process; re-pushing its pending jobs would
    /// deliver them twice.
    pub fn needs_requeue(&self) -> bool {
        matches!(self, Queue::Redis { .. })
    }

    /// Queue a pending job again unless the queue has it (Redis: waiting or
    /// in processing); whether it was queued. The in-process queue is never
    /// re-fed this way ([`Queue::needs_requeue`]).
    pub fn requeue(&self, job_id: i64) -> anyhow::Result<bool> {
        match self {
            Queue::InProcess(_) => Ok(false),
            Queue::Redis { redis, .. } => redis.recover(job_id),
        }
    }

    /// Jobs waiting (0 when Redis cannot be asked).
    pub fn len(&self) -> usize {
        match self {
            Queue::InProcess(q) => q.len(),
            Queue::Redis { redis, .. } => redis.waiting().unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Workers stop taking jobs (those in progress finish).
    pub fn stop(&self) {
        match self {
            Queue::InProcess(q) => q.stop(),
            Queue::Redis { stopping, .. } => stopping.store(true, Ordering::SeqCst),
        }
    }

    pub fn is_stopping(&self) -> bool {
        match self {
            Queue::InProcess(q) => q.is_stopping(),
            Queue::Redis { stopping, .. } => stopping.load(Ordering::SeqCst),
        }
    }
}
