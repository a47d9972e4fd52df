//! `model.release`: with `cyclic_gc` a finished job's photo buffers stay
//! allocated (parked, `uncollected_bytes` in `/debug/memory` and `/metrics`)
//! until the modelled collector, driven by `[model.gc]`'s counts, runs a
//! collection that covers its document: the next job starts on top of
//! them, or after them; with `immediate` nothing is left after a job.

use std::time::{Duration, Instant};

use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use report_server::settings::{EmbedMode, FetchMode, GcSettings, Release};
use serde_json::{Value, json};

use crate::helpers::{TestApp, settings_with, small_photo, spawn_app_with};

/// What `original` mode holds of one 640x480 catalogue photo: an RGBX core
/// and an RGB copy.
const HELD_PER_PHOTO: u64 = 640 * 480 * 7;

/// Counts that make every job's start run one young collection (before its
/// document exists) and nothing else count: `document` objects decide
/// whether a collection also runs while the document exists.
fn counts(document: u64) -> GcSettings {
    GcSettings {
        objects_per_request: 0,
        objects_per_job: 701,
        objects_per_photo: 0,
        document_objects: document,
        document_objects_per_photo: 0,
        ..GcSettings::default()
    }
}

async fn spawn(release: Release, photo_latency: Duration) -> TestApp {
    spawn_counted(release, photo_latency, counts(10)).await
}

async fn spawn_counted(release: Release, photo_latency: Duration, gc: GcSettings) -> TestApp {
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .latency(photo_latency, Duration::ZERO),
        ],
    };
    let fake = FakeCloudinary::builder()
        .seed(9)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let mut s = settings_with(FetchMode::AllUpfront, EmbedMode::Original, 320);
    s.workers = 1;
    s.model.release = release;
    s.model.gc = gc;
    spawn_app_with(s, fake).await
}

async fn submit(app: &TestApp, photos: std::ops::Range<usize>) -> i64 {
    let urls: Vec<String> = photos
        .map(|n| app.fake.photo_url(&small_photo(n)))
        .collect();
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    ack["job_id"].as_i64().unwrap()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

async fn uncollected(app: &TestApp) -> u64 {
    let mem: Value = get(app, "/debug/memory").await.json().await.unwrap();
    mem["uncollected_bytes"]
        .as_u64()
        .expect("uncollected_bytes")
}

async fn metric_uncollected(app: &TestApp) -> u64 {
    let text = get(app, "/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with("report_server_uncollected_bytes "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no uncollected memory in /metrics:\n{text}"))
}

/// The first job's leftovers after it, and what was parked while the
/// second job fetched its photos (the slow downloads keep it there).
async fn two_jobs(app: &TestApp) -> (u64, Vec<u64>, u64) {
    let first = submit(app, 1..4).await;
    let job = app.wait_for_job(first).await;
    assert_eq!(job["status"], "completed", "{job}");
    let after_first = uncollected(app).await;
    assert!(
        after_first >= 3 * HELD_PER_PHOTO,
        "the first job's 3 photos stay parked after it: {after_first} bytes"
    );
    assert_eq!(metric_uncollected(app).await, after_first);
    // Idle: nothing collects (CPython's collector needs new containers).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uncollected(app).await, after_first);

    let second = submit(app, 4..6).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut during_photos = Vec::new();
    loop {
        let parked = uncollected(app).await;
        let job: Value = get(app, &format!("/api/jobs/{second}"))
            .await
            .json()
            .await
            .unwrap();
        // The stored stage lags the worker (it reads `photos` until the
        // PDF is built): only readings while it fetches are kept, which a
        // slow download makes many of.
        if job["stage"] == "photos" {
            during_photos.push(parked);
        }
        if job["status"] == "completed" || job["status"] == "failed" {
            assert_eq!(job["status"], "completed", "{job}");
            break;
        }
        assert!(Instant::now() < deadline, "job {second} hangs: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !during_photos.is_empty(),
        "the second job's photo stage was never seen"
    );
    (after_first, during_photos, uncollected(app).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_no_collection_saw_is_freed_as_the_next_job_starts() {
    // 10 document objects: no collection runs while the document exists,
    // so it is all in generation 0 when the next job's start collects.
    let app = spawn(Release::CyclicGc, Duration::from_millis(250)).await;
    let (_, during_photos, after_second) = two_jobs(&app).await;
    assert!(
        during_photos.iter().all(|&b| b == 0),
        "freed before the second job fetched its photos: {during_photos:?}"
    );
    assert!(
        (2 * HELD_PER_PHOTO..3 * HELD_PER_PHOTO).contains(&after_second),
        "the second job's own 2 photos are parked: {after_second} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_lived_through_a_collection_stays_under_the_next_job() {
    // 701 document objects run a young collection while the document
    // exists: part of it moves to generation 1, which the next job's young
    // collection does not cover.
    let app = spawn_counted(Release::CyclicGc, Duration::from_millis(250), counts(701)).await;
    let (after_first, during_photos, after_second) = two_jobs(&app).await;
    assert!(
        during_photos.iter().all(|&b| b == after_first),
        "the second job runs on top of the first one's leftovers: {during_photos:?}"
    );
    assert!(
        after_second >= after_first + 2 * HELD_PER_PHOTO,
        "both jobs are parked: {after_second} bytes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_release_leaves_nothing_after_a_job() {
    let app = spawn(Release::Immediate, Duration::ZERO).await;
    let id = submit(&app, 1..4).await;
    let job = app.wait_for_job(id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(uncollected(&app).await, 0);
    assert_eq!(metric_uncollected(&app).await, 0);
}
