//! `/metrics` as a scraper reads it (issue 27): `promtool check metrics`
//! finds nothing to report on the endpoint's answer, after a job so that
//! the labelled families have samples; Prometheus's own `Accept` header
//! gets OpenMetrics.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{spawn_app, test_settings};

/// `GET /metrics` (answered 200): its content type and text.
pub(crate) async fn metrics(
    app: &crate::helpers::TestApp,
    accept: Option<&str>,
) -> (String, String) {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    (kind, resp.text().await.unwrap())
}

/// `promtool check metrics` on `text`: its complaints, or `None` (with the
/// line saying so) when promtool is not installed.
fn promtool_check(text: &str) -> Option<String> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        // Not on PATH, or there but not runnable (a copy hidden by a
        // bind mount of /dev/null, as `.ci/run`'s first pass does).
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            eprintln!(
                "skipped: promtool not found or not runnable ({e}; apt-get install prometheus)"
            );
            return None;
        }
        Err(e) => panic!("running promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(if out.status.success() {
        said
    } else {
        format!("exit {}: {said}", out.status)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_to_report_in_the_metrics_endpoint() {
    let app = spawn_app(test_settings()).await;
    let ack: Value = app
        .submit(&app.submission(1, 2))
        .await
        .json()
        .await
        .unwrap();
    app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    let (kind, text) = metrics(&app, None).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert!(
        text.contains("report_server_stage_high_water_bytes{stage=\"pdf\"}"),
        "{text}"
    );
    let Some(said) = promtool_check(&text) else {
        return;
    };
    assert_eq!(
        said.trim(),
        "",
        "promtool check metrics:\n{said}\non:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gets_openmetrics_and_curl_gets_the_text_format() {
    let app = spawn_app(test_settings()).await;
    let (kind, om) = metrics(
        &app,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    )
    .await;
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        om.contains("# TYPE report_server_jobs_started counter\n"),
        "{om}"
    );
    let (kind, text) = metrics(&app, Some("*/*")).await;
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert!(
        text.contains("# TYPE report_server_jobs_started_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");
}
