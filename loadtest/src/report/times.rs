//! A job's timestamps as the target gives them, and the spans between.

use serde::{Deserialize, Serialize};

/// A job's timestamps as the server's status answer gives them (RFC 3339,
/// milliseconds); each `None` until known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobTimes {
    /// When the submission was stored and the job queued.
    pub created_at: Option<String>,
    /// When a worker took it up (the last attempt).
    pub started_at: Option<String>,
    /// When it became completed or failed.
    pub finished_at: Option<String>,
}

impl JobTimes {
    /// `(queue wait, processing, created to finished)`, seconds, each where
    /// both of its ends are known and in order.
    pub fn spans(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let at = |t: &Option<String>| {
            t.as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        };
        let (c, s, f) = (
            at(&self.created_at),
            at(&self.started_at),
            at(&self.finished_at),
        );
        let between = |a: Option<chrono::DateTime<chrono::FixedOffset>>,
                       b: Option<chrono::DateTime<chrono::FixedOffset>>| {
            let d = (b? - a?).num_microseconds()? as f64 / 1e6;
            (d >= 0.0).then_some(d)
        };
        (between(c, s), between(s, f), between(c, f))
    }
}
