//! `[queue]`: where jobs wait between the HTTP side and the workers.

use serde::{Deserialize, Serialize};

/// Which queue carries jobs from the web side to the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueBackend {
    /// The in-process queue of the single-process server, fed from the
    /// SQLite jobs table on start (the default, the modelled app's shape).
    Sqlite,
    /// A Redis list with a processing set and leases, so the `web` and
    /// `worker` roles can run as separate processes (`queue.url`).
    Redis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    pub backend: QueueBackend,
    /// `redis://HOST:PORT/` of the Redis server (backend `redis`).
    pub url: String,
    /// Seconds a job taken by a worker is leased to it. The worker renews
    /// the lease while the job runs; when the worker dies, the job is
    /// delivered again this long after its last renewal.
    pub lease_secs: u64,
    /// Prefix of the Redis keys (`PREFIX:queue`, `PREFIX:processing`).
    pub key_prefix: String,
    /// Seconds between two passes of the web process (roles `all` and
    /// `web`, backend `redis`) that queue again every job stored as
    /// pending that is neither waiting nor being processed in Redis: a
    /// submission acknowledged while Redis was down, or a Redis restarted
    /// without its data, is taken up within this time of Redis answering,
    /// without a restart of the web. Default 5.
    pub requeue_interval_secs: f64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            backend: QueueBackend::Sqlite,
            url: String::new(),
            lease_secs: 30,
            key_prefix: "oomlab:jobs".into(),
            requeue_interval_secs: 5.0,
        }
    }
}

impl QueueSettings {
    /// The offending key and why, if any.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.backend == QueueBackend::Redis && !self.url.starts_with("redis://") {
            return Some((
                "queue.url",
                "must be redis://HOST:PORT/ when queue.backend = \"redis\"",
            ));
        }
        if self.lease_secs == 0 || self.lease_secs > 3600 {
            return Some(("queue.lease_secs", "must be between 1 and 3600 seconds"));
        }
        if !(self.requeue_interval_secs >= 0.05 && self.requeue_interval_secs <= 3600.0) {
            return Some((
                "queue.requeue_interval_secs",
                "must be between 0.05 and 3600 seconds",
            ));
        }
        if self.key_prefix.is_empty() {
            return Some(("queue.key_prefix", "must not be empty"));
        }
        None
    }
}
