//! What the load observed, shared by every goose user.

use super::JobOutcome;
use super::tally::{Answer, DegradedPhoto, Step, StepFailure, StepTally};
use crate::scenario::steps::At;
use std::collections::BTreeMap;

/// Distinct error messages kept; further ones are counted together, so a
/// long run against a dead server keeps the harness's memory bounded.
const MAX_DISTINCT_ERRORS: usize = 50;
/// Longest error message kept, in characters.
const MAX_ERROR_LEN: usize = 300;
/// Degraded photos kept with their reasons; further ones are only counted.
const MAX_DEGRADED_KEPT: usize = 200;

/// Counters and job records. Held in a std mutex: every critical section is
/// a few field updates and never spans an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub submissions_acknowledged: u64,
    pub jobs_completed: u64,
    pub jobs_failed: u64,
    pub jobs_lost: u64,
    pub jobs: Vec<JobOutcome>,
    pub users_logged_in: u64,
    pub reports_downloaded: u64,
    pub report_bytes: u64,
    /// Users that ran their first transaction.
    pub users_started: u64,
    /// Iterations that got as far as sending their submission (or would
    /// have, had an upload not failed).
    pub submissions_attempted: u64,
    /// Photos the app took.
    pub photos_uploaded: u64,
    /// Report downloads whose first bytes were not the file they should be.
    pub reports_wrong_type: u64,
    /// Reports that should have been downloaded (completed jobs x links and
    /// paths), when the scenario downloads them.
    pub reports_expected: u64,
    /// Photos the app showed degraded, up to `MAX_DEGRADED_KEPT`.
    pub degraded: Vec<DegradedPhoto>,
    /// All of them, kept or not.
    pub degraded_total: u64,
    /// By place in the flow (see [`flow_order`]).
    steps: BTreeMap<(u8, usize), StepTally>,
    errors: BTreeMap<String, u64>,
    other_errors: u64,
}

impl Record {
    /// Counts one error of `step` (a transaction or request name).
    pub fn error(&mut self, step: &str, message: &str) {
        let mut key = format!("{step}: {message}");
        if key.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            key.truncate(cut);
            key.push('…');
        }
        tracing::debug!(target: "oomlab::load", "{key}");
        if let Some(n) = self.errors.get_mut(&key) {
            *n += 1;
        } else if self.errors.len() < MAX_DISTINCT_ERRORS {
            self.errors.insert(key, 1);
        } else {
            self.other_errors += 1;
        }
    }

    /// Counts one request of `step`; `message` says why it failed (the
    /// first failure of each step is kept with it).
    pub fn answer(&mut self, step: Step, answer: Answer, message: &str, at_s: f64) {
        let key = (built_in_order(step), 0);
        self.count(key, step, None, answer, message, at_s);
    }

    /// Counts one request of `[[http.steps]]` step number `index` (its
    /// place in the file), named `name`, at `at`.
    pub fn flow_answer(
        &mut self,
        at: At,
        index: usize,
        name: &str,
        answer: Answer,
        message: &str,
        at_s: f64,
    ) {
        let key = (flow_order(at), index);
        self.count(key, Step::FlowStep, Some(name), answer, message, at_s);
    }

    fn count(
        &mut self,
        key: (u8, usize),
        step: Step,
        name: Option<&str>,
        answer: Answer,
        message: &str,
        at_s: f64,
    ) {
        let failure = (!matches!(answer, Answer::Used(_))).then(|| StepFailure {
            status: match answer {
                Answer::Used(s) | Answer::Refused(s) => Some(s),
                Answer::NoAnswer => None,
            },
            message: message.chars().take(MAX_ERROR_LEN).collect(),
            at_s,
        });
        self.steps
            .entry(key)
            .or_insert_with(|| StepTally::new(step, name.map(str::to_string)))
            .count(answer, failure);
    }

    /// Every step that made a request, in scenario order.
    pub fn step_tallies(&self) -> Vec<StepTally> {
        self.steps.values().cloned().collect()
    }

    /// Records the photos a completed job's report shows degraded.
    pub fn degraded(&mut self, photos: Vec<DegradedPhoto>) {
        for p in photos {
            self.degraded_total += 1;
            if self.degraded.len() < MAX_DEGRADED_KEPT {
                self.degraded.push(p);
            }
        }
    }

    /// The errors as lines: the message, then ` (xN)` when repeated.
    pub fn error_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .errors
            .iter()
            .map(|(m, n)| {
                if *n == 1 {
                    m.clone()
                } else {
                    format!("{m} (x{n})")
                }
            })
            .collect();
        if self.other_errors > 0 {
            lines.push(format!(
                "{} further errors of other kinds",
                self.other_errors
            ));
        }
        lines
    }
}

/// Where a built-in step comes in a user's flow, between the points of
/// `[[http.steps]]` ([`flow_order`]).
fn built_in_order(step: Step) -> u8 {
    match step {
        Step::LogIn => 1,
        Step::UploadPhoto => 4,
        Step::Submit => 5,
        Step::PollStatus => 7,
        Step::DownloadReport => 8,
        // Counted through `flow_answer`; here for completeness.
        Step::FlowStep => 10,
    }
}

/// Where the steps at `at` come in a user's flow.
fn flow_order(at: At) -> u8 {
    match at {
        At::BeforeLogin => 0,
        At::AfterLogin => 2,
        At::BeforeSubmit => 3,
        At::AfterSubmit => 6,
        At::AfterDownload => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_errors_are_counted_and_distinct_ones_are_bounded() {
        let mut r = Record::default();
        for _ in 0..3 {
            r.error("poll status", "connection refused");
        }
        for i in 0..100 {
            r.error("submit", &format!("status {i}"));
        }
        let lines = r.error_lines();
        assert!(lines.contains(&"poll status: connection refused (x3)".to_string()));
        assert_eq!(lines.len(), MAX_DISTINCT_ERRORS + 1);
        assert_eq!(lines.last().unwrap(), "51 further errors of other kinds");
    }

    #[test]
    fn flow_steps_are_tallied_by_name_in_flow_order() {
        let mut r = Record::default();
        r.answer(Step::Submit, Answer::Used(202), "", 0.0);
        r.flow_answer(At::AfterSubmit, 1, "job page", Answer::Used(200), "", 0.0);
        r.flow_answer(
            At::BeforeSubmit,
            0,
            "form page",
            Answer::Refused(404),
            "gone",
            0.1,
        );
        r.answer(Step::LogIn, Answer::Used(302), "", 0.0);
        let labels: Vec<_> = r
            .step_tallies()
            .iter()
            .map(|t| t.label().to_string())
            .collect();
        assert_eq!(labels, ["log in", "form page", "submit", "job page"]);
        let form = &r.step_tallies()[1];
        assert_eq!((form.step, form.failed()), (Step::FlowStep, 1));
    }
}
