//! `oomlab scenario from-har`: a scenario from a browser's recorded flow
//! (HAR 1.2, as DevTools' "Save all as HAR" or Playwright's `record_har`
//! write it).
//!
//! The recording is read as one user's flow: static assets (scripts,
//! styles, fonts, images fetched with GET) are dropped; the login is the
//! POST with a password field, or to a path naming login, session, sign-in
//! or auth; each multipart POST carrying an image is a photo upload; the
//! submission is the POST after the uploads whose body holds what they
//! answered; status polling is the GET repeated on one path after it until
//! a value of the answer changes; downloads are what is fetched after, by
//! the job id or by a link in the last status answer. Every other request
//! to the app becomes an `[[http.steps]]` entry at the point of the flow
//! where it was made. The submission becomes the templates, with the photo
//! URLs, signature data URIs and today's date as placeholders.
//!
//! Pure: text in, text out, plus the list of what the user should check
//! ([`Written::checks`]), which the command prints on stderr.
//!
//! # Layout
//! - `model`: the HAR keys read, and [`model::Call`], one request and its
//!   answer, decoded.
//! - `json`: JSON pointers to the leaves of an answer or a body.
//! - `flow`: the calls sorted into the flow's parts.
//! - `submission`: the submission's body as templates.
//! - `capture`: tokens a page hands out and a later request sends back.
//! - `write`: the scenario's text.

mod capture;
mod flow;
mod json;
pub mod model;
mod submission;
mod write;

use std::path::Path;

use crate::error::ConfigError;

/// A scenario's text and what the user must check in it.
#[derive(Debug, Clone)]
pub struct Written {
    /// The TOML text.
    pub toml: String,
    /// What was not recognised or cannot be replayed as recorded.
    pub checks: Vec<String>,
    /// One line: what was found (`a login, 2 page loads, ...`).
    pub summary: String,
}

/// Turns the HAR `text` (read from `path`) into a scenario called `name`.
pub fn scenario_from_har(
    path: &Path,
    text: &str,
    name: &str,
    invocation: &str,
) -> Result<Written, ConfigError> {
    let har: model::Har = serde_json::from_str(text).map_err(|e| {
        ConfigError::invalid(
            path,
            "log",
            format!("is not a HAR file: {e}"),
            "save the flow from the browser's DevTools (Network tab, \"Save all as HAR\")",
        )
    })?;
    let calls = model::calls(&har);
    if calls.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "log.entries",
            "holds no request",
            "record the flow with the Network tab open from the first page load",
        ));
    }
    let flow = flow::Flow::read(&calls);
    let Some(submit) = flow.submit else {
        return Err(ConfigError::invalid(
            path,
            "log.entries",
            format!(
                "holds no submission: no POST after the photo uploads ({} uploads, {} requests to {} seen)",
                flow.uploads.len(),
                flow.kept,
                flow.origin
            ),
            "record the whole flow: log in, upload the photos, submit, wait for the report",
        ));
    };
    let body = submission::templates(&calls, &flow, submit);
    let mut checks = flow.checks.clone();
    checks.extend(body.checks.iter().cloned());
    let toml = write::Scenario {
        invocation,
        name,
        calls: &calls,
        flow: &flow,
        body: &body,
    }
    .render(&mut checks);
    Ok(Written {
        toml,
        summary: flow.summary(),
        checks,
    })
}

/// `text` without its `[[http.steps]]` tables, and the values they capture
/// (`{{name}}`) as plain text, for a loader that does not read them yet.
pub fn without_steps(text: &str) -> String {
    let Ok(mut doc) = text.parse::<toml::Table>() else {
        return text.to_string();
    };
    let mut captured = Vec::new();
    if let Some(toml::Value::Table(http)) = doc.get_mut("http")
        && let Some(toml::Value::Array(steps)) = http.remove("steps")
    {
        for step in &steps {
            if let Some(toml::Value::Table(c)) = step.get("capture") {
                captured.extend(c.keys().cloned());
            }
        }
    }
    let out = toml::to_string(&doc).unwrap_or_else(|_| text.to_string());
    captured
        .iter()
        .fold(out, |t, name| t.replace(&format!("{{{{{name}}}}}"), name))
}

#[cfg(test)]
mod tests;
