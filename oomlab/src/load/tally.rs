//! The work a load did, counted rather than assumed: per step, every request
//! and how it was answered (2xx / 3xx / 4xx / 5xx / no answer), the first
//! failure with its status and an excerpt of the answer, and the photos the
//! app said it could not show as they were. The harness turns these into
//! the "load failed" outcome (`harness::assemble`), so a run whose login
//! answered 401 is never reported as "within the limit".

use serde::{Deserialize, Serialize};

/// A step of the scenario whose requests are counted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `[http.login]`, once per user.
    LogIn,
    /// One photo through `http.upload_path`.
    UploadPhoto,
    /// The submission through `http.submit_path`.
    Submit,
    /// One poll of a job's status.
    PollStatus,
    /// One report, through `http.download_paths` or a report link.
    DownloadReport,
    /// One request of a `[[http.steps]]` step (its name is the tally's
    /// `name`).
    FlowStep,
}

impl Step {
    /// How the verdict names it.
    pub fn label(self) -> &'static str {
        match self {
            Step::LogIn => "log in",
            Step::UploadPhoto => "upload photo",
            Step::Submit => "submit",
            Step::PollStatus => "poll status",
            Step::DownloadReport => "download report",
            Step::FlowStep => "flow step",
        }
    }

    /// What to check when this step was answered `status`, when the fix is
    /// obvious.
    pub fn hint(self, status: Option<u16>) -> Option<&'static str> {
        match (self, status) {
            (Step::LogIn, Some(401 | 403)) => {
                Some("check `[http.login]` (path, form or json, the user it logs in)")
            }
            (Step::LogIn, Some(404 | 405)) => Some("check `[http.login]` `path` and `method`"),
            (_, Some(401 | 403)) => Some(
                "the app refused the session: check `[http.login]` and `[http.headers]` in the scenario",
            ),
            (Step::UploadPhoto, Some(404 | 405)) => Some("check `http.upload_path`"),
            (Step::UploadPhoto, Some(400 | 413 | 415 | 422)) => Some(
                "the app refused the photo: check `http.upload_field` and the photos (size, format)",
            ),
            (Step::Submit, Some(404 | 405)) => Some("check `http.submit_path`"),
            (Step::Submit, Some(400 | 422)) => Some(
                "the app refused the submission: check `http.submission_template` and `http.item_template`",
            ),
            (Step::PollStatus, Some(404 | 405)) => {
                Some("check `http.status_path` or `http.status_url_pointer`")
            }
            (Step::DownloadReport, Some(404)) => {
                Some("check `http.download_paths` or `http.report_url_pointers`")
            }
            (Step::FlowStep, Some(404 | 405)) => {
                Some("check the step's `path` and `method` in `[[http.steps]]`")
            }
            (Step::FlowStep, Some(400 | 422)) => Some(
                "the app refused the step's request: check its `json` or `form` in `[[http.steps]]` and the values it uses",
            ),
            (_, None) => None,
            _ => None,
        }
    }
}

/// How one request of a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer the step could use.
    Used(u16),
    /// An HTTP answer the step could not use: a status it did not expect,
    /// or a body it could not read (not JSON, no value at a pointer, not the
    /// report's file type).
    Refused(u16),
    /// No HTTP answer: connection refused or reset, timeout, or a request
    /// that could not be made.
    NoAnswer,
}

/// The requests of one step and their answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepTally {
    /// The step.
    pub step: Step,
    /// A `[[http.steps]]` step's name (`flow_step` tallies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Requests made.
    pub requests: u64,
    /// Requests whose answer the step could use.
    pub ok: u64,
    /// Answers by status class (whether used or not).
    pub status_2xx: u64,
    /// 3xx answers (a form login's redirect is one).
    pub status_3xx: u64,
    /// 4xx answers.
    pub status_4xx: u64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// Requests with no HTTP answer (refused, reset, timed out).
    pub no_answer: u64,
    /// The first request the step could not use.
    pub first_failure: Option<StepFailure>,
}

impl StepTally {
    pub(super) fn new(step: Step, name: Option<String>) -> Self {
        StepTally {
            step,
            name,
            requests: 0,
            ok: 0,
            status_2xx: 0,
            status_3xx: 0,
            status_4xx: 0,
            status_5xx: 0,
            no_answer: 0,
            first_failure: None,
        }
    }

    /// How the verdict and the tables name it: a flow step by its name.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.step.label())
    }

    /// Requests the step could not use.
    pub fn failed(&self) -> u64 {
        self.requests - self.ok
    }

    pub(super) fn count(&mut self, answer: Answer, failure: Option<StepFailure>) {
        self.requests += 1;
        let status = match answer {
            Answer::Used(s) => {
                self.ok += 1;
                Some(s)
            }
            Answer::Refused(s) => Some(s),
            Answer::NoAnswer => {
                self.no_answer += 1;
                None
            }
        };
        match status {
            Some(200..=299) => self.status_2xx += 1,
            Some(300..=399) => self.status_3xx += 1,
            Some(400..=499) => self.status_4xx += 1,
            Some(500..=599) => self.status_5xx += 1,
            _ => {}
        }
        if !matches!(answer, Answer::Used(_)) && self.first_failure.is_none() {
            self.first_failure = failure;
        }
    }
}

/// Why a request of a step could not be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepFailure {
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What went wrong, with the start of the answer's body when it had one.
    pub message: String,
    /// When, seconds since the load started.
    pub at_s: f64,
}

/// A photo the app said it showed degraded in a completed report (the
/// reference server's `degraded_photos`, or the scenario's
/// `http.degraded_photos_pointer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DegradedPhoto {
    /// The job whose report holds it.
    pub job_id: String,
    /// Its number in the submission (1-based), when the app says.
    pub index: Option<u64>,
    /// How it was shown: `placeholder` ("image not available") or `partial`
    /// (decoded in part), when the app says.
    pub shown_as: Option<String>,
    /// Why, as the app says it.
    pub reason: String,
}

impl DegradedPhoto {
    /// The entries of a status answer's degraded-photo list (objects with
    /// `index`, `shown_as`, `reason`, or plain strings).
    pub fn read_all(job_id: &str, list: &serde_json::Value) -> Vec<DegradedPhoto> {
        let Some(items) = list.as_array() else {
            return Vec::new();
        };
        items
            .iter()
            .map(|item| {
                let text = |k: &str| item.get(k).and_then(|v| v.as_str()).map(str::to_string);
                DegradedPhoto {
                    job_id: job_id.to_string(),
                    index: item.get("index").and_then(|v| v.as_u64()),
                    shown_as: text("shown_as"),
                    reason: item
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| text("reason"))
                        .unwrap_or_else(|| "no reason given".to_string()),
                }
            })
            .collect()
    }

    /// "photo 3 shown as a placeholder: not a JPEG".
    pub fn describe(&self) -> String {
        let which = self
            .index
            .map_or_else(|| "a photo".to_string(), |i| format!("photo {i}"));
        let how = match self.shown_as.as_deref() {
            Some("placeholder") => " shown as \"image not available\"".to_string(),
            Some("partial") => " decoded only in part".to_string(),
            Some(other) => format!(" shown as {other}"),
            None => " degraded".to_string(),
        };
        format!("{which} of job {}{how}: {}", self.job_id, self.reason)
    }
}

/// The start of an answer's body for a failure message: its first 160
/// characters on one line.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(160)
        .collect();
    let one_line = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.chars().count() > 160 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

/// The kind of file a report download must be, from its path, URL or
/// content type; checked against its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// `%PDF`.
    Pdf,
    /// A zip (`PK`): xlsx, docx.
    Zip,
}

impl ReportKind {
    /// What `path_or_url` (its last segment's extension) or `content_type`
    /// says the file is; `None`: unknown, not checked.
    pub fn expected(path_or_url: &str, content_type: Option<&str>) -> Option<ReportKind> {
        let path = path_or_url.split(['?', '#']).next().unwrap_or_default();
        let ext = path
            .rsplit('/')
            .next()
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("pdf") => return Some(ReportKind::Pdf),
            Some("xlsx" | "docx" | "zip") => return Some(ReportKind::Zip),
            _ => {}
        }
        let ct = content_type?.to_ascii_lowercase();
        if ct.starts_with("application/pdf") {
            Some(ReportKind::Pdf)
        } else if ct.contains("spreadsheetml") || ct.starts_with("application/zip") {
            Some(ReportKind::Zip)
        } else {
            None
        }
    }

    /// Whether `start` (the file's first bytes) is a file of this kind.
    pub fn matches(self, start: &[u8]) -> bool {
        match self {
            ReportKind::Pdf => start.starts_with(b"%PDF"),
            ReportKind::Zip => start.starts_with(b"PK"),
        }
    }

    /// "a PDF".
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::Pdf => "a PDF",
            ReportKind::Zip => "a zip (xlsx) file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_by_class_and_keeps_the_first_failure() {
        let mut t = StepTally::new(Step::UploadPhoto, None);
        let fail = |m: &str| StepFailure {
            status: Some(404),
            message: m.into(),
            at_s: 0.0,
        };
        t.count(Answer::Used(200), None);
        t.count(Answer::Refused(404), Some(fail("first")));
        t.count(Answer::Refused(404), Some(fail("second")));
        t.count(Answer::NoAnswer, None);
        assert_eq!((t.requests, t.ok, t.failed()), (4, 1, 3));
        assert_eq!((t.status_2xx, t.status_4xx, t.no_answer), (1, 2, 1));
        assert_eq!(t.first_failure.unwrap().message, "first");
    }

    #[test]
    fn report_kinds_come_from_the_extension_or_the_content_type() {
        assert_eq!(
            ReportKind::expected("/api/jobs/{{job_id}}/report.pdf", None),
            Some(ReportKind::Pdf)
        );
        assert_eq!(
            ReportKind::expected("http://h/raw/upload/r.XLSX?x=1", None),
            Some(ReportKind::Zip)
        );
        assert_eq!(
            ReportKind::expected("/r/7", Some("application/pdf")),
            Some(ReportKind::Pdf)
        );
        assert_eq!(ReportKind::expected("/r/7", Some("text/html")), None);
        assert!(ReportKind::Pdf.matches(b"%PDF-1.7"));
        assert!(!ReportKind::Pdf.matches(b"<html>"));
        assert!(ReportKind::Zip.matches(b"PK\x03\x04"));
    }

    #[test]
    fn degraded_photos_are_read_from_objects_or_strings() {
        let v = serde_json::json!([
            {"index": 2, "url": "u", "shown_as": "partial", "reason": "truncated"},
            "not a JPEG"
        ]);
        let d = DegradedPhoto::read_all("7", &v);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0].describe(),
            "photo 2 of job 7 decoded only in part: truncated"
        );
        assert_eq!(d[1].reason, "not a JPEG");
        assert!(DegradedPhoto::read_all("7", &serde_json::json!({})).is_empty());
    }

    #[test]
    fn hints_name_the_key_to_check() {
        assert!(
            Step::LogIn
                .hint(Some(401))
                .unwrap()
                .contains("[http.login]")
        );
        assert!(
            Step::UploadPhoto
                .hint(Some(404))
                .unwrap()
                .contains("upload_path")
        );
        assert_eq!(Step::Submit.hint(Some(500)), None);
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt("a\n  b\tc"), "a b c");
        assert!(excerpt(&"x".repeat(500)).ends_with('…'));
    }
}
