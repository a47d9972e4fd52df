//! `[[http.steps]]`, `job_id_header` and attached photos: read, and refused
//! with file, key and fix.

use super::*;
use crate::scenario::steps::{At, CaptureFrom, StepBody};

const FLOW: &str = r#"
[[http.steps]]
at = "before_login"
name = "login page"
path = "/login"
capture = { login_csrf = { regex = 'name="csrf_token" value="([^"]+)"' } }

[[http.steps]]
at = "after_login"
path = "/api/lists/{{user}}"
capture = { list = { json = "/data/id" } }

[[http.steps]]
at = "after_submit"
method = "post"
path = "/jobs/{{job_id}}/seen"
form = { by = "{{user}}", list = "{{list}}" }
expect_status = [200, 204]
capture = { loc = { header = "Location" } }

[http.login]
path = "/login"
form = { email = "u{{user}}@example.com", csrf_token = "{{login_csrf}}" }
expect_status = 303

[http]
submission_template = '''{"list": "{{list}}", "items": "{{items}}"}'''
download_paths = ["/jobs/{{job_id}}/{{loc}}/report.pdf"]
"#;

#[test]
fn steps_are_read_in_file_order_with_their_defaults_and_captures() {
    let s = parse(&format!("{MINIMAL}{FLOW}")).unwrap();
    let steps = &s.http.steps;
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].at, At::BeforeLogin);
    assert_eq!(steps[0].name, "login page");
    assert_eq!(steps[0].method, "GET");
    assert!(steps[0].expect_status.is_empty());
    assert!(matches!(steps[0].captures[0].from, CaptureFrom::Regex(_)));
    assert_eq!(steps[1].name, "GET /api/lists/{{user}}");
    assert!(matches!(&steps[1].captures[0].from, CaptureFrom::Json(p) if p == "/data/id"));
    assert_eq!(steps[2].method, "POST");
    assert_eq!(steps[2].expect_status, [200, 204]);
    assert!(matches!(&steps[2].body, StepBody::Form(f) if f.len() == 2));
    // A header capture needs no body; a regex or JSON capture does.
    assert!(!steps[2].reads_body() && steps[0].reads_body() && steps[1].reads_body());
    assert_eq!(s.http.steps_at(At::AfterSubmit).count(), 1);
}

#[test]
fn a_job_id_header_makes_the_header_the_status_url_unless_a_path_is_given() {
    let s = parse(&format!(
        "{MINIMAL}[http]\njob_id_header = \"Location\"\nstatus_pointer = \"/state\"\n"
    ))
    .unwrap();
    assert_eq!(s.http.job_id_header.as_deref(), Some("Location"));
    assert_eq!(
        (s.http.status_url_pointer, s.http.status_path),
        (None, None)
    );
    let s = parse(&format!(
        "{MINIMAL}[http]\njob_id_header = \"Location\"\nstatus_path = \"/jobs/{{{{job_id}}}}/status\"\n"
    ))
    .unwrap();
    assert_eq!(
        s.http.status_path.as_deref(),
        Some("/jobs/{{job_id}}/status")
    );
}

#[test]
fn attached_photos_are_read() {
    let s = parse(&MINIMAL.replace(
        "photo_kind = \"phone\"",
        "photo_kind = \"phone\"\nphotos = \"attached\"",
    ))
    .unwrap();
    assert_eq!(s.submission.photos, PhotoSource::Attached);
}

#[test]
fn impossible_steps_are_refused_with_file_key_and_fix() {
    let with = |extra: &str| format!("{MINIMAL}{extra}");
    let cases = [
        (
            with("[[http.steps]]\nat = \"after_lunch\"\npath = \"/\"\n"),
            "http.steps[1].at",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"form\"\n"),
            "http.steps[1].path",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\nmethod = \"HEAD\"\n"),
            "http.steps[1].method",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\njson = '{}'\n"),
            "http.steps[1].method",
        ),
        (
            with(
                "[[http.steps]]\nat = \"after_login\"\npath = \"/\"\nmethod = \"POST\"\njson = '{}'\nform = { a = \"b\" }\n",
            ),
            "http.steps[1].json",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\nexpect_status = 99\n"),
            "http.steps[1].expect_status",
        ),
        // {{job_id}} is not known before the submission.
        (
            with("[[http.steps]]\nat = \"before_submit\"\npath = \"/jobs/{{job_id}}\"\n"),
            "http.steps[1].path",
        ),
        // A name used before the step that captures it.
        (
            with(
                "[[http.steps]]\nat = \"after_submit\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }\n[[http.steps]]\nat = \"before_submit\"\npath = \"/{{t}}\"\n",
            ),
            "http.steps[2].path",
        ),
        (
            with(
                "[[http.steps]]\nat = \"after_submit\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }\n[http]\nsubmission_template = '{\"t\": \"{{t}}\"}'\n",
            ),
            "http.submission_template",
        ),
        (
            with(
                "[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { json = \"/t\" } }\n[http.login]\npath = \"/login/{{t}}\"\n",
            ),
            "http.login.path",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { user = { json = \"/u\" } }\n"),
            "http.steps[1].capture.user",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { \"a-b\" = { json = \"/u\" } }\n"),
            "http.steps[1].capture.a-b",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { json = \"u\" } }\n"),
            "http.steps[1].capture.t",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { regex = \"abc\" } }\n"),
            "http.steps[1].capture.t",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { regex = \"(a\" } }\n"),
            "http.steps[1].capture.t",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { header = \"a b\" } }\n"),
            "http.steps[1].capture.t",
        ),
        (
            with(
                "[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = { header = \"X\", json = \"/x\" } }\n",
            ),
            "http.steps[1].capture.t",
        ),
        (
            with("[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = { t = {} }\n"),
            "http.steps[1].capture.t",
        ),
        (
            with("[http]\njob_id_header = \"Location\"\njob_id_pointer = \"/id\"\n"),
            "http.job_id_header",
        ),
        (
            MINIMAL.replace(
                "photo_kind = \"phone\"",
                "photo_kind = \"phone\"\nphotos = \"attached\"\n[http]\nsubmission_template = '[1]'",
            ),
            "http.submission_template",
        ),
    ];
    for (text, key) in cases {
        let m = message(&text);
        assert!(
            m.contains("scenarios/test.toml")
                && m.contains(&format!("`{key}`"))
                && m.contains("fix:"),
            "{key}: {m}"
        );
    }
}

#[test]
fn an_unknown_step_key_is_refused_by_the_parser() {
    let m = message(&format!(
        "{MINIMAL}[[http.steps]]\nat = \"after_login\"\npath = \"/\"\nbody = \"x\"\n"
    ));
    assert!(
        m.contains("scenarios/test.toml") && m.contains("body"),
        "{m}"
    );
    let m = message(&format!(
        "{MINIMAL}[[http.steps]]\nat = \"after_login\"\npath = \"/\"\ncapture = {{ t = {{ xpath = \"/a\" }} }}\n"
    ));
    assert!(m.contains("xpath"), "{m}");
}

#[test]
fn the_example_apps_scenarios_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fastapi-fpdf/scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.submission.photos, PhotoSource::Attached, "{}", s.name);
        assert_eq!(s.http.steps.len(), 2, "{}", s.name);
        n += 1;
    }
    assert!(n >= 3, "{n} scenarios");
}

#[test]
fn a_request_s_own_headers_know_what_was_captured_before_it() {
    let s = parse(&format!(
        "{MINIMAL}{FLOW}[http.login.headers]\nX-Login-Token = \"{{{{login_csrf}}}}\"\n[http.submit_headers]\nX-CSRF-Token = \"{{{{list}}}}\"\n[http.upload_headers]\nX-CSRF-Token = \"{{{{list}}}}-{{{{user}}}}\"\n"
    ))
    .unwrap();
    let login = s.http.login.as_ref().unwrap();
    assert_eq!(login.headers[0].name, "X-Login-Token");
    assert_eq!(s.http.submit_headers[0].value, "{{list}}");
    assert_eq!(s.http.upload_headers[0].value, "{{list}}-{{user}}");
    // A name captured only after the submission is not known to it.
    let m = message(&format!(
        "{MINIMAL}{FLOW}[http.submit_headers]\nX-Seen = \"{{{{loc}}}}\"\n"
    ));
    assert!(
        m.contains("http.submit_headers.X-Seen") && m.contains("loc"),
        "{m}"
    );
    // A step's headers: what its point knows.
    let m = message(&format!(
        "{MINIMAL}[[http.steps]]\nat = \"after_login\"\npath = \"/\"\nheaders = {{ X-Job = \"{{{{job_id}}}}\" }}\n"
    ));
    assert!(m.contains("http.steps[1].headers.X-Job"), "{m}");
    // A cookie is the user's, and the load sets Content-Type itself.
    let m = message(&format!(
        "{MINIMAL}[http.submit_headers]\nCookie = \"a=b\"\n"
    ));
    assert!(m.contains("[http.headers]"), "{m}");
    let m = message(&format!(
        "{MINIMAL}[http.upload_headers]\nContent-Type = \"text/plain\"\n"
    ));
    assert!(m.contains("set by the load"), "{m}");
}

#[test]
fn submit_as_a_form_needs_an_object_and_attached_photos_need_multipart() {
    let s = parse(&format!(
        "{MINIMAL}[http]\nsubmit_as = \"form\"\nsubmission_template = '{{\"site\": \"S{{{{user}}}}\", \"items\": \"{{{{items}}}}\"}}'\n"
    ))
    .unwrap();
    assert_eq!(s.http.submit_as, SubmitAs::Form);
    assert_eq!(parse(MINIMAL).unwrap().http.submit_as, SubmitAs::Json);
    let m = message(&format!(
        "{MINIMAL}[http]\nsubmit_as = \"form\"\nsubmission_template = '[\"{{{{items}}}}\"]'\n"
    ));
    assert!(
        m.contains("http.submission_template") && m.contains("submit_as = \"form\""),
        "{m}"
    );
    let attached = MINIMAL.replace("photo_kind", "photos = \"attached\"\nphoto_kind");
    assert_eq!(
        parse(&attached).unwrap().http.submit_as,
        SubmitAs::Multipart
    );
    let m = message(&format!("{attached}[http]\nsubmit_as = \"json\"\n"));
    assert!(
        m.contains("http.submit_as") && m.contains("multipart"),
        "{m}"
    );
    let m = message(&format!("{MINIMAL}[http]\nsubmit_as = \"xml\"\n"));
    assert!(m.contains("submit_as") && m.contains("form"), "{m}");
}
