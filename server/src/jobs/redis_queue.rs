//! The Redis queue of the split configuration (`queue.backend = "redis"`):
//! a reliable queue that survives the death of any web or worker process.
//!
//! Keys (prefix `queue.key_prefix`):
//! - `PREFIX:queue`, a list: job ids waiting, oldest first.
//! - `PREFIX:processing`, a sorted set: job ids taken by a worker, scored by
//!   the end of their lease (milliseconds, Redis's own clock).
//! - `PREFIX:deliveries`, a hash: how many times each job was delivered.
//!
//! Taking a job moves it from the list to the processing set in one Lua
//! script, so a worker that dies right after taking it cannot lose it
//! (a `BLMOVE` then a separate lease write would leave a gap). The worker
//! renews the lease while the job runs; a reaper puts jobs whose lease ran
//! out back on the list. A job is acknowledged (removed from the processing
//! set) only once its end is recorded in the database, and that record is a
//! compare-and-set on the job's attempt number ([`crate::db::finish_claimed`]),
//! so a delivery that was superseded by a re-delivery cannot complete it: a
//! job may run twice after a worker dies, it is completed once.
//!
//! Calls are short (no blocking commands); one connection behind a mutex
//! serves a process, reconnected once when a call fails.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use redis::{Connection, Script};

use crate::settings::QueueSettings;

const TAKE: &str = r"
local id = redis.call('LPOP', KEYS[1])
if not id then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
local n = redis.call('HINCRBY', KEYS[3], id, 1)
return {id, n}
";

const RENEW: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
";

const REAP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('LPUSH', KEYS[2], id)
end
return #ids
";

const RECOVER: &str = r"
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
";

/// One delivery of a job to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub job_id: i64,
    /// 1 for the first delivery, 2 after one re-delivery, ...
    pub delivery: u32,
}

/// The Redis queue; see the module documentation.
pub struct RedisQueue {
    client: redis::Client,
    conn: Mutex<Option<Connection>>,
    queue: String,
    processing: String,
    deliveries: String,
    lease: Duration,
    take: Script,
    renew: Script,
    reap: Script,
    recover: Script,
}

impl RedisQueue {
    /// Connect (and check the server answers).
    pub fn connect(settings: &QueueSettings) -> anyhow::Result<RedisQueue> {
        let client = redis::Client::open(settings.url.as_str())
            .with_context(|| format!("queue.url {:?} is not a Redis URL", settings.url))?;
        let p = &settings.key_prefix;
        let q = RedisQueue {
            client,
            conn: Mutex::new(None),
            queue: format!("{p}:queue"),
            processing: format!("{p}:processing"),
            deliveries: format!("{p}:deliveries"),
            lease: Duration::from_secs(settings.lease_secs),
            take: Script::new(TAKE),
            renew: Script::new(RENEW),
            reap: Script::new(REAP),
            recover: Script::new(RECOVER),
        };
        q.call(|c| redis::cmd("PING").query::<String>(c))
            .with_context(|| format!("connecting to Redis at {} (queue.url)", settings.url))?;
        Ok(q)
    }

    /// Another handle on the same queue with a connection of its own
    /// (opened on first use).
    pub fn fresh(&self) -> RedisQueue {
        RedisQueue {
            client: self.client.clone(),
            conn: Mutex::new(None),
            queue: self.queue.clone(),
            processing: self.processing.clone(),
            deliveries: self.deliveries.clone(),
            lease: self.lease,
            take: Script::new(TAKE),
            renew: Script::new(RENEW),
            reap: Script::new(REAP),
            recover: Script::new(RECOVER),
        }
    }

    /// How long a taken job is leased.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Run `f` on the shared connection, reconnecting once if it fails.
    fn call<T>(&self, f: impl Fn(&mut Connection) -> redis::RedisResult<T>) -> anyhow::Result<T> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // Three tries: a connection dropped by Redis, or a connect or call
        // cut by a signal (EINTR: a child process of the caller exiting),
        // is tried again; anything else is the answer.
        const TRIES: usize = 3;
        for attempt in 1..=TRIES {
            if slot.is_none() {
                match self
                    .client
                    .get_connection_with_timeout(Duration::from_secs(2))
                {
                    Ok(c) => {
                        c.set_read_timeout(Some(Duration::from_secs(5)))?;
                        c.set_write_timeout(Some(Duration::from_secs(5)))?;
                        *slot = Some(c);
                    }
                    Err(e) if attempt < TRIES && e.is_io_error() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let conn = slot.as_mut().expect("connected above");
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) if attempt < TRIES && (e.is_io_error() || e.is_connection_dropped()) => {
                    *slot = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("Redis connection lost {TRIES} times in a row")
    }

    /// Whether Redis answers (`PING`); the error says why not.
    pub fn ping(&self) -> anyhow::Result<()> {
        self.call(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(())
    }

    /// Queue a new job (after its row is committed). Like [`Self::recover`],
    /// a job already waiting or being processed is left where it is: the
    /// web's periodic re-queue of pending jobs may have queued it between
    /// the commit and this push, and a second entry would let a second
    /// worker start it while the first runs it.
    pub fn push(&self, job_id: i64) -> anyhow::Result<()> {
        self.recover(job_id)?;
        Ok(())
    }

    /// Queue a job found unfinished in the database, unless it is waiting or
    /// being processed already. Returns whether it was queued.
    pub fn recover(&self, job_id: i64) -> anyhow::Result<bool> {
        let n: i64 = self.call(|c| {
            self.recover
                .key(&self.queue)
                .key(&self.processing)
                .arg(job_id)
                .invoke(c)
        })?;
        Ok(n == 1)
    }

    /// Take the oldest waiting job, leased to the caller; `None` when the
    /// queue is empty.
    pub fn take(&self) -> anyhow::Result<Option<Delivery>> {
        let lease_ms = self.lease.as_millis() as u64;
        let got: Option<(i64, u32)> = self.call(|c| {
            self.take
                .key(&self.queue)
                .key(&self.processing)
                .key(&self.deliveries)
                .arg(lease_ms)
                .invoke(c)
        })?;
        Ok(got.map(|(job_id, delivery)| Delivery { job_id, delivery }))
    }

    /// Extend the lease of a job being processed; `false` when it is no
    /// longer in the processing set (its lease ran out and it was put back).
    pub fn renew(&self, job_id: i64) -> anyhow::Result<bool> {
        let lease_ms = self.lease.as_millis() as u64;
        let n: i64 = self.call(|c| {
            self.renew
                .key(&self.processing)
                .arg(job_id)
                .arg(lease_ms)
                .invoke(c)
        })?;
        Ok(n == 1)
    }

    /// The job's end is recorded: forget it.
    pub fn ack(&self, job_id: i64) -> anyhow::Result<()> {
        self.call(|c| {
            redis::pipe()
                .atomic()
                .cmd("ZREM")
                .arg(&self.processing)
                .arg(job_id)
                .ignore()
                .cmd("HDEL")
                .arg(&self.deliveries)
                .arg(job_id)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Put every job whose lease ran out back at the head of the queue;
    /// returns how many.
    pub fn reap(&self) -> anyhow::Result<usize> {
        let n: i64 = self.call(|c| self.reap.key(&self.processing).key(&self.queue).invoke(c))?;
        Ok(n as usize)
    }

    /// Jobs waiting (not counting those being processed).
    pub fn waiting(&self) -> anyhow::Result<usize> {
        let n: i64 = self.call(|c| redis::cmd("LLEN").arg(&self.queue).query(c))?;
        Ok(n as usize)
    }

    /// Jobs taken by a worker and not yet acknowledged.
    pub fn in_processing(&self) -> anyhow::Result<usize> {
        let n: i64 = self.call(|c| redis::cmd("ZCARD").arg(&self.processing).query(c))?;
        Ok(n as usize)
    }
}
