//! Tokens a page hands out and a later request sends back (a CSRF token
//! in a hidden field, a token in a JSON answer): captured from the step
//! whose answer held it (`capture = { csrf_token = { regex = ... } }` or
//! `{ json = ... }`) and sent as `{{csrf_token}}` in later templates.

use serde_json::Value;

use super::flow::Flow;
use super::json;
use super::model::Call;

/// One value to capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The step (call index) whose answer holds it.
    pub step: usize,
    /// Its name in templates.
    pub name: String,
    /// How it is found in the answer.
    pub how: How,
    /// The recorded value, replaced by `{{name}}` in later templates.
    pub value: String,
}

/// Where in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// A JSON pointer.
    Json(String),
    /// A regular expression whose group 1 is the value.
    Regex(String),
}

/// The placeholders the scenario format fills itself: a capture must not
/// shadow one.
const BUILT_IN: &[&str] = &[
    "user",
    "iteration",
    "date",
    "items",
    "signatures",
    "signature_png",
    "photo_count",
    "photo_urls",
    "item_number",
    "role",
    "job_id",
];

/// The values sent by the login, the steps and the submission that an
/// earlier step's answer handed out.
pub fn find(calls: &[Call], flow: &Flow, checks: &mut Vec<String>) -> Vec<Capture> {
    let mut senders: Vec<usize> = flow.steps.iter().map(|(_, i)| *i).collect();
    senders.extend(flow.login);
    senders.extend(flow.submit);
    senders.sort_unstable();
    let mut out: Vec<Capture> = Vec::new();
    for &i in &senders {
        let c = &calls[i];
        let mut sent: Vec<(String, String)> = c.form.clone();
        if let Some(v) = &c.json {
            sent.extend(
                json::leaves(v)
                    .into_iter()
                    .filter_map(|(p, x)| Some((json::last_key(&p), x.as_str()?.to_string()))),
            );
        }
        for (key, value) in sent {
            if !token_like(&value) || out.iter().any(|k| k.value == value) {
                continue;
            }
            let source = flow
                .steps
                .iter()
                .map(|(_, s)| *s)
                .filter(|&s| s < i)
                .rev()
                .find_map(|s| locate(&calls[s], &value).map(|how| (s, how)));
            if let Some((step, how)) = source {
                out.push(Capture {
                    step,
                    name: name_for(&key, out.len()),
                    how,
                    value,
                });
            }
        }
        for (h, v) in &c.request_headers {
            let lower = h.to_ascii_lowercase();
            if (lower.contains("csrf") || lower.contains("xsrf")) && !v.is_empty() {
                checks.push(format!(
                    "{} sends a {h} header: the scenario's headers are fixed; give the app a route without it, or a token that stays valid (`[http.headers]`)",
                    c.label()
                ));
            }
        }
    }
    checks.dedup();
    out
}

/// Long enough and without spaces to be a token, not a word of a form.
fn token_like(v: &str) -> bool {
    v.len() >= 16
        && !v.starts_with("data:")
        && !v.starts_with("http")
        && !v.chars().all(|c| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_graphic())
}

/// How `value` is found in `call`'s answer.
fn locate(call: &Call, value: &str) -> Option<How> {
    if let Some(v) = &call.response_json {
        return json::leaves(v)
            .into_iter()
            .find(|(_, x)| x.as_str() == Some(value))
            .map(|(p, _)| How::Json(p));
    }
    let text = call.response_text.as_deref()?;
    let at = text.find(value)?;
    // The text before it, back to the start of its tag, as the anchor.
    let before = &text[..at];
    let start = before
        .rfind('<')
        .filter(|s| at - s <= 120)
        .unwrap_or_else(|| before.char_indices().rev().nth(39).map_or(0, |(i, _)| i));
    let anchor = &before[start..];
    let re = format!("{}([^\"'<>\\s]+)", regex::escape(anchor));
    // Only when the anchor finds this value first.
    let found = regex::Regex::new(&re)
        .ok()?
        .captures(text)?
        .get(1)?
        .as_str()
        == value;
    found.then_some(How::Regex(re))
}

fn name_for(key: &str, n: usize) -> String {
    let clean: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_matches('_').to_string();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        format!("token_{}", n + 1)
    } else if BUILT_IN.contains(&clean.as_str()) {
        format!("captured_{clean}")
    } else {
        clean
    }
}

/// `text` with every captured value as its placeholder.
pub fn swap(text: &str, captures: &[Capture]) -> String {
    captures.iter().fold(text.to_string(), |t, c| {
        t.replace(&c.value, &format!("{{{{{}}}}}", c.name))
    })
}

/// `v` with every captured value in its strings as its placeholder.
pub fn swap_json(v: &Value, captures: &[Capture]) -> Value {
    match v {
        Value::String(s) => Value::String(swap(s, captures)),
        Value::Array(a) => Value::Array(a.iter().map(|x| swap_json(x, captures)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), swap_json(x, captures)))
                .collect(),
        ),
        other => other.clone(),
    }
}
