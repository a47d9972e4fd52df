//! Whether the load did its work: what the scenario asked for against what
//! happened, step by step, and the checks of its `[thresholds]`.
//!
//! Pure: [`WorkReport::check`] takes the scenario, what the load counted
//! and what the app's log said, and lists every check that failed. A run
//! with a failed check ends as [`super::Outcome::LoadFailed`] (exit 4)
//! unless the server was killed, crossed the limit or crashed (then that is
//! the outcome, and these counts say what the load got through before).

use std::io::BufRead as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::load::LoadOutcome;
use crate::load::tally::{DegradedPhoto, Step, StepTally};
use crate::scenario::{PhotoSource, RunLength, Scenario};

/// Lines of the app's output quoted in the report.
const APP_ERRORS_QUOTED: usize = 5;
/// Longest quoted line, characters.
const APP_ERROR_LINE_LEN: usize = 240;

/// What the scenario asked for and what happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorkReport {
    /// Users the scenario starts.
    pub users_asked: u64,
    /// Users that started.
    pub users_started: u64,
    /// Users whose `[http.login]` worked; `None` without a login.
    pub users_logged_in: Option<u64>,
    /// Submissions the scenario asks for (users x iterations); `None` for a
    /// scenario that runs for a time (then every started iteration counts).
    pub submissions_asked: Option<u64>,
    /// Submissions the load got as far as.
    pub submissions_attempted: u64,
    /// Submissions the app acknowledged with a job id.
    pub submissions_acknowledged: u64,
    /// Photo uploads the attempted submissions needed; `None` when photos
    /// are referenced from the catalogue.
    pub photo_uploads_asked: Option<u64>,
    /// Photos the app took.
    pub photos_uploaded: u64,
    /// Jobs seen completed.
    pub reports_completed: u64,
    /// Jobs seen failed or given up.
    pub jobs_failed: u64,
    /// Report downloads the completed jobs called for.
    pub downloads_expected: u64,
    /// Downloads that arrived whole and of the right file type.
    pub downloads_checked: u64,
    /// Downloads whose first bytes were not the report's type (`%PDF`,
    /// `PK`).
    pub downloads_wrong_type: u64,
    /// Every step's requests and answers.
    pub steps: Vec<StepTally>,
    /// Requests of every step that failed (not the answer the step needed,
    /// or no answer).
    pub http_errors: u64,
    /// Photos the app showed degraded in completed reports (the first 200).
    pub degraded_photos: Vec<DegradedPhoto>,
    /// All of them.
    pub degraded_photos_total: u64,
    /// Lines of the app's output that matched its `[log] error_regex`.
    pub app_errors: AppErrors,
    /// The checks that failed, the first one first; empty: the load did
    /// its work.
    pub failures: Vec<WorkFailure>,
}

/// Lines of the app's output that mean its work failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppErrors {
    /// Matching lines.
    pub count: u64,
    /// The first few, as written (cut at 240 characters).
    pub first: Vec<String>,
}

/// One check of the load that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorkFailure {
    /// Which check.
    pub check: WorkCheck,
    /// What happened, e.g. "upload photo answered 404 Not Found 3 times:
    /// ...".
    pub message: String,
    /// What to check, when it is obvious.
    pub hint: Option<String>,
}

impl WorkFailure {
    /// The message with its hint: "...; check `http.upload_path`".
    pub fn line(&self) -> String {
        match &self.hint {
            Some(h) => format!("{}; {h}", self.message),
            None => self.message.clone(),
        }
    }
}

/// The checks, named as the scenario's `[thresholds]` keys where one
/// applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkCheck {
    /// Requests that failed, over `http_errors`.
    HttpErrors,
    /// Fewer submissions acknowledged than asked for.
    Submissions,
    /// Fewer reports completed than `reports_completed`.
    ReportsCompleted,
    /// A report download missing, cut, empty or not its file type.
    Downloads,
    /// More degraded photos than `degraded_photos`.
    DegradedPhotos,
    /// A job slower than `max_job_s`.
    MaxJob,
    /// More matching app log lines than `app_errors`.
    AppErrors,
}

impl WorkReport {
    /// The counts of `outcome` against what `scenario` asks for, and the
    /// checks that failed. `job_times_s`: each completed job's time to
    /// report ready.
    pub fn check(
        scenario: &Scenario,
        outcome: &LoadOutcome,
        job_times_s: &[f64],
        app_errors: AppErrors,
    ) -> WorkReport {
        let users_asked = scenario.users.count as u64;
        let submissions_asked = match scenario.users.length {
            RunLength::Iterations(n) => Some(users_asked * n as u64),
            RunLength::RunTime(_) => None,
        };
        let photo_uploads_asked = (scenario.submission.photos == PhotoSource::Upload).then(|| {
            outcome.submissions_attempted * scenario.submission.photos_per_submission() as u64
        });
        let http_errors = outcome.steps.iter().map(StepTally::failed).sum();
        let mut w = WorkReport {
            users_asked,
            users_started: outcome.users_started,
            users_logged_in: scenario
                .http
                .login
                .as_ref()
                .map(|_| outcome.users_logged_in),
            submissions_asked,
            submissions_attempted: outcome.submissions_attempted,
            submissions_acknowledged: outcome.submissions_acknowledged,
            photo_uploads_asked,
            photos_uploaded: outcome.photos_uploaded,
            reports_completed: outcome.jobs_completed,
            jobs_failed: outcome.jobs_failed,
            downloads_expected: outcome.reports_expected,
            downloads_checked: outcome.reports_downloaded,
            downloads_wrong_type: outcome.reports_wrong_type,
            steps: outcome.steps.clone(),
            http_errors,
            degraded_photos: outcome.degraded_photos.clone(),
            degraded_photos_total: outcome.degraded_photos_total,
            app_errors,
            failures: Vec::new(),
        };
        w.failures = w.failed_checks(scenario, job_times_s);
        w
    }

    fn failed_checks(&self, scenario: &Scenario, job_times_s: &[f64]) -> Vec<WorkFailure> {
        let t = &scenario.thresholds;
        let mut out = Vec::new();
        let mut fail = |check, message: String, hint: Option<String>| {
            out.push(WorkFailure {
                check,
                message,
                hint,
            })
        };
        if self.http_errors > t.http_errors {
            // The first failing step in scenario order names the cause.
            if let Some(step) = self.steps.iter().find(|s| s.failed() > 0) {
                let first = step.first_failure.as_ref();
                let status = first.and_then(|f| f.status);
                let what = first.map_or_else(String::new, |f| format!(": {}", f.message));
                fail(
                    WorkCheck::HttpErrors,
                    format!(
                        "`{}` failed {} of {} time(s){what}{}",
                        step.label(),
                        step.failed(),
                        step.requests,
                        if t.http_errors > 0 {
                            format!(
                                " ({} failed requests in all, {} allowed)",
                                self.http_errors, t.http_errors
                            )
                        } else {
                            String::new()
                        }
                    ),
                    step.step.hint(status).map(str::to_string),
                );
            }
        }
        let asked = self
            .submissions_asked
            .unwrap_or(self.submissions_attempted)
            .max(self.submissions_attempted);
        if self.submissions_acknowledged == 0 || self.submissions_acknowledged < asked {
            let why = if self.users_started == 0 {
                " (no user started)".to_string()
            } else if self.users_logged_in == Some(0) {
                " (no user could log in)".to_string()
            } else {
                String::new()
            };
            fail(
                WorkCheck::Submissions,
                format!(
                    "{} of {asked} submission(s) acknowledged{why}",
                    self.submissions_acknowledged
                ),
                None,
            );
        }
        let wanted = t.reports_completed.of(asked);
        if self.reports_completed < wanted {
            fail(
                WorkCheck::ReportsCompleted,
                format!(
                    "{} of {asked} report(s) completed ({} asked by thresholds.reports_completed)",
                    self.reports_completed, t.reports_completed
                ),
                (self.jobs_failed > 0).then(|| {
                    format!(
                        "{} job(s) failed or timed out: see the errors in report.md",
                        self.jobs_failed
                    )
                }),
            );
        }
        if self.downloads_checked < self.downloads_expected {
            fail(
                WorkCheck::Downloads,
                format!(
                    "{} of {} report download(s) arrived whole and of the right type{}",
                    self.downloads_checked,
                    self.downloads_expected,
                    if self.downloads_wrong_type > 0 {
                        format!(
                            " ({} not the file they should be)",
                            self.downloads_wrong_type
                        )
                    } else {
                        String::new()
                    }
                ),
                None,
            );
        }
        if let Some(max) = t.degraded_photos
            && self.degraded_photos_total > max
        {
            fail(
                WorkCheck::DegradedPhotos,
                format!(
                    "{} photo(s) shown degraded ({max} allowed by thresholds.degraded_photos): {}",
                    self.degraded_photos_total,
                    self.degraded_photos
                        .first()
                        .map(DegradedPhoto::describe)
                        .unwrap_or_default()
                ),
                None,
            );
        }
        if let Some(max) = t.max_job {
            let slow = job_times_s
                .iter()
                .filter(|s| **s > max.as_secs_f64())
                .count();
            if slow > 0 {
                let worst = job_times_s.iter().copied().fold(0.0, f64::max);
                fail(
                    WorkCheck::MaxJob,
                    format!(
                        "{slow} job(s) took longer than thresholds.max_job_s ({} s); the slowest {worst:.1} s",
                        max.as_secs_f64()
                    ),
                    None,
                );
            }
        }
        if self.app_errors.count > t.app_errors {
            fail(
                WorkCheck::AppErrors,
                format!(
                    "the app logged {} error line(s) ({} allowed by thresholds.app_errors), first: `{}`",
                    self.app_errors.count,
                    t.app_errors,
                    self.app_errors.first.first().map_or("", String::as_str)
                ),
                Some("see server.log; the patterns are the target file's [log] error_regex".into()),
            );
        }
        out
    }

    /// The counts in one clause: "3 of 3 photos uploaded, 1 of 1
    /// submissions acknowledged, 1 of 1 reports completed, 2 of 2 downloads
    /// checked".
    pub fn counts(&self) -> String {
        let asked = self
            .submissions_asked
            .unwrap_or(self.submissions_attempted)
            .max(self.submissions_attempted);
        let mut parts = Vec::new();
        if let Some(n) = self.users_logged_in {
            parts.push(format!("{n} of {} user(s) logged in", self.users_asked));
        }
        if let Some(n) = self.photo_uploads_asked {
            parts.push(format!("{} of {n} photo(s) uploaded", self.photos_uploaded));
        }
        parts.push(format!(
            "{} of {asked} submission(s) acknowledged",
            self.submissions_acknowledged
        ));
        parts.push(format!(
            "{} of {asked} report(s) completed",
            self.reports_completed
        ));
        if self.downloads_expected > 0 {
            parts.push(format!(
                "{} of {} download(s) checked",
                self.downloads_checked, self.downloads_expected
            ));
        }
        if self.degraded_photos_total > 0 {
            parts.push(format!(
                "{} photo(s) degraded ({})",
                self.degraded_photos_total,
                self.degraded_photos
                    .first()
                    .map(DegradedPhoto::describe)
                    .unwrap_or_default()
            ));
        }
        if self.app_errors.count > 0 {
            parts.push(format!("{} app error line(s)", self.app_errors.count));
        }
        parts.join(", ")
    }

    /// The step tally of `step`, if it made a request.
    pub fn step(&self, step: Step) -> Option<&StepTally> {
        self.steps.iter().find(|s| s.step == step)
    }
}

/// The lines of `log` matching any of `patterns`: counted, the first few
/// kept. Read a line at a time, so a large log is never held.
pub fn scan_app_errors(log: &Path, patterns: &[regex::Regex]) -> AppErrors {
    let mut found = AppErrors::default();
    if patterns.is_empty() {
        return found;
    }
    let Ok(file) = std::fs::File::open(log) else {
        return found;
    };
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        if patterns.iter().any(|p| p.is_match(&line)) {
            found.count += 1;
            if found.first.len() < APP_ERRORS_QUOTED {
                found
                    .first
                    .push(line.trim_end().chars().take(APP_ERROR_LINE_LEN).collect());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests;
