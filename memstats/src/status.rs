//! A job's status as the reference server stores and answers it
//! (`GET /api/jobs/{id}` `status`), and as the harness reads it back: one
//! type on both sides, so the words cannot drift apart.
//!
//! An app target's statuses are its own words (`http.done_values` and
//! `http.failed_values` of a scenario say which mean done); the harness
//! adds its own for a job it stopped waiting for ([`JobStatus::harness_word`]).

use serde::{Deserialize, Serialize};

/// The reference server's job status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Stored, waiting for a worker.
    Pending,
    /// A worker is building its reports.
    Processing,
    /// Both reports are uploaded.
    Completed,
    /// It failed (its `error` says why).
    Failed,
}

impl JobStatus {
    /// Every status, in the order a job goes through them.
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
    ];

    /// The word stored and answered: `pending`, `processing`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// The status a stored or answered word names; `None` for any other
    /// word (an app's own, or the harness's).
    pub fn parse(word: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Whether the job will not change any more.
    pub const fn is_final(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// The words the harness writes for a job it stopped waiting for:
    /// `timed out` (its deadline), `lost` (its process died and nothing
    /// moved), `stopped` (the run ended first), `not polled`.
    pub const HARNESS_WORDS: [&'static str; 4] = ["timed out", "lost", "stopped", "not polled"];

    /// Whether `word` is one of [`JobStatus::HARNESS_WORDS`].
    pub fn harness_word(word: &str) -> bool {
        JobStatus::HARNESS_WORDS.contains(&word)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_word_and_json() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert!(!JobStatus::harness_word(s.as_str()));
        }
        assert_eq!(JobStatus::parse("lost"), None);
        assert!(JobStatus::harness_word("lost"));
        assert!(JobStatus::Completed.is_final() && !JobStatus::Pending.is_final());
    }
}
