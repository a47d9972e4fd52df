//! `degraded_photos` in the job status: a photo shown as the placeholder or
//! partly is listed with its number, URL and reason, in every profile. A
//! JPEG cut in half decodes (or is embedded) without an error, its missing
//! part grey; it must still be reported as `partial`.

use mock_cloudinary::FakeCloudinary;
use report_server::Settings;
use serde_json::{Value, json};

use crate::helpers::{TestApp, detailed_jpeg, profile, small_photo, spawn_app_with};

/// The fake with `oomlab/half-1`: the first half of a 2000x1500 JPEG
/// (large enough that `resize` decodes it, whatever the profile's max_px).
async fn app_with_a_half_jpeg(settings: Settings) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = detailed_jpeg(2000, 1500);
    let half = dir.path().join("half.jpg");
    std::fs::write(&half, &jpeg[..jpeg.len() / 2]).unwrap();
    let fake = FakeCloudinary::builder()
        .seed(3)
        .photo_file("oomlab/half-1", &half)
        .start()
        .await
        .unwrap();
    (spawn_app_with(settings, fake).await, dir)
}

/// Good, cut in half, a PNG, missing: the status of the job.
async fn run_four(app: &TestApp) -> (Vec<String>, Value) {
    let urls = vec![
        app.fake.photo_url(&small_photo(1)),
        app.fake.photo_url("oomlab/half-1"),
        app.fake.photo_url(&small_photo(2)).replace(".jpg", ".png"),
        app.fake.photo_url("oomlab/no-such-photo"),
    ];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let resp = app.submit(&body).await;
    assert_eq!(resp.status().as_u16(), 202);
    let ack: Value = resp.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    (urls, job)
}

async fn assert_degraded_reported(name: &str) {
    let (app, _dir) = app_with_a_half_jpeg(profile(name)).await;
    let (urls, job) = run_four(&app).await;
    assert_eq!(job["status"], "completed", "{name}: {job}");
    let degraded = job["degraded_photos"].as_array().expect("always an array");
    let shown: Vec<(u64, &str, &str)> = degraded
        .iter()
        .map(|d| {
            (
                d["index"].as_u64().unwrap(),
                d["url"].as_str().unwrap(),
                d["shown_as"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (2, urls[1].as_str(), "partial"),
            (3, urls[2].as_str(), "placeholder"),
            (4, urls[3].as_str(), "placeholder"),
        ],
        "{name}: {job}"
    );
    let reason = |i: usize| degraded[i]["reason"].as_str().unwrap().to_string();
    assert!(reason(0).starts_with("truncated"), "{name}: {}", reason(0));
    assert!(reason(1).contains("not a JPEG"), "{name}: {}", reason(1));
    assert!(
        reason(2).starts_with("could not be downloaded") && reason(2).contains("404"),
        "{name}: {}",
        reason(2)
    );
    // The warnings still say it in words, one per degraded photo.
    assert_eq!(
        job["warnings"].as_array().unwrap().len(),
        3,
        "{name}: {job}"
    );
    // Each field is exactly the contract's: nothing more.
    for d in degraded {
        assert_eq!(d.as_object().unwrap().len(), 4, "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lean_reports_a_cut_a_foreign_and_a_missing_photo() {
    assert_degraded_reported("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_reports_a_cut_a_foreign_and_a_missing_photo() {
    assert_degraded_reported("resize").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_transform_reports_a_cut_a_foreign_and_a_missing_photo() {
    assert_degraded_reported("cdn-transform").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_reports_a_cut_a_foreign_and_a_missing_photo() {
    assert_degraded_reported("passthrough").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn original_reports_a_cut_a_foreign_and_a_missing_photo() {
    assert_degraded_reported("original").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_every_photo_whole_has_an_empty_list() {
    let (app, _dir) = app_with_a_half_jpeg(profile("lean")).await;
    let body = app.submission(1, 2);
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    // Present before the job ends too.
    let early = app.job(&ack["job_id"]).await;
    assert_eq!(early["degraded_photos"], json!([]), "{early}");
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["degraded_photos"], json!([]), "{job}");
}
