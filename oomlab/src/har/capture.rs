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

/// A header a request sent with a captured value: sent again as a
/// template (`X-CSRF-Token = "{{x_csrf_token}}"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentHeader {
    /// The call that sent it.
    pub call: usize,
    /// The header's name, as recorded.
    pub name: String,
    /// Its value with the captured value as its placeholder.
    pub template: String,
}

/// What [`find`] found: the captures, and the headers that send them.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub captures: Vec<Capture>,
    pub headers: Vec<SentHeader>,
}

/// Headers a browser or its HTTP stack sets by itself: never a token of
/// the app's.
fn browser_header(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "cookie",
        "dnt",
        "host",
        "if-modified-since",
        "if-none-match",
        "origin",
        "pragma",
        "priority",
        "purpose",
        "range",
        "referer",
        "te",
        "upgrade-insecure-requests",
        "user-agent",
        "x-requested-with",
    ];
    let n = name.to_ascii_lowercase();
    // `:authority` and the like: HTTP/2 pseudo-headers, as DevTools lists them.
    n.starts_with(':') || n.starts_with("sec-") || NAMES.contains(&n.as_str())
}

/// The values sent by the login, the steps, the first upload and the
/// submission (in a form field, a JSON body or a header) that an earlier
/// step's answer handed out.
pub fn find(calls: &[Call], flow: &Flow, checks: &mut Vec<String>) -> Found {
    let mut senders: Vec<usize> = flow.steps.iter().map(|(_, i)| *i).collect();
    senders.extend(flow.login);
    senders.extend(flow.submit);
    senders.extend(flow.uploads.first());
    senders.sort_unstable();
    let mut found = Found::default();
    let source = |i: usize, value: &str| {
        flow.steps
            .iter()
            .map(|(_, s)| *s)
            .filter(|&s| s < i)
            .rev()
            .find_map(|s| locate(&calls[s], value).map(|how| (s, how)))
    };
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
            if !token_like(&value) || found.captures.iter().any(|k| k.value == value) {
                continue;
            }
            if let Some((step, how)) = source(i, &value) {
                let name = name_for(&key, &found.captures);
                found.captures.push(Capture {
                    step,
                    name,
                    how,
                    value,
                });
            }
        }
        for (h, v) in &c.request_headers {
            if browser_header(h) || v.is_empty() {
                continue;
            }
            // `Bearer abc...`: the token after the scheme.
            let token = match v.split_once(' ') {
                Some((_, t)) if !token_like(v) => t.trim(),
                _ => v.as_str(),
            };
            let known = found.captures.iter().find(|k| k.value == token).cloned();
            let capture = known.or_else(|| {
                let (step, how) = source(i, token).filter(|_| token_like(token))?;
                let k = Capture {
                    step,
                    name: name_for(h, &found.captures),
                    how,
                    value: token.to_string(),
                };
                found.captures.push(k.clone());
                Some(k)
            });
            match capture {
                Some(k) => found.headers.push(SentHeader {
                    call: i,
                    name: h.clone(),
                    template: v.replace(token, &format!("{{{{{}}}}}", k.name)),
                }),
                None => {
                    let lower = h.to_ascii_lowercase();
                    let why = if lower.contains("csrf") || lower.contains("xsrf") {
                        "its token is in no earlier answer the flow replays (a cookie's value?)"
                    } else {
                        "its value is in no earlier answer"
                    };
                    checks.push(format!(
                        "{} sends a {h} header: not replayed, {why}; if the app needs it, add it to [http.headers] or capture it in a step",
                        c.label()
                    ));
                }
            }
        }
    }
    checks.dedup();
    found
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

/// A placeholder name for a value sent under `key` (a field or a header),
/// unlike the load's own names and those taken.
fn name_for(key: &str, taken: &[Capture]) -> String {
    let n = taken.len();
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
    let name = if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        format!("token_{}", n + 1)
    } else if BUILT_IN.contains(&clean.as_str()) {
        format!("captured_{clean}")
    } else {
        clean
    };
    if taken.iter().any(|k| k.name == name) {
        format!("{name}_{}", n + 1)
    } else {
        name
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
