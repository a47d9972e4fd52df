//! The scenario's text: `[users]` and `[submission]` from what one user
//! did, `[http]` from the calls, `[http.login]`, and `[[http.steps]]` in
//! the agreed format (`at`, `method`, `path`, `json` or `form`,
//! `capture`).

use std::fmt::Write as _;

use super::capture::{self, Capture, Found, How};
use super::flow::{At, Flow};
use super::model::Call;
use super::submission::Body;
use crate::scenario::SubmitAs;
use crate::toml_text::{key, multiline, string};

/// Everything the scenario says.
pub struct Scenario<'a> {
    pub invocation: &'a str,
    pub name: &'a str,
    pub calls: &'a [Call],
    pub flow: &'a Flow,
    pub body: &'a Body,
}

impl Scenario<'_> {
    /// The TOML text; what needs the user is added to `checks`.
    pub fn render(&self, checks: &mut Vec<String>) -> String {
        let (f, b, calls) = (self.flow, self.body, self.calls);
        let found = capture::find(calls, f, checks);
        let caps = &found.captures[..];
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "# Written by `{}`\n# from a browser's recording of {}: {}.\n# Lines marked CHECK need you; the format: oomlab/SCENARIOS.md.",
            self.invocation,
            f.origin,
            f.summary()
        );
        let _ = writeln!(w, "\nname = {}", string(self.name));
        let _ = writeln!(
            w,
            "description = {}",
            string(&format!("One user's flow as recorded on {}", f.origin))
        );
        let _ = writeln!(w, "\n[users]\ncount = 1\niterations = 1");
        if let Some(p) = b.status.poll_interval_s {
            let _ = writeln!(
                w,
                "# The browser polled every {p} s.\npoll_interval_s = {p:?}"
            );
        }

        let _ = writeln!(
            w,
            "\n[submission]\nitems = {}\nphotos_per_item = {}",
            b.items, b.photos_per_item
        );
        let _ = writeln!(
            w,
            "# The recording's photos were yours; the load sends the fake Cloudinary's\n# phone photos (2160x3840, ~0.7 MB). photo_dir = \"DIR\" sends your own.\nphoto_kind = \"phone\""
        );
        if let Some(roles) = &b.roles {
            let r: Vec<String> = roles.iter().map(|x| string(x)).collect();
            let _ = writeln!(w, "signatures = [{}]", r.join(", "));
        }
        if f.attached {
            let _ = writeln!(
                w,
                "# The photos were sent as files of the submission itself.\nphotos = \"attached\""
            );
        } else if f.uploads.is_empty() {
            let _ = writeln!(
                w,
                "# CHECK: no upload was recorded: photos are referenced by their URL.\nphotos = \"catalogue\""
            );
        }

        let _ = writeln!(w, "\n[http]");
        if let Some(p) = &b.upload_path {
            let _ = writeln!(w, "upload_path = {}", string(&capture::swap(p, caps)));
        }
        if let Some(p) = &b.upload_field {
            let _ = writeln!(w, "upload_field = {}", string(p));
        }
        match &b.upload_url_pointer {
            Some(p) => {
                let _ = writeln!(w, "upload_url_pointer = {}", string(p));
            }
            None if !f.uploads.is_empty() => {
                let _ = writeln!(
                    w,
                    "# CHECK: which value of the upload's answer the submission sends was not found."
                );
            }
            None => {}
        }
        let _ = writeln!(
            w,
            "submit_path = {}",
            string(&capture::swap(&b.submit_path, caps))
        );
        // Attached photos imply a multipart form.
        if b.submit_as != SubmitAs::Json && !f.attached {
            let _ = writeln!(w, "submit_as = {}", string(b.submit_as.name()));
        }
        headers_key(w, "submit_headers", f.submit, &found);
        headers_key(w, "upload_headers", f.uploads.first().copied(), &found);
        let st = &b.status;
        if let Some(p) = &st.job_id_pointer {
            let _ = writeln!(w, "job_id_pointer = {}", string(p));
        }
        if let Some(h) = &st.job_id_header {
            let _ = writeln!(
                w,
                "# The job's URL is the submission's {h} header, polled as it is.\njob_id_header = {}",
                string(h)
            );
        }
        if let Some(p) = &st.status_url_pointer {
            let _ = writeln!(w, "status_url_pointer = {}", string(p));
        }
        if let Some(p) = &st.status_path {
            let _ = writeln!(w, "status_path = {}", string(p));
        }
        if let Some(p) = &st.status_pointer {
            let _ = writeln!(w, "status_pointer = {}", string(p));
            let d: Vec<String> = st.done_values.iter().map(|x| string(x)).collect();
            let _ = writeln!(
                w,
                "done_values = [{}]\n# CHECK: a failed job was not recorded; the value that means failed is assumed.\nfailed_values = [\"failed\"]",
                d.join(", ")
            );
        }
        let list = |v: &[String]| v.iter().map(|x| string(x)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(w, "download_paths = [{}]", list(&st.download_paths));
        if !st.report_url_pointers.is_empty() {
            let _ = writeln!(
                w,
                "report_url_pointers = [{}]",
                list(&st.report_url_pointers)
            );
        }
        for (k, v) in [
            ("submission_template", &b.submission_template),
            ("item_template", &b.item_template),
            ("signature_template", &b.signature_template),
        ] {
            if let Some(v) = v {
                let text = serde_json::to_string_pretty(&capture::swap_json(v, caps))
                    .expect("JSON serialises");
                let _ = writeln!(w, "{k} = {}", multiline(&format!("{text}\n")));
            }
        }

        if let Some(i) = f.login {
            let c = &calls[i];
            let _ = writeln!(
                w,
                "\n# Every user logs in as the recorded one; put {{{{user}}}} in the name for\n# one account per user.\n[http.login]\npath = {}",
                string(&c.path)
            );
            if c.method != "POST" {
                let _ = writeln!(w, "method = {}", string(&c.method));
            }
            body_keys(w, c, caps);
            headers_key(w, "headers", Some(i), &found);
            if !(200..300).contains(&c.status) {
                let _ = writeln!(w, "expect_status = {}", c.status);
            }
        }

        let job = st.job_id.as_deref();
        for (at, i) in &f.steps {
            let c = &calls[*i];
            let mut path = c.path.clone();
            if *at >= At::AfterSubmit
                && let Some(id) = job
            {
                path = path
                    .split('/')
                    .map(|seg| if seg == id { "{{job_id}}" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/");
            }
            let what = if c.is_page() { "page" } else { "request" };
            let _ = writeln!(
                w,
                "\n# A {what} the browser loaded ({} in the recording).\n[[http.steps]]\nat = {}",
                c.status,
                string(at.as_str())
            );
            if c.method != "GET" {
                let _ = writeln!(w, "method = {}", string(&c.method));
            }
            let _ = writeln!(w, "path = {}", string(&capture::swap(&path, caps)));
            body_keys(w, c, caps);
            headers_key(w, "headers", Some(*i), &found);
            let mine: Vec<&Capture> = caps.iter().filter(|k| k.step == *i).collect();
            if !mine.is_empty() {
                let parts: Vec<String> = mine
                    .iter()
                    .map(|k| match &k.how {
                        How::Json(p) => format!("{} = {{ json = {} }}", key(&k.name), string(p)),
                        How::Regex(r) => format!("{} = {{ regex = {} }}", key(&k.name), string(r)),
                    })
                    .collect();
                let _ = writeln!(w, "capture = {{ {} }}", parts.join(", "));
            }
        }
        s
    }
}

/// `key = { Name = "{{token}}" }`: the headers call `call` sent with a
/// captured value.
fn headers_key(w: &mut String, key_name: &str, call: Option<usize>, found: &Found) {
    let Some(call) = call else { return };
    let parts: Vec<String> = found
        .headers
        .iter()
        .filter(|h| h.call == call)
        .map(|h| format!("{} = {}", key(&h.name), string(&h.template)))
        .collect();
    if !parts.is_empty() {
        let _ = writeln!(w, "{key_name} = {{ {} }}", parts.join(", "));
    }
}

/// A request's body as `json = '''...'''` or `form = { ... }`.
fn body_keys(w: &mut String, c: &Call, caps: &[Capture]) {
    if let Some(v) = &c.json {
        let text = serde_json::to_string(&capture::swap_json(v, caps)).expect("JSON serialises");
        let _ = writeln!(w, "json = {}", multiline_or_inline(&text));
    } else if !c.form.is_empty() {
        let fields: Vec<String> = c
            .form
            .iter()
            .map(|(k, v)| format!("{} = {}", key(k), string(&capture::swap(v, caps))))
            .collect();
        let _ = writeln!(w, "form = {{ {} }}", fields.join(", "));
    }
}

/// A one-line JSON text as a literal string when it can be.
fn multiline_or_inline(text: &str) -> String {
    if text.contains('\'') || text.contains('\n') {
        multiline(&format!("{text}\n"))
    } else {
        format!("'{text}'")
    }
}
