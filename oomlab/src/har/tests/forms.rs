//! Submissions sent as forms: a urlencoded form with the CSRF token as a
//! header and the job only in `Location` (a hand-written recording in
//! DevTools' own shape), a multipart form carrying its photos (built here
//! in the shape DevTools writes, and the real browser's recording of
//! examples/fastapi-fpdf).

use super::*;

fn load(name: &str) -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn http(w: &Written) -> toml::Table {
    let doc: toml::Table = w.toml.parse().unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    doc["http"].as_table().unwrap().clone()
}

fn template(http: &toml::Table, key: &str) -> Value {
    serde_json::from_str(http[key].as_str().unwrap()).unwrap()
}

#[test]
fn a_devtools_recording_of_a_form_app_becomes_a_scenario_that_sends_headers_and_reads_location() {
    let (path, text) = load("devtools-form-flow.har");
    let w = scenario_from_har(&path, &text, "form-app", "oomlab scenario from-har f.har").unwrap();
    assert_eq!(
        w.summary,
        "a login, 2 other requests (steps), 2 photo uploads, a submission, 3 status polls, 1 download, 2 static assets dropped"
    );
    let http = http(&w);
    // The uploads: the field from the multipart text (DevTools' params
    // write the file as `(binary)`), the header with the page's token.
    assert_eq!(http["upload_path"].as_str(), Some("/uploads"));
    assert_eq!(http["upload_field"].as_str(), Some("file"));
    assert_eq!(http["upload_url_pointer"].as_str(), Some("/path"));
    assert_eq!(
        http["upload_headers"]["X-CSRF-TOKEN"].as_str(),
        Some("{{x_csrf_token}}")
    );
    // The submission: a urlencoded form, its JSON field's photos placed,
    // the same header, the job in Location only.
    assert_eq!(http["submit_path"].as_str(), Some("/reports"));
    assert_eq!(http["submit_as"].as_str(), Some("form"));
    assert_eq!(
        http["submit_headers"]["X-CSRF-TOKEN"].as_str(),
        Some("{{x_csrf_token}}")
    );
    assert_eq!(
        template(&http, "submission_template"),
        json!({"site": "Depot", "visited_on": "{{date}}", "items": "{{items}}", "signature": "{{signature_png}}"})
    );
    assert_eq!(
        template(&http, "item_template"),
        json!({"asset": "Boiler", "photos": "{{photo_urls}}"})
    );
    assert_eq!(http["job_id_header"].as_str(), Some("Location"));
    for absent in ["job_id_pointer", "status_path", "status_url_pointer"] {
        assert!(http.get(absent).is_none(), "{absent}:\n{}", w.toml);
    }
    assert_eq!(http["status_pointer"].as_str(), Some("/report/status"));
    assert_eq!(http["done_values"][0].as_str(), Some("ready"));
    // The download was a link of the last status answer.
    assert_eq!(
        http["report_url_pointers"][0].as_str(),
        Some("/report/download")
    );
    // The login's token from its page, the header's from the page after.
    let login = http["login"].as_table().unwrap();
    assert_eq!(login["form"]["_token"].as_str(), Some("{{token}}"));
    assert_eq!(login["form"]["email"].as_str(), Some("qa@example.com"));
    assert_eq!(login["expect_status"].as_integer(), Some(302));
    let steps = http["steps"].as_array().unwrap();
    assert_eq!(
        step_places(&http),
        [
            ("before_login", "/account/login"),
            ("after_login", "/dashboard")
        ]
    );
    let re = regex::Regex::new(
        steps[1]["capture"]["x_csrf_token"]["regex"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let other = r#"<meta name="csrf-token" content="another-token-1234567">"#;
    assert_eq!(&re.captures(other).unwrap()[1], "another-token-1234567");
    assert!(
        !w.checks.iter().any(|c| c.contains("X-CSRF-TOKEN")),
        "{:?}",
        w.checks
    );
    let sc = crate::scenario::Scenario::parse(Path::new("form-app.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    assert_eq!(sc.http.submit_as, crate::scenario::SubmitAs::Form);
    assert_eq!(sc.http.job_id_header.as_deref(), Some("Location"));
    assert_eq!(sc.http.submit_headers.len(), 1);
    assert_eq!(sc.submission.photos_per_submission(), 2);
}

/// A multipart POST of the form's fields and its photos, as DevTools
/// writes it: the body's text with each part's headers, a file's param as
/// `(binary)`.
fn attached_submission(t: u32) -> Value {
    let b = "----WebKitFormBoundaryA1";
    let mut text = String::new();
    for (name, value) in [
        ("site_name", "Depot"),
        (
            "items",
            r#"[{"title": "Boiler", "photos": ["a.jpg", "b.jpg"]}]"#,
        ),
        ("signature", SIG),
    ] {
        text.push_str(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    for f in ["a.jpg", "b.jpg"] {
        text.push_str(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n\u{fffd}\u{fffd}JFIF\r\n"
        ));
    }
    text.push_str(&format!("--{b}--\r\n"));
    let mut e = body(
        entry(t, "POST", &format!("{APP}/inspections"), 202, "fetch"),
        &format!("multipart/form-data; boundary={b}"),
        &text,
    );
    e["request"]["postData"]["params"] = json!([
        {"name": "site_name", "value": "Depot"},
        {"name": "photos", "value": "(binary)"},
        {"name": "photos", "value": "(binary)"}
    ]);
    e["request"]["headers"] = json!([{"name": "X-CSRF-Token", "value": "k7Hw2pQx9mZ4vB6nR1tY"}]);
    e["response"]["headers"] = json!([{"name": "Location", "value": "/jobs/5"}]);
    json_answer(e, json!({"job_id": 5, "state": "queued"}))
}

#[test]
fn photos_sent_with_the_form_make_an_attached_submission() {
    let job = |t, state: &str| {
        json_answer(
            entry(t, "GET", &format!("{APP}/jobs/5"), 200, "fetch"),
            json!({"state": state, "reports": {"pdf": if state == "done" { json!("/jobs/5/report.pdf") } else { Value::Null }}}),
        )
    };
    let har = json!({"log": {"entries": [
        answer(entry(0, "GET", &format!("{APP}/inspections/new"), 200, "document"), "text/html",
            "<meta name=\"csrf-token\" content=\"k7Hw2pQx9mZ4vB6nR1tY\">"),
        attached_submission(1000),
        job(2000, "queued"),
        job(3000, "done"),
    ]}});
    let w = convert(&har).unwrap();
    assert!(
        w.summary.contains("a submission with its photos attached"),
        "{}",
        w.summary
    );
    let doc: toml::Table = w.toml.parse().unwrap();
    assert_eq!(doc["submission"]["photos"].as_str(), Some("attached"));
    assert_eq!(doc["submission"]["photos_per_item"].as_integer(), Some(2));
    let http = doc["http"].as_table().unwrap();
    assert_eq!(http["upload_field"].as_str(), Some("photos"));
    assert!(http.get("submit_as").is_none(), "{}", w.toml);
    assert_eq!(http["job_id_header"].as_str(), Some("Location"));
    assert_eq!(
        template(http, "item_template"),
        json!({"title": "Boiler", "photos": "{{photo_urls}}"})
    );
    assert_eq!(
        http["submit_headers"]["X-CSRF-Token"].as_str(),
        Some("{{x_csrf_token}}")
    );
    // The report link is the app's path; the job id in it a placeholder.
    assert_eq!(
        http["report_url_pointers"][0].as_str(),
        Some("/reports/pdf")
    );
    let sc = crate::scenario::Scenario::parse(Path::new("a.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    assert_eq!(sc.submission.photos, crate::scenario::PhotoSource::Attached);
    assert_eq!(sc.http.submit_as, crate::scenario::SubmitAs::Multipart);
}

#[test]
fn a_csrf_header_whose_token_no_answer_handed_out_is_a_check() {
    let mut har = json!({"log": {"entries": [attached_submission(0)]}});
    har["log"]["entries"][0]["request"]["headers"] =
        json!([{"name": "X-XSRF-TOKEN", "value": "from-a-cookie-0123456789"}]);
    let w = convert(&har).unwrap();
    assert!(
        w.checks
            .iter()
            .any(|c| c.contains("X-XSRF-TOKEN") && c.contains("cookie")),
        "{:?}",
        w.checks
    );
    assert!(!w.toml.contains("submit_headers"), "{}", w.toml);
}

/// The real browser's recording: Chromium driven by Playwright through
/// examples/fastapi-fpdf (tests/fixtures/record_fastapi_fpdf_har.py), the
/// multipart body of the submission as Chromium gave it to
/// `Network.getRequestPostData`.
#[test]
fn the_browser_s_recording_of_the_fastapi_app_is_read_part_by_part() {
    let (path, text) = load("fastapi-fpdf-flow.har");
    let w = scenario_from_har(
        &path,
        &text,
        "fastapi-recorded",
        "oomlab scenario from-har f.har",
    )
    .unwrap();
    assert_eq!(
        w.summary,
        "a login, 2 other requests (steps), a submission with its photos attached, 2 status polls, 2 downloads, 1 static asset dropped"
    );
    let doc: toml::Table = w.toml.parse().unwrap();
    assert_eq!(doc["submission"]["photos"].as_str(), Some("attached"));
    assert_eq!(doc["submission"]["photos_per_item"].as_integer(), Some(3));
    let http = doc["http"].as_table().unwrap();
    for (k, v) in [
        ("submit_path", "/inspections"),
        ("upload_field", "photos"),
        ("job_id_header", "Location"),
        ("status_pointer", "/state"),
    ] {
        assert_eq!(http[k].as_str(), Some(v), "{k}:\n{}", w.toml);
    }
    assert_eq!(http["done_values"][0].as_str(), Some("done"));
    assert_eq!(
        http["submit_headers"]["X-CSRF-Token"].as_str(),
        Some("{{x_csrf_token}}")
    );
    let sub = template(http, "submission_template");
    assert_eq!(sub["items"], "{{items}}");
    assert_eq!(sub["signature"], "{{signature_png}}");
    assert_eq!(sub["site_name"], "Riverside depot");
    assert!(sub.get("csrf_token").is_none(), "{sub}");
    let item = template(http, "item_template");
    assert_eq!(item["photos"], "{{photo_urls}}");
    assert_eq!(item["title"], "Boiler room");
    let links: Vec<&str> = http["report_url_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(links, ["/reports/pdf", "/reports/xlsx"]);
    let login = http["login"].as_table().unwrap();
    assert_eq!(login["form"]["csrf_token"].as_str(), Some("{{csrf_token}}"));
    assert_eq!(login["expect_status"].as_integer(), Some(303));
    assert_eq!(
        step_places(http),
        [
            ("before_login", "/login"),
            ("after_login", "/inspections/new")
        ]
    );
    let sc = crate::scenario::Scenario::parse(Path::new("r.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    assert_eq!(sc.http.submit_as, crate::scenario::SubmitAs::Multipart);
}
