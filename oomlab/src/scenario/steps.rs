//! `[[http.steps]]`: extra requests at named points of each user's flow (a
//! form page loaded after the login, a CSRF token read from it, a request for
//! a dropdown's data before the submission), each with values captured from
//! its answer for the user's later templates. Artillery's `flow` with
//! `capture` is the model.
//!
//! What is here is the checked, typed form and the capture itself (pure, so
//! it is tested without a server); the file's keys are read and checked in
//! `check/steps`, and the requests are sent by the load (`load/user/steps`).

use serde::Serialize;
use serde_json::Value;

/// Where in a user's flow a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// Once per user, at its start, before `[http.login]`.
    BeforeLogin,
    /// Once per user, after `[http.login]` (or at its start, without one).
    AfterLogin,
    /// Each submission, before its photo uploads and the submission itself.
    BeforeSubmit,
    /// Each submission, once it is acknowledged, before its status is polled.
    AfterSubmit,
    /// Each submission, after its reports were downloaded (or, when the
    /// scenario does not download them, once the job is done), before the
    /// think time.
    AfterDownload,
}

impl At {
    /// Every point, in flow order.
    pub const ALL: [At; 5] = [
        At::BeforeLogin,
        At::AfterLogin,
        At::BeforeSubmit,
        At::AfterSubmit,
        At::AfterDownload,
    ];

    /// The point's name in a scenario file.
    pub fn name(self) -> &'static str {
        match self {
            At::BeforeLogin => "before_login",
            At::AfterLogin => "after_login",
            At::BeforeSubmit => "before_submit",
            At::AfterSubmit => "after_submit",
            At::AfterDownload => "after_download",
        }
    }

    /// The point named `name`.
    pub fn parse(name: &str) -> Option<At> {
        At::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether steps here run once per user rather than once per submission.
    pub fn once_per_user(self) -> bool {
        matches!(self, At::BeforeLogin | At::AfterLogin)
    }

    /// Whether `{{job_id}}` is known here.
    pub fn knows_job_id(self) -> bool {
        matches!(self, At::AfterSubmit | At::AfterDownload)
    }
}

/// One extra request.
#[derive(Debug, Clone, Serialize)]
pub struct FlowStep {
    /// Where in the flow it runs.
    pub at: At,
    /// How errors, goose and the load's step table name it (`name`, or
    /// `"<METHOD> <path>"`).
    pub name: String,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The path, a template (`{{user}}`, `{{job_id}}` where known, captured
    /// names).
    pub path: String,
    /// The body.
    pub body: StepBody,
    /// Headers of this request only, templates (a captured token sent as
    /// `X-CSRF-Token`).
    pub headers: Vec<super::Header>,
    /// The statuses that mean it worked; empty: any 2xx or 3xx (redirects
    /// are not followed, so the answer checked is the app's own).
    pub expect_status: Vec<u16>,
    /// Values read from the answer, in name order.
    pub captures: Vec<Capture>,
}

/// The body of a step's request.
#[derive(Debug, Clone, Serialize)]
pub enum StepBody {
    /// No body.
    Empty,
    /// A JSON template.
    Json(Value),
    /// Form fields (`application/x-www-form-urlencoded`), values templates.
    Form(Vec<(String, String)>),
}

impl FlowStep {
    /// Whether a capture needs the answer's body.
    pub fn reads_body(&self) -> bool {
        self.captures
            .iter()
            .any(|c| !matches!(c.from, CaptureFrom::Header(_)))
    }

    /// Whether `status` is one this step expects.
    pub fn expects(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }

    /// "200 or 302", or "2xx or 3xx": for messages.
    pub fn expected_text(&self) -> String {
        if self.expect_status.is_empty() {
            "2xx or 3xx".to_string()
        } else {
            self.expect_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        }
    }
}

/// A value read from a step's answer, named for later templates.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    /// The placeholder's name: `{{name}}`.
    pub name: String,
    /// Where the value is read.
    pub from: CaptureFrom,
}

/// Where a captured value is read from the answer.
#[derive(Debug, Clone, Serialize)]
pub enum CaptureFrom {
    /// A JSON pointer into a JSON answer; the value keeps its JSON type.
    Json(String),
    /// Group 1 of a regular expression's first match on the body (text).
    Regex(#[serde(serialize_with = "as_pattern")] regex::Regex),
    /// A response header's value (text).
    Header(String),
}

fn as_pattern<S: serde::Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// The longest captured value kept, in bytes: a capture is a token or an
/// id, and every user keeps its own.
pub const MAX_CAPTURE_BYTES: usize = 64 * 1024;

impl Capture {
    /// Reads the value from an answer: `header` looks a header up by name,
    /// `body` is the answer's body as text (empty when not read). The error
    /// says what was not found.
    pub fn read(
        &self,
        header: impl Fn(&str) -> Option<String>,
        body: &str,
    ) -> Result<Value, String> {
        let value = match &self.from {
            CaptureFrom::Header(name) => header(name)
                .map(Value::String)
                .ok_or_else(|| format!("no `{name}` header in the answer"))?,
            CaptureFrom::Regex(re) => {
                let caps = re
                    .captures(body)
                    .ok_or_else(|| format!("regex `{}` does not match the answer", re.as_str()))?;
                let group = caps.get(1).ok_or_else(|| {
                    format!("regex `{}` matched but its group 1 did not", re.as_str())
                })?;
                Value::String(group.as_str().to_string())
            }
            CaptureFrom::Json(pointer) => {
                let answer: Value = serde_json::from_str(body)
                    .map_err(|e| format!("the answer is not JSON ({e})"))?;
                answer
                    .pointer(pointer)
                    .cloned()
                    .ok_or_else(|| format!("nothing at `{pointer}` in the JSON answer"))?
            }
        };
        let len = match &value {
            Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        if len > MAX_CAPTURE_BYTES {
            return Err(format!(
                "the value is {len} bytes, more than the {MAX_CAPTURE_BYTES} kept"
            ));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capture(from: CaptureFrom) -> Capture {
        Capture {
            name: "x".into(),
            from,
        }
    }

    #[test]
    fn a_json_capture_keeps_the_type_and_names_a_missing_pointer() {
        let c = capture(CaptureFrom::Json("/data/id".into()));
        assert_eq!(
            c.read(|_| None, r#"{"data": {"id": 42}}"#).unwrap(),
            json!(42)
        );
        let e = c.read(|_| None, r#"{"data": {}}"#).unwrap_err();
        assert!(e.contains("/data/id"), "{e}");
        let e = c.read(|_| None, "<html>").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn a_regex_capture_takes_group_one_of_the_first_match() {
        let re = regex::Regex::new(r#"name="csrf_token" value="([^"]+)""#).unwrap();
        let c = capture(CaptureFrom::Regex(re));
        let page = r#"<form><input name="csrf_token" value="abc123"><input name="csrf_token" value="zzz"></form>"#;
        assert_eq!(c.read(|_| None, page).unwrap(), json!("abc123"));
        let e = c.read(|_| None, "<form></form>").unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let optional = regex::Regex::new("a(b)?").unwrap();
        let e = capture(CaptureFrom::Regex(optional))
            .read(|_| None, "a")
            .unwrap_err();
        assert!(e.contains("group 1"), "{e}");
    }

    #[test]
    fn a_header_capture_reads_the_header_or_says_it_is_missing() {
        let c = capture(CaptureFrom::Header("Location".into()));
        let found = c
            .read(|n| (n == "Location").then(|| "/jobs/7".to_string()), "")
            .unwrap();
        assert_eq!(found, json!("/jobs/7"));
        assert!(c.read(|_| None, "").unwrap_err().contains("Location"));
    }

    #[test]
    fn a_capture_larger_than_the_bound_is_refused() {
        let re = regex::Regex::new("(x+)").unwrap();
        let big = "x".repeat(MAX_CAPTURE_BYTES + 1);
        let e = capture(CaptureFrom::Regex(re))
            .read(|_| None, &big)
            .unwrap_err();
        assert!(e.contains("bytes"), "{e}");
    }

    #[test]
    fn default_expected_statuses_are_2xx_and_3xx() {
        let step = FlowStep {
            at: At::AfterLogin,
            name: "GET /".into(),
            method: "GET".into(),
            path: "/".into(),
            body: StepBody::Empty,
            headers: vec![],
            expect_status: vec![],
            captures: vec![],
        };
        assert!(step.expects(200) && step.expects(302) && !step.expects(404));
        assert_eq!(step.expected_text(), "2xx or 3xx");
    }
}
