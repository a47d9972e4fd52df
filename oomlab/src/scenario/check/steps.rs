//! `[[http.steps]]`: each step's keys checked, its templates rendered once
//! with the placeholders known at its point of the flow (`{{user}}`,
//! `{{iteration}}` per submission, `{{job_id}}` from `after_submit` on, and
//! the names captured by the steps before it), so a typo or a name used
//! before it is captured is a `ConfigError` when the file is loaded.

use super::*;
use crate::scenario::steps::{At, Capture, CaptureFrom, FlowStep, StepBody};

/// Steps a scenario may hold; a flow of a few page loads needs a handful.
const MAX_STEPS: usize = 50;

/// Names the load defines itself: a capture may not shadow them.
const BUILT_IN: [&str; 11] = [
    "user",
    "iteration",
    "date",
    "job_id",
    "items",
    "signatures",
    "signature_png",
    "photo_count",
    "photo_urls",
    "item_number",
    "role",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::scenario) struct RawStep {
    at: String,
    name: Option<String>,
    method: Option<String>,
    path: String,
    json: Option<String>,
    form: Option<BTreeMap<String, toml::Value>>,
    expect_status: Option<toml::Value>,
    capture: Option<BTreeMap<String, RawCapture>>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::scenario) struct RawCapture {
    json: Option<String>,
    regex: Option<String>,
    header: Option<String>,
}

/// The names captured by `steps` at `at` or before it in the flow, as sample
/// values for checking a template that comes after those steps.
pub(super) fn captured_through(steps: &[FlowStep], at: At) -> Vars {
    let mut vars = Vars::new();
    for step in steps.iter().filter(|s| s.at <= at) {
        for c in &step.captures {
            vars = vars.with(c.name.clone(), "x");
        }
    }
    vars
}

/// The placeholders the load itself defines at `at`.
fn built_in_at(at: At) -> Vars {
    let mut vars = Vars::new().with("user", 1);
    if !at.once_per_user() {
        vars = vars.with("iteration", 1).with("date", "2026-11-28");
    }
    if at.knows_job_id() {
        vars = vars.with("job_id", "1");
    }
    vars
}

impl Checker<'_> {
    pub(super) fn steps(&self, raw: Vec<RawStep>) -> Result<Vec<FlowStep>, ConfigError> {
        if raw.len() > MAX_STEPS {
            return Err(self.invalid(
                "http.steps",
                format!("has {} steps", raw.len()),
                format!("keep at most {MAX_STEPS}: the requests of the flow that matter"),
            ));
        }
        // The points first, so templates can be checked in flow order.
        let mut points = Vec::with_capacity(raw.len());
        for (n, step) in raw.iter().enumerate() {
            let at = At::parse(&step.at).ok_or_else(|| {
                self.invalid(
                    &format!("http.steps[{}].at", n + 1),
                    format!("`{}` is not a point of the flow", step.at),
                    format!(
                        "use one of {}",
                        At::ALL.map(|a| format!("\"{}\"", a.name())).join(", ")
                    ),
                )
            })?;
            points.push(at);
        }
        let mut order: Vec<usize> = (0..raw.len()).collect();
        // Stable: steps at one point keep their file order.
        order.sort_by_key(|&i| points[i]);
        let mut raw: Vec<Option<RawStep>> = raw.into_iter().map(Some).collect();
        let mut checked: Vec<Option<FlowStep>> = (0..raw.len()).map(|_| None).collect();
        // The names captured so far in flow order, with sample values.
        let mut known = BTreeMap::new();
        for i in order {
            let step = raw[i].take().expect("each step is checked once");
            let key = format!("http.steps[{}]", i + 1);
            let vars = built_in_at(points[i]).with_all(known.iter());
            let step = self.step(&key, points[i], step, &vars)?;
            for c in &step.captures {
                known.insert(c.name.clone(), Value::from("x"));
            }
            checked[i] = Some(step);
        }
        Ok(checked.into_iter().flatten().collect())
    }

    fn step(&self, key: &str, at: At, raw: RawStep, vars: &Vars) -> Result<FlowStep, ConfigError> {
        let method = raw
            .method
            .unwrap_or_else(|| "GET".to_string())
            .to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
            return Err(self.invalid(
                &format!("{key}.method"),
                format!("`{method}` is not a step method"),
                "use \"GET\" (the default), \"POST\", \"PUT\", \"PATCH\" or \"DELETE\"",
            ));
        }
        if !raw.path.starts_with('/') {
            return Err(self.invalid(
                &format!("{key}.path"),
                format!("`{}` is not a path", raw.path),
                "start it with a slash, e.g. path = \"/inspections/new\"",
            ));
        }
        self.text_template(&format!("{key}.path"), &raw.path, vars)?;
        let name = match raw.name {
            Some(n) if n.trim().is_empty() => {
                return Err(self.invalid(
                    &format!("{key}.name"),
                    "is empty",
                    "name the step, e.g. name = \"form page\", or leave the key out for \"<METHOD> <path>\"",
                ));
            }
            Some(n) => n,
            None => format!("{method} {}", raw.path),
        };
        let body = match (raw.form, raw.json) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    &format!("{key}.json"),
                    format!("is given together with {key}.form"),
                    "keep one: form (a table of form fields) or json (a JSON body)",
                ));
            }
            (Some(form), None) => {
                StepBody::Form(self.form_fields(&format!("{key}.form"), form, vars)?)
            }
            (None, Some(json)) => {
                StepBody::Json(self.json_template(&format!("{key}.json"), Some(json), "", vars)?)
            }
            (None, None) => StepBody::Empty,
        };
        if method == "GET" && !matches!(body, StepBody::Empty) {
            return Err(self.invalid(
                &format!("{key}.method"),
                "is GET, which sends no body, but a form or json body is given",
                "use method = \"POST\", or drop the body and put the fields in the path",
            ));
        }
        let headers = self.request_headers(
            &format!("{key}.headers"),
            raw.headers.unwrap_or_default(),
            vars,
        )?;
        let expect_status = self.expect_status(
            &format!("{key}.expect_status"),
            raw.expect_status,
            "give a status or a list of them, e.g. expect_status = 200 or [200, 302]; leave it out for any 2xx or 3xx",
        )?;
        let mut captures = Vec::new();
        for (name, c) in raw.capture.unwrap_or_default() {
            captures.push(self.capture(&format!("{key}.capture.{name}"), name, c, at)?);
        }
        Ok(FlowStep {
            at,
            name,
            method,
            path: raw.path,
            body,
            headers,
            expect_status,
            captures,
        })
    }

    fn capture(
        &self,
        key: &str,
        name: String,
        raw: RawCapture,
        at: At,
    ) -> Result<Capture, ConfigError> {
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(self.invalid(
                key,
                format!("`{name}` is not a placeholder name"),
                "use letters, digits and underscores, starting with a letter, e.g. csrf_token",
            ));
        }
        if BUILT_IN.contains(&name.as_str()) {
            return Err(self.invalid(
                key,
                format!("`{name}` is a placeholder the load defines itself"),
                format!("capture it under another name, e.g. {name}_{}", at.name()),
            ));
        }
        let fix = "give exactly one of json = \"/pointer\", regex = 'text (group 1)' or header = \"Name\"";
        let from = match (raw.json, raw.regex, raw.header) {
            (Some(p), None, None) => {
                self.pointer(key, &p)?;
                CaptureFrom::Json(p)
            }
            (None, Some(r), None) => {
                let re = regex::Regex::new(&r).map_err(|e| {
                    self.invalid(
                        key,
                        format!("`{r}` is not a regular expression: {e}"),
                        "write it in the regex crate's syntax, in a TOML literal string ('...')",
                    )
                })?;
                if re.captures_len() < 2 {
                    return Err(self.invalid(
                        key,
                        format!("regex `{r}` has no group"),
                        "put the value to capture in parentheses, e.g. 'name=\"csrf_token\" value=\"([^\"]+)\"'",
                    ));
                }
                CaptureFrom::Regex(re)
            }
            (None, None, Some(h)) => {
                if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(self.invalid(
                        key,
                        format!("`{h}` is not a valid header name"),
                        "name the header, e.g. header = \"Location\"",
                    ));
                }
                CaptureFrom::Header(h)
            }
            (None, None, None) => return Err(self.invalid(key, "says where to read nothing", fix)),
            _ => return Err(self.invalid(key, "says more than one place to read", fix)),
        };
        Ok(Capture { name, from })
    }
}
