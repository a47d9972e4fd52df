//! The recorded calls sorted into the parts of one user's flow: the login,
//! the photo uploads, the submission, the status polls, the downloads, and
//! the other requests to the app as steps at the point where they were
//! made. What is dropped or not understood goes to [`Flow::checks`].

use std::collections::BTreeMap;

use super::json;
use super::model::Call;

/// A point of the user's flow where extra requests run (`[[http.steps]]`
/// `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum At {
    BeforeLogin,
    AfterLogin,
    BeforeSubmit,
    AfterSubmit,
    AfterDownload,
}

impl At {
    /// As the scenario writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            At::BeforeLogin => "before_login",
            At::AfterLogin => "after_login",
            At::BeforeSubmit => "before_submit",
            At::AfterSubmit => "after_submit",
            At::AfterDownload => "after_download",
        }
    }
}

/// The flow, as indices into the calls.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    /// The app's origin (`http://127.0.0.1:8080`).
    pub origin: String,
    /// Calls to the app that were not static assets.
    pub kept: usize,
    /// Static assets dropped (any host).
    pub dropped_static: usize,
    pub login: Option<usize>,
    pub uploads: Vec<usize>,
    pub submit: Option<usize>,
    /// The submission carries the photos itself (a multipart form with
    /// image files): `photos = "attached"`.
    pub attached: bool,
    /// The status polls, in order.
    pub polls: Vec<usize>,
    pub downloads: Vec<usize>,
    /// Other requests to the app, where they were made.
    pub steps: Vec<(At, usize)>,
    /// What the user should check.
    pub checks: Vec<String>,
}

const DOWNLOAD_TYPES: &[&str] = &[
    "application/pdf",
    "application/zip",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "text/csv",
];

impl Flow {
    /// Sorts `calls` into a flow.
    pub fn read(calls: &[Call]) -> Flow {
        let mut f = Flow {
            origin: app_origin(calls),
            ..Flow::default()
        };
        let mut other_hosts: Vec<String> = Vec::new();
        let mut app: Vec<&Call> = Vec::new();
        for c in calls {
            if c.is_static() {
                f.dropped_static += 1;
            } else if c.method == "OPTIONS" {
                // A CORS preflight: the browser's, not the app's flow.
            } else if c.origin != f.origin {
                other_hosts.push(format!("{} {}{}", c.method, c.origin, c.path));
            } else if c.status == 0 {
                f.checks.push(format!(
                    "{} {}: no answer in the recording (cancelled or blocked); not replayed",
                    c.method, c.path
                ));
            } else {
                app.push(c);
            }
        }
        f.kept = app.len();

        f.login = app.iter().find(|c| is_login(c)).map(|c| c.index);
        f.uploads = app
            .iter()
            .filter(|c| Some(c.index) != f.login && is_upload(c))
            .map(|c| c.index)
            .collect();
        // A form that carries its photos: the last multipart POST with
        // images, when it was answered as a submission is (a job made:
        // 202, a redirect, a Location) or sent more than a caption with
        // them, is the submission, not an upload.
        if let Some(&last) = f.uploads.last()
            && carries_a_submission(&calls[last])
        {
            f.uploads.pop();
            f.submit = Some(last);
            f.attached = true;
        }
        let after_uploads = f.uploads.last().copied().or(f.login).map_or(0, |i| i + 1);
        let upload_values: Vec<String> = f
            .uploads
            .iter()
            .filter_map(|&i| calls[i].response_json.as_ref())
            .flat_map(|v| {
                json::leaves(v)
                    .into_iter()
                    .filter_map(|(_, x)| json::text(x))
            })
            .filter(|s| s.len() > 3)
            .collect();
        let posts: Vec<&&Call> = app
            .iter()
            .filter(|c| {
                c.index >= after_uploads
                    && matches!(c.method.as_str(), "POST" | "PUT" | "PATCH")
                    && Some(c.index) != f.login
                    && !f.uploads.contains(&c.index)
            })
            .collect();
        if !f.attached {
            f.submit = posts
                .iter()
                .find(|c| {
                    let body = body_text(c);
                    upload_values.iter().any(|u| body.contains(u.as_str()))
                })
                .or_else(|| {
                    posts
                        .iter()
                        .find(|c| c.json.is_some() || !c.form.is_empty())
                })
                .or_else(|| posts.first())
                .map(|c| c.index);
        }
        if f.uploads.is_empty() && !f.attached {
            f.checks.push(
                "no photo upload (a multipart POST with an image) in the recording: the scenario references catalogue photos (`photos = \"catalogue\"`); check the submission's photo URLs".into(),
            );
        }
        let Some(submit) = f.submit else {
            return f;
        };

        // Polls: the GET path repeated most after the submission.
        let mut by_path: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for c in app.iter().filter(|c| c.index > submit && c.method == "GET") {
            if c.response_json.is_some() {
                by_path.entry(c.bare_path()).or_default().push(c.index);
            }
        }
        if let Some((_, idx)) = by_path
            .iter()
            .filter(|(_, v)| v.len() >= 2)
            .max_by_key(|(_, v)| v.len())
        {
            f.polls = idx.clone();
        } else if let Some((_, idx)) = by_path.iter().find(|(_, v)| {
            v.iter()
                .any(|&i| calls[i].response_json.as_ref().is_some_and(has_status_key))
        }) {
            f.polls = idx.clone();
            f.checks.push(
                "the status was fetched once only: check status_pointer and done_values".into(),
            );
        } else {
            f.checks.push(
                "no status polling found after the submission (a GET repeated on one path): check status_path and status_pointer".into(),
            );
        }

        // Downloads: a report by its type or its disposition, or a link
        // of the last status answer, on any host.
        let last_status = f
            .polls
            .last()
            .and_then(|&i| calls[i].response_json.as_ref());
        let links: Vec<String> = last_status
            .map(|v| {
                json::leaves(v)
                    .into_iter()
                    .filter_map(|(_, x)| json::text(x))
                    .collect()
            })
            .unwrap_or_default();
        let from = f.polls.first().copied().unwrap_or(submit);
        f.downloads = calls
            .iter()
            .filter(|c| c.index > from && c.method == "GET" && !f.polls.contains(&c.index))
            .filter(|c| {
                let url = format!("{}{}", c.origin, c.path);
                DOWNLOAD_TYPES.contains(&c.response_type.as_str())
                    || c.response_header("content-disposition")
                        .is_some_and(|d| d.contains("attachment"))
                    || links.iter().any(|l| *l == url || *l == c.path)
            })
            .map(|c| c.index)
            .collect();
        other_hosts.retain(|h| {
            !f.downloads
                .iter()
                .any(|&i| h == &format!("GET {}{}", calls[i].origin, calls[i].path))
        });
        if !other_hosts.is_empty() {
            let shown: Vec<&str> = other_hosts.iter().take(5).map(String::as_str).collect();
            f.checks.push(format!(
                "{} request(s) to other hosts are not replayed (the load talks to the app only): {}{}",
                other_hosts.len(),
                shown.join(", "),
                if other_hosts.len() > 5 { ", ..." } else { "" }
            ));
        }

        // The rest: steps where they were made.
        let first_upload = f.uploads.first().copied().unwrap_or(submit);
        let end = f
            .downloads
            .last()
            .or(f.polls.last())
            .copied()
            .unwrap_or(submit);
        for c in &app {
            let i = c.index;
            if Some(i) == f.login
                || Some(i) == f.submit
                || f.uploads.contains(&i)
                || f.polls.contains(&i)
                || f.downloads.contains(&i)
            {
                continue;
            }
            if c.status >= 400 {
                f.checks.push(format!(
                    "{}: failed in the recording; not replayed",
                    c.label()
                ));
                continue;
            }
            let at = match f.login {
                Some(l) if i < l => At::BeforeLogin,
                _ if i < first_upload => At::AfterLogin,
                _ if i < submit => At::BeforeSubmit,
                _ if i <= end => At::AfterSubmit,
                _ => At::AfterDownload,
            };
            if c.method != "GET" {
                f.checks.push(format!(
                    "{}: not recognised; kept as a {} step, check that the load needs it and its body",
                    c.label(),
                    at.as_str()
                ));
            }
            f.steps.push((at, i));
        }
        for (i, label) in [(f.login, "login"), (f.submit, "submission")] {
            if let Some(i) = i
                && calls[i].status >= 400
            {
                f.checks.push(format!(
                    "the {label}, {}, failed in the recording",
                    calls[i].label()
                ));
            }
        }
        f
    }

    /// What was found, in one line.
    pub fn summary(&self) -> String {
        let n = |k: usize, one: &str, many: &str| match k {
            0 => None,
            1 => Some(format!("1 {one}")),
            k => Some(format!("{k} {many}")),
        };
        let pages = self.steps.len();
        [
            self.login.map(|_| "a login".to_string()),
            n(pages, "other request (a step)", "other requests (steps)"),
            n(self.uploads.len(), "photo upload", "photo uploads"),
            self.submit.map(|_| {
                if self.attached {
                    "a submission with its photos attached".to_string()
                } else {
                    "a submission".to_string()
                }
            }),
            n(self.polls.len(), "status poll", "status polls"),
            n(self.downloads.len(), "download", "downloads"),
            n(
                self.dropped_static,
                "static asset dropped",
                "static assets dropped",
            ),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The origin most non-static calls went to (the first of equals).
fn app_origin(calls: &[Call]) -> String {
    let mut count: Vec<(String, usize)> = Vec::new();
    for c in calls.iter().filter(|c| !c.is_static()) {
        match count.iter_mut().find(|(o, _)| *o == c.origin) {
            Some(slot) => slot.1 += 1,
            None => count.push((c.origin.clone(), 1)),
        }
    }
    count
        .iter()
        .fold(None::<&(String, usize)>, |best, x| match best {
            Some(b) if b.1 >= x.1 => Some(b),
            _ => Some(x),
        })
        .map(|(o, _)| o.clone())
        .unwrap_or_default()
}

/// A POST with a password field, or to a path that names a login.
fn is_login(c: &Call) -> bool {
    if !matches!(c.method.as_str(), "POST" | "PUT") || !c.files.is_empty() {
        return false;
    }
    let pass = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k == "pass" || k == "passwd" || k == "pwd"
    };
    let in_json = c.json.as_ref().is_some_and(|v| {
        json::leaves(v)
            .iter()
            .any(|(p, _)| pass(&json::last_key(p)))
    });
    let path = c.bare_path().to_ascii_lowercase();
    c.form.iter().any(|(k, _)| pass(k))
        || in_json
        || ["login", "signin", "sign-in", "sign_in", "session", "auth"]
            .iter()
            .any(|w| path.contains(w))
}

const IMAGE_EXTENSIONS: &[&str] = &[".jpg", ".jpeg", ".png", ".heic", ".webp"];

/// A multipart POST or PUT carrying an image; when the recording left the
/// body out (Playwright does), one whose answer names an image.
fn is_upload(c: &Call) -> bool {
    if !matches!(c.method.as_str(), "POST" | "PUT") {
        return false;
    }
    if c.files.iter().any(|f| {
        let name = f.file_name.to_ascii_lowercase();
        f.content_type.starts_with("image/") || IMAGE_EXTENSIONS.iter().any(|e| name.ends_with(e))
    }) {
        return true;
    }
    c.files.is_empty()
        && c.form.is_empty()
        && c.request_type.starts_with("multipart/form-data")
        && answers_a_stored_image(c)
}

/// The answer names a stored image: a width or height, or a value ending
/// in an image's extension (what an upload answers).
fn answers_a_stored_image(c: &Call) -> bool {
    c.response_json.as_ref().is_some_and(|v| {
        json::leaves(v).iter().any(|(p, x)| {
            let k = json::last_key(p).to_ascii_lowercase();
            k == "width"
                || k == "height"
                || x.as_str().is_some_and(|t| {
                    let t = t.to_ascii_lowercase();
                    IMAGE_EXTENSIONS.iter().any(|e| t.ends_with(e))
                })
        })
    })
}

/// Whether an image-carrying multipart POST is a submission with its
/// photos attached rather than one photo's upload.
fn carries_a_submission(c: &Call) -> bool {
    if answers_a_stored_image(c) {
        return false;
    }
    let redirect = (300..400).contains(&c.status);
    let text_fields = c.form.iter().filter(|(_, v)| !v.is_empty()).count();
    c.status == 202 || redirect || c.response_header("location").is_some() || text_fields >= 2
}

fn has_status_key(v: &serde_json::Value) -> bool {
    json::leaves(v).iter().any(|(p, _)| {
        let k = json::last_key(p).to_ascii_lowercase();
        k == "status" || k == "state"
    })
}

/// A request's body as text, for finding values in it.
pub fn body_text(c: &Call) -> String {
    let mut s = c.json.as_ref().map(|v| v.to_string()).unwrap_or_default();
    for (k, v) in &c.form {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('&');
    }
    s
}
