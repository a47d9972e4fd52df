//! Every error answer is the JSON envelope, whatever produced it: our
//! handlers, extractor rejections, axum's own 404/405, a path that does not
//! decode (issue 15, point 1).

use report_server::settings::{EmbedMode, FetchMode};

use crate::helpers::{error_code, settings_with, spawn_app};

fn app_settings() -> report_server::Settings {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.http.max_submission_bytes = 64 << 10;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_submission_is_a_json_413() {
    let app = spawn_app(app_settings()).await;
    // Over the 64 KiB limit of these settings (the default is 4 MiB; a
    // body far over it would only make the client's write race the
    // server's early answer).
    let big = format!("{{\"site\": \"{}\"}}", "x".repeat(100 << 10));
    let resp = app
        .http
        .post(app.url("/api/submissions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&resp_text_of(resp, 413).await).unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("http.max_submission_bytes"), "{message}");
}

async fn resp_text_of(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_is_not_multipart_is_a_json_400() {
    let app = spawn_app(app_settings()).await;
    for content_type in [
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=\"\"",
    ] {
        let resp = app
            .http
            .post(app.url("/api/photos"))
            .header("content-type", content_type)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(resp, 400).await,
            "invalid_multipart",
            "{content_type}"
        );
    }
    // A multipart body cut short inside its part.
    let resp = app
        .http
        .post(app.url("/api/photos"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(&b"--XYZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n\r\n\xFF\xD8"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp, 400).await, "invalid_multipart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_json_405_that_names_the_allowed_ones() {
    let app = spawn_app(app_settings()).await;
    let resp = app
        .http
        .get(app.url("/api/submissions"))
        .send()
        .await
        .unwrap();
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert_eq!(allow, "POST");
    let body = resp_text_of(resp, 405).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GET") && message.contains("/api/submissions") && message.contains("POST"),
        "{message}"
    );
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/jobs/1"),
        (reqwest::Method::PUT, "/api/photos"),
        (reqwest::Method::POST, "/healthz"),
    ] {
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(resp, 405).await,
            "method_not_allowed",
            "{method} {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_undecodable_ids_are_json_errors() {
    let app = spawn_app(app_settings()).await;
    let get = |path: &str| app.http.get(app.url(path)).send();
    assert_eq!(
        error_code(get("/no/such/path").await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(
        error_code(get("/api").await.unwrap(), 404).await,
        "not_found"
    );
    // Not UTF-8 once percent-decoded: axum's path extractor refuses it in
    // plain text unless the middleware wraps it.
    assert_eq!(
        error_code(get("/api/jobs/%FF").await.unwrap(), 400).await,
        "bad_request"
    );
    // The successes are untouched.
    let resp = get("/healthz").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let metrics = get("/metrics").await.unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}
