//! Faults of Cloudinary are survived: retries recover what can be recovered,
//! nothing hangs past its timeout, a photo that cannot be had becomes a
//! placeholder with a warning, and a failed report upload fails the job with
//! a message that says so. Bad photos from Cloudinary are refused the same
//! way.

use std::time::{Duration, Instant};

use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use report_server::Settings;
use report_server::settings::{EmbedMode, FetchMode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, serve, settings_with, small_photo, spawn_app_with};

async fn spawn_with_faults(settings: Settings, faults: FaultConfig) -> TestApp {
    let fake = FakeCloudinary::builder()
        .seed(11)
        .faults(faults)
        .start()
        .await
        .unwrap();
    spawn_app_with(settings, fake).await
}

async fn run_job(app: &TestApp, photo_ids: &[String]) -> Value {
    let urls: Vec<String> = photo_ids.iter().map(|id| app.fake.photo_url(id)).collect();
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    app.wait_for_job(ack["job_id"].as_i64().unwrap()).await
}

fn photos(n: usize) -> Vec<String> {
    (1..=n).map(small_photo).collect()
}

fn warnings(job: &Value) -> Vec<String> {
    job["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

fn quick() -> Settings {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.photos.attempts = 3;
    s.photos.timeout_secs = 0.5;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_recover_photos_from_intermittent_server_errors() {
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .errors(0.3, 503),
        ],
    };
    let app = spawn_with_faults(quick(), faults).await;
    let job = run_job(&app, &photos(10)).await;
    assert_eq!(job["status"], "completed", "{job}");
    // With 3 attempts and a 30% error share, nearly every photo comes through.
    assert!(warnings(&job).len() <= 1, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_hanging_photos_become_placeholders_without_hanging_the_job() {
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("640x480-60k-1\\.jpg").truncates(1.0, 0.5),
            FaultRule::for_path("640x480-60k-2\\.jpg").hangs(1.0),
        ],
    };
    let app = spawn_with_faults(quick(), faults).await;
    let started = Instant::now();
    let job = run_job(&app, &photos(3)).await;
    assert_eq!(job["status"], "completed", "{job}");
    let w = warnings(&job);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w.iter().all(|w| w.contains("image not available")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("timed out")), "{w:?}");
    // 3 attempts of 0.5 s plus backoff: far below the 60 s poll bound.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_report_upload_fails_the_job_with_a_clear_message() {
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/raw/upload")
                .methods(&["POST"])
                .errors(1.0, 500),
        ],
    };
    let app = spawn_with_faults(quick(), faults).await;
    let job = run_job(&app, &photos(1)).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("uploading the Excel report"), "{error}");
    assert!(error.contains("after 3 attempts"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bomb_and_non_jpeg_photos_are_refused_one_by_one() {
    let mut s = quick();
    s.limits.max_photo_bytes = 40_000; // the 60 KB photos are over it
    let app = spawn_with_faults(s, FaultConfig::default()).await;
    let job = run_job(&app, &photos(1)).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(warnings(&job)[0].contains("cap"), "{job}");

    let mut s = quick();
    s.limits.max_photo_pixels = 10_000; // a 640x480 header is over it
    s.photos.embed = EmbedMode::Original;
    let app = spawn_with_faults(s, FaultConfig::default()).await;
    let job = run_job(&app, &photos(1)).await;
    assert!(warnings(&job)[0].contains("pixel cap"), "{job}");

    let app = spawn_with_faults(quick(), FaultConfig::default()).await;
    let urls = vec![app.fake.photo_url("oomlab/small-1").replace(".jpg", ".png")];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(warnings(&job)[0].contains("JPEG"), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_away_from_cloudinary_is_not_followed() {
    use axum::response::Redirect;
    // A "Cloudinary" whose photos redirect to the cloud metadata address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Uploads are answered as Cloudinary would; every download redirects.
    let router = axum::Router::new()
        .route(
            "/v1_1/{cloud}/{kind}/upload",
            axum::routing::post(|| async {
                axum::Json(json!({"public_id": "r", "secure_url": "http://127.0.0.1:9/raw/r"}))
            }),
        )
        .fallback(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let fake = FakeCloudinary::builder().start().await.unwrap();
    let mut s = quick();
    s.cloudinary.base_url = format!("http://{addr}");
    s.cloudinary.cloud_name = fake.cloud_name().to_string();
    let app = serve(s, fake).await;
    let url = format!("http://{addr}/{}/image/upload/p.jpg", app.fake.cloud_name());
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": [url]}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let w = warnings(&job);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("redirect") && w[0].contains("image not available"),
        "{w:?}"
    );
}
