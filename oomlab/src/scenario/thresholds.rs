//! `[thresholds]`: what a run's load must achieve to count as done.
//!
//! A memory figure from a load that did not happen is worse than no figure,
//! so every run is checked against these, and a run that misses one ends as
//! "the load failed" (exit 4), never as "within the limit". The defaults
//! are strict (no HTTP error, every report completed) so that a run nobody
//! configured still fails loudly when its load broke; a scenario loosens
//! them deliberately, as k6's `thresholds` and goose's error checks do.

use serde::Serialize;
use std::time::Duration;

/// The checks of one scenario, each in the unit its name says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Requests of the load's steps allowed to fail (an HTTP status other
    /// than 2xx, or the login's `expect_status`; or no answer at all) over
    /// the whole run. Default 0.
    pub http_errors: u64,
    /// Reports that must complete: a share of the submissions the scenario
    /// asked for, or a count. Default 100%.
    pub reports_completed: Share,
    /// Photos the server may show degraded (a placeholder, or decoded only
    /// in part) over the whole run; `None`: no limit, but always reported.
    pub degraded_photos: Option<u64>,
    /// The longest a job may take from submission to report ready; `None`:
    /// no limit beyond `users.job_timeout_s`.
    pub max_job: Option<Duration>,
    /// Lines of the app's own output matching its target file's
    /// `[log] error_regex` allowed. Default 0.
    pub app_errors: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            http_errors: 0,
            reports_completed: Share::Percent(100.0),
            degraded_photos: None,
            max_job: None,
            app_errors: 0,
        }
    }
}

/// "90%" of something, or a count of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// A percentage, 0 to 100.
    Percent(f64),
    /// At least this many.
    Count(u64),
}

impl Share {
    /// The count this share asks for out of `of` (a percentage rounds up:
    /// 90% of 3 is 3).
    pub fn of(self, of: u64) -> u64 {
        match self {
            Share::Percent(p) => ((p / 100.0) * of as f64 - 1e-9).ceil().max(0.0) as u64,
            Share::Count(n) => n,
        }
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Share::Percent(p) => write!(f, "{p}%"),
            Share::Count(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_rounds_up_to_whole_reports() {
        assert_eq!(Share::Percent(100.0).of(3), 3);
        assert_eq!(Share::Percent(90.0).of(3), 3);
        assert_eq!(Share::Percent(50.0).of(3), 2);
        assert_eq!(Share::Percent(0.0).of(3), 0);
        assert_eq!(Share::Percent(100.0).of(0), 0);
        assert_eq!(Share::Count(2).of(10), 2);
    }
}
