//! Each bad input gets its status and a JSON error, and the server keeps
//! serving.

use report_server::settings::{EmbedMode, FetchMode, UploadBody};
use serde_json::json;

use crate::helpers::{error_code, settings_with, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_are_refused_with_json_errors() {
    let app = spawn_app(settings_with(
        FetchMode::OneAtATime,
        EmbedMode::Passthrough,
        320,
    ))
    .await;
    let post_raw = |body: &'static str| {
        app.http
            .post(app.url("/api/submissions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Malformed and truncated JSON.
    assert_eq!(
        error_code(post_raw("{not json").await.unwrap(), 400).await,
        "bad_request"
    );
    assert_eq!(
        error_code(post_raw("{\"site\": {\"name\": \"x\"").await.unwrap(), 400).await,
        "bad_request"
    );
    // Missing field and wrong type.
    assert_eq!(
        error_code(post_raw("{\"items\": []}").await.unwrap(), 422).await,
        "invalid_submission"
    );
    assert_eq!(
        error_code(
            post_raw("{\"site\": {\"name\": 5}, \"items\": []}")
                .await
                .unwrap(),
            422
        )
        .await,
        "invalid_submission"
    );
    // More than 100 photos in an item.
    let mut body = app.submission(1, 1);
    body["items"][0]["photo_urls"] = json!(vec![app.fake.photo_url("oomlab/small-1"); 101]);
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "too_many_photos"
    );
    // A photo URL on another host (server-side request forgery guard).
    let mut body = app.submission(1, 1);
    body["items"][0]["photo_urls"][0] = json!("http://169.254.169.254/latest/meta-data/x.jpg");
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "photo_url_not_allowed"
    );
    // A signature that is not a PNG data URI.
    let mut body = app.submission(1, 1);
    body["signatures"][0]["image"] = json!("data:image/png;base64,AAAA");
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "invalid_signature"
    );
    // Not JSON at all.
    let resp = app
        .http
        .post(app.url("/api/submissions"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp, 415).await, "unsupported_media_type");
    // The server still serves.
    assert_eq!(
        app.submit(&app.submission(1, 1)).await.status().as_u16(),
        202
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_a_good_one_is_stored_buffered() {
    bad_uploads_are_refused_and_a_good_one_is_stored(UploadBody::Buffered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_a_good_one_is_stored_spooled() {
    bad_uploads_are_refused_and_a_good_one_is_stored(UploadBody::Spooled).await;
}

async fn bad_uploads_are_refused_and_a_good_one_is_stored(body: UploadBody) {
    let mut settings = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    settings.http.upload_body = body;
    let app = spawn_app(settings).await;
    let upload = |bytes: Vec<u8>, field: &'static str| {
        let form = reqwest::multipart::Form::new().part(
            field,
            reqwest::multipart::Part::bytes(bytes).file_name("p.jpg"),
        );
        app.http.post(app.url("/api/photos")).multipart(form).send()
    };
    let jpeg = app
        .fake
        .photo_bytes("oomlab/640x480-60k-1")
        .unwrap()
        .to_vec();
    // Over the 1 MiB limit of the test settings: a JPEG's start and more
    // image data than the cap (so the structure check, which runs as the
    // bytes arrive, passes it and the size cap is what refuses it).
    let mut big = jpeg[..jpeg.len() - 2].to_vec();
    big.resize((1 << 20) + 10, 0);
    let resp = upload(big, "photo").await.unwrap();
    assert_eq!(error_code(resp, 413).await, "payload_too_large");
    // Refused at the cap: none of it reached Cloudinary.
    assert_eq!(app.fake.upload_count(), 0);
    // Not an image.
    let resp = upload(b"%PDF-1.4 not a photo".to_vec(), "photo")
        .await
        .unwrap();
    assert_eq!(error_code(resp, 415).await, "unsupported_media_type");
    // No photo field.
    let resp = upload(b"x".to_vec(), "file").await.unwrap();
    assert_eq!(error_code(resp, 400).await, "bad_request");
    // A real photo goes to Cloudinary and comes back with its figures.
    let resp = upload(jpeg.clone(), "photo").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(body["bytes"].as_u64(), Some(jpeg.len() as u64));
    let served = app
        .http
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        served.to_vec(),
        jpeg,
        "Cloudinary serves the uploaded bytes"
    );
    // A progressive phone portrait (EXIF 6, whose header sits after the
    // APP1 segment) goes through the spool byte for byte; its stored size is
    // what the header says.
    let portrait = app
        .fake
        .photo_bytes("oomlab/64x48-4k-progressive-422-exif6-2")
        .unwrap()
        .to_vec();
    let resp = upload(portrait.clone(), "photo").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["bytes"].as_u64(), Some(portrait.len() as u64));
    let served = app
        .http
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.to_vec(), portrait);
    assert_eq!(app.fake.upload_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_jobs_and_reports_are_not_found() {
    let app = spawn_app(settings_with(
        FetchMode::OneAtATime,
        EmbedMode::Passthrough,
        320,
    ))
    .await;
    let get = |path: &str| app.http.get(app.url(path)).send();
    assert_eq!(
        error_code(get("/api/jobs/999").await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(
        error_code(get("/api/jobs/abc").await.unwrap(), 400).await,
        "bad_request"
    );
    assert_eq!(
        error_code(get("/api/jobs/-1").await.unwrap(), 400).await,
        "bad_request"
    );
    assert_eq!(
        error_code(get("/api/jobs/1/report.docx").await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(
        error_code(
            get("/api/jobs/1/..%2f..%2fetc%2fpasswd").await.unwrap(),
            404
        )
        .await,
        "not_found"
    );
    assert_eq!(
        error_code(get("/nowhere").await.unwrap(), 404).await,
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fields_and_too_many_items_are_refused() {
    let app = spawn_app(settings_with(
        FetchMode::OneAtATime,
        EmbedMode::Passthrough,
        320,
    ))
    .await;
    let mut body = app.submission(1, 1);
    body["site"]["name"] = json!("x".repeat(20_000));
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "field_too_long"
    );
    let mut body = app.submission(1, 1);
    body["items"][0]["comments"] = json!("y".repeat(20_000));
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "field_too_long"
    );
    let mut body = app.submission(1, 0);
    let item = body["items"][0].clone();
    body["items"] = json!(vec![item; 201]);
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "too_many_items"
    );
    let mut body = app.submission(1, 1);
    body["items"][0]["unknown_field"] = json!(1);
    assert_eq!(
        error_code(app.submit(&body).await, 422).await,
        "invalid_submission"
    );
}
