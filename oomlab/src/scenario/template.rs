//! JSON templates with `{{name}}` placeholders.
//!
//! A template is a JSON value. Every string in it may hold placeholders:
//! - a string that is exactly one placeholder (`"{{photo_urls}}"`) is
//!   replaced by the variable's JSON value, whatever its type (an array of
//!   URLs, a number, a nested object);
//! - a placeholder inside longer text (`"Asset {{item_number}}"`) is replaced
//!   by the variable's text; only strings, numbers and booleans can be
//!   embedded in text.
//!
//! Object keys are not templated. An unknown placeholder is an error, so a
//! typo in a scenario is refused when the file is loaded, not mid-run.
//! Working on the parsed JSON tree (not on the text) means a value is never
//! mis-escaped: a site name with a quote in it stays valid JSON.

use serde_json::Value;
use std::collections::BTreeMap;

/// The variables a template may name, with their values.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, Value>,
}

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `name`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// Adds (or replaces) every `(name, value)` of `more` (a user's
    /// captured values).
    pub fn with_all<'a>(mut self, more: impl IntoIterator<Item = (&'a String, &'a Value)>) -> Self {
        for (name, value) in more {
            self.values.insert(name.clone(), value.clone());
        }
        self
    }

    /// Every `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.values.iter()
    }

    /// Whether `name` is defined.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The names defined, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template names a variable that is not defined here.
    #[error("unknown placeholder `{{{{{name}}}}}`; known here: {known}")]
    Unknown {
        /// The placeholder's name.
        name: String,
        /// The names that are defined, comma separated.
        known: String,
    },
    /// `{{` without a matching `}}`.
    #[error("`{{{{` without a closing `}}}}` in \"{text}\"")]
    Unclosed {
        /// The string that holds it.
        text: String,
    },
    /// An array or object placeholder inside longer text.
    #[error(
        "placeholder `{{{{{name}}}}}` is a list or object and cannot be embedded in text; make it the whole string: \"{{{{{name}}}}}\""
    )]
    NotText {
        /// The placeholder's name.
        name: String,
    },
}

/// Renders `template` with `vars`.
pub fn render(template: &Value, vars: &Vars) -> Result<Value, TemplateError> {
    match template {
        Value::String(s) => render_string(s, vars),
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), render(v, vars)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Renders one string as text (for paths such as `/api/jobs/{{job_id}}`).
pub fn render_text(text: &str, vars: &Vars) -> Result<String, TemplateError> {
    match render_string(text, vars)? {
        Value::String(s) => Ok(s),
        other => text_of(&other, text_placeholder_name(text).unwrap_or_default()),
    }
}

/// The name when `s` is exactly one placeholder.
fn text_placeholder_name(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

fn lookup<'v>(name: &str, vars: &'v Vars) -> Result<&'v Value, TemplateError> {
    vars.values.get(name).ok_or_else(|| TemplateError::Unknown {
        name: name.to_string(),
        known: vars.names().join(", "),
    })
}

fn text_of(value: &Value, name: &str) -> Result<String, TemplateError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(TemplateError::NotText {
            name: name.to_string(),
        }),
    }
}

fn render_string(s: &str, vars: &Vars) -> Result<Value, TemplateError> {
    if let Some(name) = text_placeholder_name(s) {
        return lookup(name, vars).cloned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
            text: s.to_string(),
        })?;
        let name = after[..end].trim();
        out.push_str(&text_of(lookup(name, vars)?, name)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        Vars::new()
            .with("photo_urls", json!(["http://a/1.jpg", "http://a/2.jpg"]))
            .with("item_number", 3)
            .with("name", "O'Brien \"quoted\"")
    }

    #[test]
    fn a_whole_string_placeholder_takes_the_value_with_its_type() {
        let t = json!({"photo_urls": "{{photo_urls}}", "n": "{{ item_number }}", "q": 1});
        let v = render(&t, &vars()).unwrap();
        assert_eq!(
            v,
            json!({"photo_urls": ["http://a/1.jpg", "http://a/2.jpg"], "n": 3, "q": 1})
        );
    }

    #[test]
    fn placeholders_inside_text_are_replaced_by_their_text_and_stay_valid_json() {
        let t = json!(["Asset {{item_number}} of {{name}}"]);
        let v = render(&t, &vars()).unwrap();
        assert_eq!(v, json!(["Asset 3 of O'Brien \"quoted\""]));
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn an_unknown_placeholder_is_refused_with_the_known_names() {
        let err = render(&json!({"a": "{{photo_url}}"}), &vars()).unwrap_err();
        let m = err.to_string();
        assert!(
            m.contains("{{photo_url}}") && m.contains("photo_urls"),
            "{m}"
        );
    }

    #[test]
    fn a_list_cannot_be_embedded_in_text() {
        let err = render(&json!("urls: {{photo_urls}}"), &vars()).unwrap_err();
        assert_eq!(
            err,
            TemplateError::NotText {
                name: "photo_urls".into()
            }
        );
    }

    #[test]
    fn an_unclosed_placeholder_is_refused() {
        assert!(matches!(
            render(&json!("a {{item_number"), &vars()),
            Err(TemplateError::Unclosed { .. })
        ));
    }

    #[test]
    fn text_rendering_fills_paths() {
        let v = Vars::new().with("job_id", "42");
        assert_eq!(
            render_text("/api/jobs/{{job_id}}/report.pdf", &v).unwrap(),
            "/api/jobs/42/report.pdf"
        );
        let v = Vars::new().with("job_id", 7);
        assert_eq!(render_text("{{job_id}}", &v).unwrap(), "7");
    }
}
