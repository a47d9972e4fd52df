//! Hand-built recordings (the shapes browsers write), one part of the flow
//! each; the real browser's recording is the fixture of
//! `tests/harness/from_har.rs`.

mod forms;

use super::*;
use serde_json::{Value, json};

const APP: &str = "http://127.0.0.1:5000";
const CDN: &str = "http://127.0.0.1:4000";
const SIG: &str = "data:image/png;base64,iVBORw0KGgo=";

fn entry(t: u32, method: &str, url: &str, status: u16, rtype: &str) -> Value {
    json!({
        "startedDateTime": format!("2026-12-07T10:00:{:02}.{:03}Z", t / 1000, t % 1000),
        "_resourceType": rtype,
        "request": {"method": method, "url": url, "headers": []},
        "response": {"status": status, "headers": [], "content": {"mimeType": "text/html", "size": 10}}
    })
}

fn answer(mut e: Value, mime: &str, text: &str) -> Value {
    e["response"]["content"] = json!({"mimeType": mime, "text": text, "size": text.len()});
    e
}

fn json_answer(e: Value, v: Value) -> Value {
    answer(e, "application/json", &v.to_string())
}

fn body(mut e: Value, mime: &str, text: &str) -> Value {
    e["request"]["postData"] = json!({"mimeType": mime, "text": text});
    e
}

fn upload(t: u32, n: u32) -> Value {
    let e = entry(t, "POST", &format!("{APP}/api/photos"), 201, "fetch");
    let e = body(
        e,
        "multipart/form-data; boundary=----B",
        &format!(
            "------B\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p{n}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{fffd}\u{fffd}\r\n------B--\r\n"
        ),
    );
    json_answer(
        e,
        json!({"url": format!("{CDN}/demo/image/upload/inspections/p{n}.jpg"), "public_id": format!("inspections/p{n}")}),
    )
}

fn recording() -> Value {
    let submission = json!({
        "site": {"name": "Depot", "date": "2026-12-07"},
        "items": [{"asset": "Boiler", "photo_urls": [
            format!("{CDN}/demo/image/upload/inspections/p1.jpg"),
            format!("{CDN}/demo/image/upload/inspections/p2.jpg")]}],
        "signatures": [{"role": "inspector", "image": SIG}, {"role": "client", "image": SIG}]
    });
    let poll = |t, s: &str| {
        let mut v = json!({"status": s, "progress": 10});
        if s == "completed" {
            v["results"] = json!({"pdf_url": format!("{CDN}/demo/raw/upload/r-7.pdf")});
        }
        json_answer(
            entry(t, "GET", &format!("{APP}/api/jobs/7"), 200, "fetch"),
            v,
        )
    };
    json!({"log": {"version": "1.2", "entries": [
        answer(entry(0, "GET", &format!("{APP}/login"), 200, "document"), "text/html",
            "<form><input type=\"hidden\" name=\"csrf_token\" value=\"IjA3ZTk0YzQ5ZDFhOGM3\"><input name=\"password\"></form>"),
        entry(50, "GET", &format!("{APP}/static/app.js"), 200, "script"),
        entry(60, "GET", &format!("{APP}/static/logo.png"), 200, "image"),
        body(entry(900, "POST", &format!("{APP}/login"), 302, "document"),
            "application/x-www-form-urlencoded", "csrf_token=IjA3ZTk0YzQ5ZDFhOGM3&email=a%40b.c&password=pw"),
        entry(1000, "GET", &format!("{APP}/inspections/new"), 200, "document"),
        json_answer(entry(1100, "GET", &format!("{APP}/api/systems"), 200, "fetch"), json!(["HVAC"])),
        upload(2000, 1),
        upload(2100, 2),
        json_answer(
            body(entry(3000, "POST", &format!("{APP}/api/submissions"), 202, "fetch"),
                "application/json", &submission.to_string()),
            json!({"job_id": 7, "status_url": "/api/jobs/7"})),
        poll(4000, "pending"),
        poll(5000, "running"),
        poll(6000, "completed"),
        answer(entry(6100, "GET", &format!("{CDN}/demo/raw/upload/r-7.pdf"), 200, "fetch"), "application/pdf", ""),
        answer(entry(6200, "GET", &format!("{APP}/api/jobs/7/report.xlsx"), 200, "document"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ""),
        entry(7000, "GET", &format!("{APP}/inspections/7"), 200, "document"),
        entry(7100, "GET", "https://fonts.example.com/font.woff2", 200, "font"),
        entry(7200, "POST", "https://analytics.example.com/collect", 204, "ping"),
    ]}})
}

fn convert(har: &Value) -> Result<Written, ConfigError> {
    scenario_from_har(
        Path::new("flow.har"),
        &har.to_string(),
        "recorded",
        "oomlab scenario from-har flow.har",
    )
}

/// The written text without its steps (and their captures), as a loader
/// that does not read them yet takes it.
/// Each `[[http.steps]]` as (when it runs, its path).
fn step_places(http: &toml::Table) -> Vec<(&str, &str)> {
    http["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["at"].as_str().unwrap(), s["path"].as_str().unwrap()))
        .collect()
}

fn without_steps(text: &str) -> String {
    super::without_steps(text)
}

#[test]
fn a_recorded_flow_becomes_a_scenario_with_its_parts_in_place() {
    let w = convert(&recording()).unwrap();
    let doc: toml::Table = w.toml.parse().unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    let http = doc["http"].as_table().unwrap();
    assert_eq!(http["upload_path"].as_str(), Some("/api/photos"));
    assert_eq!(http["upload_field"].as_str(), Some("photo"));
    assert_eq!(http["upload_url_pointer"].as_str(), Some("/url"));
    assert_eq!(http["submit_path"].as_str(), Some("/api/submissions"));
    assert_eq!(http["job_id_pointer"].as_str(), Some("/job_id"));
    assert_eq!(http["status_url_pointer"].as_str(), Some("/status_url"));
    assert_eq!(http["status_pointer"].as_str(), Some("/status"));
    assert_eq!(
        http["done_values"].as_array().unwrap()[0].as_str(),
        Some("completed")
    );
    assert_eq!(
        http["download_paths"].as_array().unwrap()[0].as_str(),
        Some("/api/jobs/{{job_id}}/report.xlsx")
    );
    assert_eq!(
        http["report_url_pointers"].as_array().unwrap()[0].as_str(),
        Some("/results/pdf_url")
    );
    let sub: Value = serde_json::from_str(http["submission_template"].as_str().unwrap()).unwrap();
    assert_eq!(
        sub,
        json!({"site": {"name": "Depot", "date": "{{date}}"}, "items": "{{items}}", "signatures": "{{signatures}}"})
    );
    let item: Value = serde_json::from_str(http["item_template"].as_str().unwrap()).unwrap();
    assert_eq!(
        item,
        json!({"asset": "Boiler", "photo_urls": "{{photo_urls}}"})
    );
    let sig: Value = serde_json::from_str(http["signature_template"].as_str().unwrap()).unwrap();
    assert_eq!(
        sig,
        json!({"role": "{{role}}", "image": "{{signature_png}}"})
    );
    let s = doc["submission"].as_table().unwrap();
    assert_eq!(s["items"].as_integer(), Some(1));
    assert_eq!(s["photos_per_item"].as_integer(), Some(2));
    assert_eq!(
        s["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["inspector", "client"]
    );
    assert_eq!(doc["users"]["poll_interval_s"].as_float(), Some(1.0));

    // The login, its CSRF token captured from the login page.
    let login = http["login"].as_table().unwrap();
    assert_eq!(login["path"].as_str(), Some("/login"));
    assert_eq!(login["expect_status"].as_integer(), Some(302));
    assert_eq!(login["form"]["csrf_token"].as_str(), Some("{{csrf_token}}"));
    assert_eq!(login["form"]["email"].as_str(), Some("a@b.c"));

    // Pages as steps, where they were made; static files and other hosts
    // dropped.
    let steps = http["steps"].as_array().unwrap();
    assert_eq!(
        step_places(http),
        [
            ("before_login", "/login"),
            ("after_login", "/inspections/new"),
            ("after_login", "/api/systems"),
            ("after_download", "/inspections/{{job_id}}"),
        ]
    );
    let capture = steps[0]["capture"]["csrf_token"]["regex"].as_str().unwrap();
    let re = regex::Regex::new(capture).unwrap();
    assert!(re.is_match("<input type=\"hidden\" name=\"csrf_token\" value=\"other\">"));
    assert!(
        w.summary.contains("2 photo uploads") && w.summary.contains("3 status polls"),
        "{}",
        w.summary
    );
    assert!(
        w.summary.contains("3 static assets dropped"),
        "{}",
        w.summary
    );
    assert!(
        w.checks.iter().any(|c| c.contains("analytics.example.com")),
        "{:?}",
        w.checks
    );
    // Everything but the steps loads with the scenario loader today.
    let sc = crate::scenario::Scenario::parse(Path::new("recorded.toml"), &without_steps(&w.toml))
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    assert_eq!(sc.submission.photos_per_submission(), 2);
    assert_eq!(sc.http.status_url_pointer.as_deref(), Some("/status_url"));
}

#[test]
fn a_recorded_flow_loads_whole_with_its_steps() {
    let w = convert(&recording()).unwrap();
    crate::scenario::Scenario::parse(Path::new("recorded.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
}

#[test]
fn top_level_signatures_and_a_status_path_with_the_job_id() {
    let sub = json!({"photos_block": [{"urls": [format!("{CDN}/x/p1.jpg")]}],
                     "inspector_signature": SIG, "client_signature": SIG});
    let har = json!({"log": {"entries": [
        upload(0, 1),
        json_answer(
            body(entry(100, "POST", &format!("{APP}/reports"), 201, "fetch"),
                "application/json", &sub.to_string().replace("/demo/image/upload/inspections/", "/x/")),
            json!({"data": {"id": "ab12"}})),
        json_answer(entry(1000, "GET", &format!("{APP}/reports/ab12/state"), 200, "xhr"), json!({"data": {"state": "queued"}})),
        json_answer(entry(3000, "GET", &format!("{APP}/reports/ab12/state"), 200, "xhr"), json!({"data": {"state": "ready"}})),
        answer(entry(3100, "GET", &format!("{APP}/reports/ab12/file"), 200, "document"), "application/pdf", ""),
    ]}});
    // The upload answers a URL on /x/ here.
    let mut har = har;
    har["log"]["entries"][0]["response"]["content"]["text"] =
        json!(json!({"url": format!("{CDN}/x/p1.jpg")}).to_string());
    let w = convert(&har).unwrap();
    let doc: toml::Table = w.toml.parse().unwrap();
    let http = doc["http"].as_table().unwrap();
    assert_eq!(http["job_id_pointer"].as_str(), Some("/data/id"));
    assert_eq!(
        http["status_path"].as_str(),
        Some("/reports/{{job_id}}/state")
    );
    assert_eq!(http["status_pointer"].as_str(), Some("/data/state"));
    assert_eq!(
        http["done_values"].as_array().unwrap()[0].as_str(),
        Some("ready")
    );
    assert_eq!(doc["users"]["poll_interval_s"].as_float(), Some(2.0));
    let sub: Value = serde_json::from_str(http["submission_template"].as_str().unwrap()).unwrap();
    assert_eq!(sub["inspector_signature"], "{{signature_png}}");
    assert_eq!(sub["photos_block"], "{{items}}");
    assert!(http.get("signature_template").is_none());
    crate::scenario::Scenario::parse(Path::new("r.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
}

#[test]
fn what_is_not_a_flow_is_refused_naming_the_file() {
    let e = convert(&json!({"nope": 1})).unwrap_err().to_string();
    assert!(
        e.contains("flow.har") && e.contains("not a HAR file"),
        "{e}"
    );
    let e = convert(&json!({"log": {"entries": []}}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no request"), "{e}");
    let only_pages =
        json!({"log": {"entries": [entry(0, "GET", &format!("{APP}/"), 200, "document")]}});
    let e = convert(&only_pages).unwrap_err().to_string();
    assert!(
        e.contains("no submission") && e.contains("record the whole flow"),
        "{e}"
    );
}

/// The real browser's recording: Chromium driven by Playwright through
/// examples/flask-reportlab's form (tests/fixtures/record_flask_reportlab_har.py).
/// Playwright leaves multipart bodies and downloads out of its HAR: the
/// uploads are known by their header and answer, the reports by the links
/// of the last status answer.
fn fixture() -> Written {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flask-reportlab-flow.har");
    let text = std::fs::read_to_string(&path).unwrap();
    scenario_from_har(
        &path,
        &text,
        "flask-reportlab-recorded",
        "oomlab scenario from-har flow.har",
    )
    .unwrap()
}

#[test]
fn the_browser_s_recording_of_the_example_app_is_read_part_by_part() {
    let w = fixture();
    assert_eq!(
        w.summary,
        "1 other request (a step), 3 photo uploads, a submission, 2 status polls, 2 static assets dropped"
    );
    let doc: toml::Table = w.toml.parse().unwrap();
    let http = doc["http"].as_table().unwrap();
    for (k, v) in [
        ("upload_path", "/api/photos"),
        ("upload_url_pointer", "/url"),
        ("submit_path", "/api/submissions"),
        ("job_id_pointer", "/job_id"),
        ("status_url_pointer", "/status_url"),
        ("status_pointer", "/status"),
    ] {
        assert_eq!(http[k].as_str(), Some(v), "{k}:\n{}", w.toml);
    }
    assert_eq!(http["done_values"][0].as_str(), Some("completed"));
    let links: Vec<&str> = http["report_url_pointers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(links, ["/results/pdf_url", "/results/xlsx_url"]);
    let item: Value = serde_json::from_str(http["item_template"].as_str().unwrap()).unwrap();
    assert_eq!(item["photo_urls"], "{{photo_urls}}");
    assert_eq!(item["asset"], "Rooftop unit 2");
    let sig: Value = serde_json::from_str(http["signature_template"].as_str().unwrap()).unwrap();
    assert_eq!(sig["role"], "{{role}}");
    assert_eq!(sig["image"], "{{signature_png}}");
    let sub: Value = serde_json::from_str(http["submission_template"].as_str().unwrap()).unwrap();
    assert_eq!(sub["items"], "{{items}}");
    assert_eq!(sub["signatures"], "{{signatures}}");
    assert_eq!(sub["site"]["date"], "{{date}}");
    assert_eq!(doc["submission"]["photos_per_item"].as_integer(), Some(3));
    let steps = http["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["at"].as_str(), Some("after_login"));
    assert_eq!(steps[0]["path"].as_str(), Some("/"));
    for needle in ["upload_field", "no report download"] {
        assert!(
            w.checks.iter().any(|c| c.contains(needle)),
            "{needle}: {:?}",
            w.checks
        );
    }
    let sc = crate::scenario::Scenario::parse(Path::new("r.toml"), &without_steps(&w.toml))
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    assert_eq!(sc.http.report_url_pointers.len(), 2);
    assert_eq!(sc.submission.signatures, ["inspector", "client"]);
}

#[test]
fn the_browser_s_recording_loads_whole_with_its_steps() {
    let w = fixture();
    crate::scenario::Scenario::parse(Path::new("r.toml"), &w.toml)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
}
