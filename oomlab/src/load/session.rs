//! Who a goose user is to the app: the scenario's `[http.headers]` rendered
//! for it, the cookies its login (and later answers) set, and the values its
//! `[[http.steps]]` captured for its later templates.
//!
//! The cookie jar is the load's own, not reqwest's: the workspace builds
//! goose and reqwest without their `cookies` feature, and a jar of our own
//! is a few lines that also keep the app's cookies away from other hosts
//! (report links to the fake Cloudinary). It keeps `name=value` pairs and
//! honours deletion (`Max-Age=0`, an `Expires` in the past, an empty
//! value); `Domain` and `Path` are not interpreted, since every cookie comes
//! from the one app and goes back only to it.

use crate::scenario::template::{self, Vars};
use crate::scenario::{Header, HttpShape};
use reqwest::header::{COOKIE, HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cookies kept per user; an app setting more is not modelled.
const MAX_COOKIES: usize = 50;

/// One goose user's identity, shared by its transactions (and its parallel
/// uploads).
#[derive(Debug, Default)]
pub(crate) struct UserSession {
    headers: HeaderMap,
    /// Held in a std mutex: updates are a few map operations, never across
    /// an `.await`.
    cookies: Mutex<BTreeMap<String, String>>,
    /// Its login failed: the user does nothing more.
    stopped: AtomicBool,
    /// Values captured by `[[http.steps]]`, by placeholder name. Bounded:
    /// the names are the scenario's, each value at most
    /// `MAX_CAPTURE_BYTES`.
    captures: Mutex<BTreeMap<String, Value>>,
}

impl UserSession {
    /// The session of user `user_number` (from 1). A `Cookie` header of the
    /// scenario seeds the jar.
    pub(crate) fn new(http: &HttpShape, user_number: usize) -> Self {
        let vars = Vars::new().with("user", user_number);
        let mut headers = HeaderMap::new();
        let mut cookies = BTreeMap::new();
        for h in &http.headers {
            // The scenario's checks rendered every header with a sample
            // user; `{{user}}` is digits, so these cannot fail.
            let Ok(value) = template::render_text(&h.value, &vars) else {
                continue;
            };
            let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
                continue;
            };
            if name == COOKIE {
                for pair in value.split(';') {
                    if let Some((n, v)) = pair.split_once('=') {
                        cookies.insert(n.trim().to_string(), v.trim().to_string());
                    }
                }
            } else if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        UserSession {
            headers,
            cookies: Mutex::new(cookies),
            stopped: AtomicBool::new(false),
            captures: Mutex::new(BTreeMap::new()),
        }
    }

    /// `base` with the user's captured values added: the variables of a
    /// template of this user.
    pub(crate) fn vars(&self, base: Vars) -> Vars {
        let captures = self.captures.lock().unwrap_or_else(|p| p.into_inner());
        base.with_all(captures.iter())
    }

    /// Keeps `value` as `{{name}}` for the user's later templates.
    pub(crate) fn capture(&self, name: &str, value: Value) {
        let mut captures = self.captures.lock().unwrap_or_else(|p| p.into_inner());
        captures.insert(name.to_string(), value);
    }

    fn cookies(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.cookies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `request` with the user's headers and cookies: for requests to the
    /// app only.
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.headers(self.headers.clone());
        match self.cookie_header() {
            Some(c) => request.header(COOKIE, c),
            None => request,
        }
    }

    /// The `Cookie` header: `a=1; b=2`.
    pub(crate) fn cookie_header(&self) -> Option<String> {
        let cookies = self.cookies();
        (!cookies.is_empty()).then(|| {
            cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Keeps (or deletes) the cookies an answer of the app sets.
    pub(crate) fn keep_cookies(&self, answer: &HeaderMap) {
        let mut cookies = self.cookies();
        for header in answer.get_all(SET_COOKIE) {
            let Some((name, value)) = header.to_str().ok().and_then(parse_set_cookie) else {
                continue;
            };
            match value {
                None => {
                    cookies.remove(&name);
                }
                Some(v) if cookies.contains_key(&name) || cookies.len() < MAX_COOKIES => {
                    cookies.insert(name, v);
                }
                Some(_) => {}
            }
        }
    }

    /// Stops the user (its login failed).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether the user was stopped.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// One request's own headers (`[http.submit_headers]`, a step's
/// `headers`, ...) rendered with `vars`; why not, when a value does not
/// render or is not a header value (a captured value with a line break).
pub(crate) fn request_headers(headers: &[Header], vars: &Vars) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for h in headers {
        let value = template::render_text(&h.value, vars)
            .map_err(|e| format!("rendering header {}: {e}", h.name))?;
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| format!("header {}: {e}", h.name))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("header {}: its value is not a header value", h.name))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// A `Set-Cookie` value as its name and value, `None` for a deletion.
fn parse_set_cookie(header: &str) -> Option<(String, Option<String>)> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return None;
    }
    let mut deleted = value.is_empty() || value == "\"\"";
    for attr in parts {
        let (key, v) = attr.split_once('=').unwrap_or((attr, ""));
        let (key, v) = (key.trim(), v.trim());
        if key.eq_ignore_ascii_case("max-age") {
            deleted |= v.parse::<i64>().is_ok_and(|age| age <= 0);
        } else if key.eq_ignore_ascii_case("expires") {
            deleted |=
                chrono::DateTime::parse_from_rfc2822(v).is_ok_and(|at| at < chrono::Utc::now());
        }
    }
    Some((name.to_string(), (!deleted).then(|| value.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(set_cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in set_cookies {
            h.append(SET_COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_kept_replaced_and_deleted_as_the_app_says() {
        let s = UserSession::default();
        s.keep_cookies(&answer(&[
            "session=abc; Path=/; HttpOnly; SameSite=Lax",
            "csrf=1; Max-Age=3600",
            "theme=dark",
        ]));
        assert_eq!(
            s.cookie_header().as_deref(),
            Some("csrf=1; session=abc; theme=dark")
        );
        s.keep_cookies(&answer(&[
            "session=def; Path=/",
            "csrf=; Max-Age=0",
            "theme=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ]));
        assert_eq!(s.cookie_header().as_deref(), Some("session=def"));
    }

    #[test]
    fn headers_are_rendered_per_user_and_a_cookie_header_seeds_the_jar() {
        let mut http = crate::scenario::Scenario::parse(
            std::path::Path::new("t.toml"),
            "[users]\ncount = 1\n[submission]\nphotos_per_item = 1\nphoto_kind = \"small\"\n",
        )
        .unwrap()
        .http;
        http.headers = vec![
            crate::scenario::Header {
                name: "X-Tenant".into(),
                value: "t-{{user}}".into(),
            },
            crate::scenario::Header {
                name: "Cookie".into(),
                value: "consent=yes".into(),
            },
        ];
        let s = UserSession::new(&http, 7);
        let req = s
            .apply(reqwest::Client::new().get("http://127.0.0.1:1/"))
            .build()
            .unwrap();
        assert_eq!(req.headers()["x-tenant"], "t-7");
        assert_eq!(req.headers()["cookie"], "consent=yes");
    }

    #[test]
    fn a_request_s_own_headers_render_captured_values_and_refuse_a_line_break() {
        let headers = [crate::scenario::Header {
            name: "X-CSRF-Token".into(),
            value: "{{csrf}}".into(),
        }];
        let vars = Vars::new().with("csrf", "tok-1");
        let map = request_headers(&headers, &vars).unwrap();
        assert_eq!(map["x-csrf-token"], "tok-1");
        let e = request_headers(&headers, &Vars::new().with("csrf", "a\nb")).unwrap_err();
        assert!(e.contains("X-CSRF-Token"), "{e}");
        let e = request_headers(&headers, &Vars::new()).unwrap_err();
        assert!(e.contains("rendering header"), "{e}");
    }
}
