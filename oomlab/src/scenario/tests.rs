use super::*;
use serde_json::json;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn parse(text: &str) -> Result<Scenario, ConfigError> {
    Scenario::parse(Path::new("scenarios/test.toml"), text)
}

const MINIMAL: &str = r#"
[users]
count = 1
[submission]
photos_per_item = 3
photo_kind = "phone"
"#;

fn message(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn every_shipped_scenario_parses() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                Some(s.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            assert!(!s.description.is_empty(), "{} has no description", s.name);
            names.push(s.name);
        }
    }
    names.sort();
    for expected in [
        "big-submission",
        "burst",
        "camera-photos",
        "real-photos",
        "single-report",
        "soak",
        "tiny",
        "two-reports",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing {expected}: {names:?}"
        );
    }
}

#[test]
fn shipped_scenarios_model_what_they_say() {
    let load = |n: &str| Scenario::load(&scenarios_dir().join(format!("{n}.toml"))).unwrap();
    let two = load("two-reports");
    assert_eq!(two.users.count, 2);
    assert_eq!(two.submission.photos_per_submission(), 10);
    assert_eq!(two.submission.photo_kind, "phone");
    let big = load("big-submission");
    assert_eq!(
        (big.submission.items, big.submission.photos_per_item),
        (1, 100)
    );
    let burst = load("burst");
    assert_eq!(
        burst.users.start,
        UserStart::Window(Duration::from_secs(10))
    );
    let camera = load("camera-photos");
    assert_eq!(camera.photo_ids().len(), 20);
    assert_eq!(camera.photo_ids()[0], "oomlab/camera-1");
    let tiny = load("tiny");
    assert_eq!(
        tiny.photo_ids(),
        [
            "oomlab/640x480-60k-1",
            "oomlab/640x480-60k-2",
            "oomlab/640x480-60k-3"
        ]
    );
}

#[test]
fn a_minimal_file_takes_the_reference_servers_shape() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.name, "test");
    assert_eq!(s.users.length, RunLength::Iterations(1));
    assert_eq!(s.users.poll_interval, Duration::from_secs(1));
    assert_eq!(s.submission.photos, PhotoSource::Upload);
    assert_eq!(s.submission.upload_parallelism, 3);
    assert_eq!(s.http.upload_path, "/api/photos");
    assert_eq!(s.http.upload_field, "photo");
    assert_eq!(s.http.submit_path, "/api/submissions");
    assert_eq!(s.http.status_url_pointer.as_deref(), Some("/status_url"));
    assert_eq!(s.http.done_values, ["completed"]);
    assert_eq!(s.http.download_paths.len(), 2);
}

#[test]
fn photos_repeat_after_distinct_photos() {
    let s = parse(&MINIMAL.replace("photo_kind", "distinct_photos = 2\nphoto_kind")).unwrap();
    assert_eq!(s.photo_ids(), ["oomlab/phone-1", "oomlab/phone-2"]);
    assert_eq!(s.submission.photo_id(2), "oomlab/phone-1");
}

#[test]
fn an_unknown_key_is_refused_with_file_and_key() {
    let m = message(&MINIMAL.replace("count = 1", "count = 1\nhatchrate = 2"));
    assert!(
        m.contains("scenarios/test.toml") && m.contains("hatchrate"),
        "{m}"
    );
    let m = message(&format!("{MINIMAL}\n[http]\nupload_pth = \"/x\"\n"));
    assert!(m.contains("upload_pth"), "{m}");
}

#[test]
fn a_wrong_type_is_refused_with_file_and_key() {
    let m = message(&MINIMAL.replace("count = 1", "count = \"two\""));
    assert!(
        m.contains("scenarios/test.toml") && m.contains("count"),
        "{m}"
    );
}

#[test]
fn impossible_values_are_refused_with_file_key_and_fix() {
    let cases = [
        (MINIMAL.replace("count = 1", "count = 0"), "users.count"),
        (
            MINIMAL.replace(
                "count = 1",
                "count = 2\nhatch_rate = 1.0\nstart_window_s = 5",
            ),
            "users.start_window_s",
        ),
        (
            MINIMAL.replace("count = 1", "count = 1\niterations = 1\nrun_time_s = 5"),
            "users.run_time_s",
        ),
        (
            MINIMAL.replace("count = 1", "count = 1\niterations = 0"),
            "users.iterations",
        ),
        (
            MINIMAL.replace(
                "count = 1",
                "count = 1\nthink_time_s = 3\nthink_time_max_s = 1",
            ),
            "users.think_time_max_s",
        ),
        (
            MINIMAL.replace("count = 1", "count = 1\npoll_interval_s = -1"),
            "users.poll_interval_s",
        ),
        (
            MINIMAL.replace("photos_per_item = 3", "photos_per_item = 101"),
            "submission.photos_per_item",
        ),
        (
            MINIMAL.replace("\"phone\"", "\"tablet\""),
            "submission.photo_kind",
        ),
        (
            MINIMAL.replace("photo_kind", "upload_parallelism = 0\nphoto_kind"),
            "submission.upload_parallelism",
        ),
        (
            format!("{MINIMAL}\n[http]\nsubmit_path = \"api/x\"\n"),
            "http.submit_path",
        ),
        (
            format!("{MINIMAL}\n[http]\nstatus_pointer = \"status\"\n"),
            "http.status_pointer",
        ),
        (
            format!("{MINIMAL}\n[http]\ndone_values = []\n"),
            "http.done_values",
        ),
        (
            format!("{MINIMAL}\n[http]\nitem_template = '{{\"urls\": \"{{{{photo_url}}}}\"}}'\n"),
            "http.item_template",
        ),
        (
            format!("{MINIMAL}\n[http]\nitem_template = 'not json'\n"),
            "http.item_template",
        ),
        (
            format!("{MINIMAL}\n[http]\ndownload_paths = [\"/r/{{{{job}}}}.pdf\"]\n"),
            "http.download_paths",
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
fn a_custom_http_shape_renders_its_templates() {
    let text = format!(
        r#"{MINIMAL}
[http]
submit_path = "/v2/reports"
item_template = '{{"title": "Item {{{{item_number}}}}", "pics": "{{{{photo_urls}}}}"}}'
submission_template = '{{"by": "{{{{user}}}}", "lines": "{{{{items}}}}"}}'
job_id_pointer = "/data/id"
status_path = "/v2/reports/{{{{job_id}}}}"
status_pointer = "/data/state"
done_values = ["ready", "done"]
download_paths = ["/v2/reports/{{{{job_id}}}}/file"]
"#
    );
    let s = parse(&text).unwrap();
    assert_eq!(s.http.status_url_pointer, None);
    assert_eq!(
        s.http.status_path.as_deref(),
        Some("/v2/reports/{{job_id}}")
    );
    let item = template::render(
        &s.http.item_template,
        &Vars::new()
            .with("item_number", 2)
            .with("photo_urls", json!(["u1"])),
    )
    .unwrap();
    assert_eq!(item, json!({"title": "Item 2", "pics": ["u1"]}));
    let body = template::render(
        &s.http.submission_template,
        &Vars::new().with("user", 1).with("items", json!([item])),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"by": 1, "lines": [{"title": "Item 2", "pics": ["u1"]}]})
    );
}

#[test]
fn a_signature_is_usable_at_the_top_of_the_submission_but_not_in_a_login() {
    let text = format!(
        r#"{MINIMAL}
[http]
submission_template = '{{"items": "{{{{items}}}}", "inspector_signature": "{{{{signature_png}}}}", "client_signature": "{{{{signature_png}}}}"}}'
"#
    );
    let s = parse(&text).unwrap();
    let body = template::render(
        &s.http.submission_template,
        &Vars::new()
            .with("items", json!([]))
            .with("signature_png", "data:image/png;base64,AAAA"),
    )
    .unwrap();
    assert_eq!(body["client_signature"], "data:image/png;base64,AAAA");
    let text = format!(
        r#"{MINIMAL}
[http.login]
path = "/login"
json = '{{"sig": "{{{{signature_png}}}}"}}'
"#
    );
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.contains("http.login") && e.contains("signature_png"),
        "{e}"
    );
}

const REAL_APP: &str = r#"
[http]
report_url_pointers = ["/results/pdf_url", "/results/xlsx_url"]

[http.login]
path = "/login"
form = { email = "user{{user}}@example.com", password = "secret", remember = true }
expect_status = 302

[http.headers]
X-Api-Key = "key-{{user}}"
Accept-Language = "en"
"#;

#[test]
fn a_login_headers_and_report_links_are_read() {
    let s = parse(&format!("{MINIMAL}{REAL_APP}")).unwrap();
    let login = s.http.login.unwrap();
    assert_eq!(
        (login.path.as_str(), login.method.as_str()),
        ("/login", "POST")
    );
    assert_eq!(login.expect_status, [302]);
    let LoginBody::Form(fields) = login.body else {
        panic!("a form login")
    };
    assert_eq!(
        fields,
        [
            ("email".to_string(), "user{{user}}@example.com".to_string()),
            ("password".to_string(), "secret".to_string()),
            ("remember".to_string(), "true".to_string()),
        ]
    );
    assert_eq!(
        s.http.headers,
        [
            Header {
                name: "Accept-Language".into(),
                value: "en".into()
            },
            Header {
                name: "X-Api-Key".into(),
                value: "key-{{user}}".into()
            },
        ]
    );
    assert_eq!(
        s.http.report_url_pointers,
        ["/results/pdf_url", "/results/xlsx_url"]
    );
    // Links replace the reference server's download paths...
    assert!(s.http.download_paths.is_empty());
    // ...unless paths are asked for too.
    let both = parse(&format!(
        "{MINIMAL}{}",
        REAL_APP.replace(
            "[http]\n",
            "[http]\ndownload_paths = [\"/r/{{job_id}}.zip\"]\n"
        )
    ))
    .unwrap();
    assert_eq!(both.http.download_paths, ["/r/{{job_id}}.zip"]);
}

#[test]
fn a_json_login_and_a_status_list_are_read() {
    let s = parse(&format!(
        "{MINIMAL}\n[http.login]\npath = \"/api/auth\"\nmethod = \"put\"\njson = '''{{\"user\": \"u{{{{user}}}}\", \"n\": \"{{{{user}}}}\"}}'''\nexpect_status = [200, 204]\n"
    ))
    .unwrap();
    let login = s.http.login.unwrap();
    assert_eq!(login.method, "PUT");
    assert_eq!(login.expect_status, [200, 204]);
    let LoginBody::Json(t) = login.body else {
        panic!("a JSON login")
    };
    let body = template::render(&t, &Vars::new().with("user", 3)).unwrap();
    assert_eq!(body, json!({"user": "u3", "n": 3}));
    // No headers, no login, no links by default.
    let s = parse(MINIMAL).unwrap();
    assert!(s.http.login.is_none() && s.http.headers.is_empty());
    assert!(s.http.report_url_pointers.is_empty());
}

#[test]
fn an_unknown_login_key_is_refused_by_the_parser() {
    let m = message(&format!(
        "{MINIMAL}\n[http.login]\npath = \"/login\"\nusername = \"x\"\n"
    ));
    assert!(m.contains("username"), "{m}");
    let m = message(&format!("{MINIMAL}\n[http.login]\nmethod = \"POST\"\n"));
    assert!(m.contains("path"), "{m}");
}

#[test]
fn impossible_logins_headers_and_links_are_refused_with_file_key_and_fix() {
    let login = |body: &str| format!("{MINIMAL}\n[http.login]\n{body}\n");
    let headers = |body: &str| format!("{MINIMAL}\n[http.headers]\n{body}\n");
    let cases = [
        (login("path = \"login\""), "http.login.path"),
        (login("path = \"/login/{{id}}\""), "http.login.path"),
        (
            login("path = \"/login\"\nmethod = \"DELETE\""),
            "http.login.method",
        ),
        (
            login("path = \"/login\"\nmethod = \"GET\"\nform = { a = \"b\" }"),
            "http.login.method",
        ),
        (
            login("path = \"/login\"\nform = { a = \"b\" }\njson = '{}'"),
            "http.login.json",
        ),
        (login("path = \"/login\"\njson = 'nope'"), "http.login.json"),
        (
            login("path = \"/login\"\njson = '{\"u\": \"{{iteration}}\"}'"),
            "http.login.json",
        ),
        (
            login("path = \"/login\"\nform = { a = [1, 2] }"),
            "http.login.form.a",
        ),
        (
            login("path = \"/login\"\nform = { a = \"{{job_id}}\" }"),
            "http.login.form.a",
        ),
        (
            login("path = \"/login\"\nexpect_status = 42"),
            "http.login.expect_status",
        ),
        (
            login("path = \"/login\"\nexpect_status = []"),
            "http.login.expect_status",
        ),
        (
            login("path = \"/login\"\nexpect_status = \"302\""),
            "http.login.expect_status",
        ),
        (headers("\"X Key\" = \"a\""), "http.headers.X Key"),
        (headers("X-Key = \"a\\nb\""), "http.headers.X-Key"),
        (headers("X-Key = \"{{users}}\""), "http.headers.X-Key"),
        (
            headers("Content-Type = \"text/plain\""),
            "http.headers.Content-Type",
        ),
        (headers("Host = \"example.com\""), "http.headers.Host"),
        (
            headers("X-Key = \"a\"\nx-key = \"b\""),
            "http.headers.x-key",
        ),
        (headers("Cookie = \"justtext\""), "http.headers.Cookie"),
        (
            format!("{MINIMAL}\n[http]\nreport_url_pointers = [\"results/pdf\"]\n"),
            "http.report_url_pointers",
        ),
        (
            format!("{MINIMAL}\n[http]\nreport_url_pointers = [\"\"]\n"),
            "http.report_url_pointers",
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
fn every_toml_example_in_scenarios_md_parses() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("SCENARIOS.md"))
        .unwrap();
    let mut examples = 0;
    for block in doc.split("```toml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        // A table on its own is shown as part of a file.
        let text = if block.contains("[users]") {
            block.to_string()
        } else {
            format!("{MINIMAL}\n{block}")
        };
        parse(&text).unwrap_or_else(|e| panic!("{e}\nin the example:\n{block}"));
        examples += 1;
    }
    assert!(examples >= 7, "{examples} examples");
}

mod steps;
