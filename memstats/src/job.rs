//! When a job was created, started and finished, as `GET /api/jobs/{id}`
//! answers it (flattened into the answer) and as the harness reads it back to
//! place a job's processing on its memory timeline.
//!
//! Times are RFC 3339 in UTC with milliseconds (`2026-11-30T08:30:01.123Z`):
//! the server's database stores them as that text, and [`format_time`] is the
//! one place that writes it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The three times of a job; each `None` (JSON `null`) until known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobTimes {
    /// When the submission and its job were stored (the 202 answer follows).
    #[schemars(extend("format" = "date-time"))]
    pub created_at: Option<String>,
    /// When the current or last attempt started processing; a job taken up
    /// again after a restart gets a new one.
    #[schemars(extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// When the job became `completed` or `failed`.
    #[schemars(extend("format" = "date-time"))]
    pub finished_at: Option<String>,
}

/// `t` as the job times write it: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time in the format of [`format_time`].
pub fn now_time() -> String {
    format_time(Utc::now())
}

/// Parse a time written by [`format_time`] (any RFC 3339 time is accepted).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl JobTimes {
    /// Milliseconds the job waited in the queue before its current or last
    /// attempt started; `None` until it started (or if a time is unreadable).
    pub fn queued_ms(&self) -> Option<i64> {
        span_ms(self.created_at.as_deref()?, self.started_at.as_deref()?)
    }

    /// Milliseconds from the start of the current or last attempt to the end;
    /// `None` until the job finished.
    pub fn processing_ms(&self) -> Option<i64> {
        span_ms(self.started_at.as_deref()?, self.finished_at.as_deref()?)
    }
}

fn span_ms(from: &str, to: &str) -> Option<i64> {
    Some((parse_time(to)? - parse_time(from)?).num_milliseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_with_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T09:30:01.123456+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2026-11-30T08:30:01.123Z");
        let back = parse_time("2026-11-30T08:30:01.123Z").unwrap();
        assert_eq!((t - back).num_microseconds(), Some(456));
        assert!(now_time().ends_with('Z'));
    }

    #[test]
    fn spans_need_both_ends() {
        let j = JobTimes {
            created_at: Some("2026-11-30T08:30:01.123Z".into()),
            started_at: Some("2026-11-30T08:30:01.500Z".into()),
            finished_at: None,
        };
        assert_eq!(j.queued_ms(), Some(377));
        assert_eq!(j.processing_ms(), None);
        let json = serde_json::to_string(&j).unwrap();
        assert!(json.contains(r#""finished_at":null"#), "{json}");
    }
}
