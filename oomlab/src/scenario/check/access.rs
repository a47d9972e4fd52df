//! `[http.login]` and `[http.headers]`: how a user identifies itself to the
//! app. Checked here so a header the HTTP client would refuse, or a login
//! body that cannot render, is a `ConfigError` before anything starts.

use super::*;
use reqwest::header::{HeaderName, HeaderValue};

/// Headers the load sets itself for each request (or the HTTP client does):
/// a scenario value would clash with them.
const SET_PER_REQUEST: [&str; 5] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
];

/// The variables a login or a header may name.
fn user_vars() -> Vars {
    Vars::new().with("user", 1)
}

impl Checker<'_> {
    /// `[http.login]`; `captured` holds the names the `before_login` steps
    /// capture.
    pub(super) fn login(&self, raw: RawLogin, captured: &Vars) -> Result<Login, ConfigError> {
        let vars = user_vars().with_all(captured.iter());
        let path = raw.path;
        if !path.starts_with('/') {
            return Err(self.invalid(
                "http.login.path",
                format!("`{path}` is not a path"),
                "start it with a slash, e.g. path = \"/login\"",
            ));
        }
        self.text_template("http.login.path", &path, &vars)?;
        let method = raw
            .method
            .unwrap_or_else(|| "POST".to_string())
            .to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "GET") {
            return Err(self.invalid(
                "http.login.method",
                format!("`{method}` is not a login method"),
                "use \"POST\" (the default), \"PUT\", \"PATCH\" or \"GET\"",
            ));
        }
        let body = match (raw.form, raw.json) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "http.login.json",
                    "is given together with http.login.form",
                    "keep one: form (a table of form fields) or json (a JSON body)",
                ));
            }
            (Some(form), None) => {
                LoginBody::Form(self.form_fields("http.login.form", form, &vars)?)
            }
            (None, Some(json)) => {
                LoginBody::Json(self.json_template("http.login.json", Some(json), "", &vars)?)
            }
            (None, None) => LoginBody::Empty,
        };
        if method == "GET" && !matches!(body, LoginBody::Empty) {
            return Err(self.invalid(
                "http.login.method",
                "is GET, which sends no body, but a form or json body is given",
                "use method = \"POST\", or drop the body and put the fields in the path",
            ));
        }
        Ok(Login {
            headers: self.request_headers(
                "http.login.headers",
                raw.headers.unwrap_or_default(),
                &vars,
            )?,
            path,
            method,
            body,
            expect_status: self.expect_status(
                "http.login.expect_status",
                raw.expect_status,
                "give a status or a list of them, e.g. expect_status = 302 or [200, 302]; leave it out for any 2xx",
            )?,
        })
    }

    /// A form body's fields (a login's or a step's, `form_key`), each value
    /// a template checked with `vars`.
    pub(super) fn form_fields(
        &self,
        form_key: &str,
        form: BTreeMap<String, toml::Value>,
        vars: &Vars,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let mut fields = Vec::with_capacity(form.len());
        for (name, value) in form {
            let key = format!("{form_key}.{name}");
            if name.trim().is_empty() {
                return Err(self.invalid(
                    form_key,
                    "has a field with an empty name",
                    "name every form field, e.g. username = \"user{{user}}\"",
                ));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(self.invalid(
                        &key,
                        format!("is a {}, not a form value", other.type_str()),
                        "give a string, a number or a boolean, e.g. password = \"secret\"",
                    ));
                }
            };
            self.text_template(&key, &text, vars)?;
            fields.push((name, text));
        }
        Ok(fields)
    }

    /// A status or a list of them at `key`; `None`: the default (empty).
    pub(super) fn expect_status(
        &self,
        key: &str,
        raw: Option<toml::Value>,
        fix: &str,
    ) -> Result<Vec<u16>, ConfigError> {
        let values = match raw {
            None => return Ok(Vec::new()),
            Some(toml::Value::Array(a)) if a.is_empty() => {
                return Err(self.invalid(key, "is an empty list", fix));
            }
            Some(toml::Value::Array(a)) => a,
            Some(v) => vec![v],
        };
        values
            .into_iter()
            .map(|v| match v {
                toml::Value::Integer(n) if (100..=599).contains(&n) => Ok(n as u16),
                other => Err(self.invalid(key, format!("`{other}` is not an HTTP status"), fix)),
            })
            .collect()
    }

    /// `[http.headers]`: sent on every request to the app, `{{user}}` only.
    pub(super) fn headers(
        &self,
        raw: BTreeMap<String, String>,
    ) -> Result<Vec<Header>, ConfigError> {
        let headers = self.header_table("http.headers", raw, &user_vars())?;
        for h in &headers {
            let sample = template::render_text(&h.value, &user_vars()).unwrap_or_default();
            if h.name.eq_ignore_ascii_case("cookie")
                && sample.split(';').any(|pair| !pair.contains('='))
            {
                return Err(self.invalid(
                    &format!("http.headers.{}", h.name),
                    format!("`{}` is not a list of name=value cookies", h.value),
                    "write it as Cookie = \"name=value; other=value\"; a login's cookies are added to it",
                ));
            }
        }
        Ok(headers)
    }

    /// The headers of one kind of request (`table`: `http.submit_headers`,
    /// `http.steps[2].headers`, ...), values templates checked with `vars`
    /// (the names captured before that request). A cookie is the user's,
    /// not one request's.
    pub(super) fn request_headers(
        &self,
        table: &str,
        raw: BTreeMap<String, String>,
        vars: &Vars,
    ) -> Result<Vec<Header>, ConfigError> {
        let headers = self.header_table(table, raw, vars)?;
        if let Some(h) = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("cookie"))
        {
            return Err(self.invalid(
                &format!("{table}.{}", h.name),
                "is a cookie of one request",
                "put it in [http.headers] (every request), or let the app set it: its answers' cookies are kept",
            ));
        }
        Ok(headers)
    }

    /// A table of headers at `table`: names valid, not set by the load per
    /// request and not given twice; values templates with `vars`, whose
    /// sample rendering is a valid header value.
    fn header_table(
        &self,
        table: &str,
        raw: BTreeMap<String, String>,
        vars: &Vars,
    ) -> Result<Vec<Header>, ConfigError> {
        let mut seen = Vec::with_capacity(raw.len());
        let mut headers = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let key = format!("{table}.{name}");
            let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                self.invalid(
                    &key,
                    format!("`{name}` is not a valid header name"),
                    "use letters, digits and dashes, e.g. X-Api-Key = \"...\"",
                )
            })?;
            if SET_PER_REQUEST.contains(&parsed.as_str()) {
                return Err(self.invalid(
                    &key,
                    format!("`{name}` is set by the load for each request"),
                    "remove it: uploads are multipart, submissions JSON or a form (http.submit_as), and the client sets the rest",
                ));
            }
            if seen.contains(&parsed) {
                return Err(self.invalid(
                    &key,
                    "is given twice (header names ignore case)",
                    "keep one of them",
                ));
            }
            self.text_template(&key, &value, vars)?;
            // The sample values are digits and `x`, so the sample shows
            // whether the text around the placeholders is a valid value.
            let sample = template::render_text(&value, vars).unwrap_or_default();
            if HeaderValue::from_str(&sample).is_err() {
                return Err(self.invalid(
                    &key,
                    "is not a valid header value (it holds a line break or a control character)",
                    "write the value on one line, without control characters",
                ));
            }
            seen.push(parsed);
            headers.push(Header { name, value });
        }
        Ok(headers)
    }
}
