//! Soak: thousands of 1 MB uploads (and deliveries of them) must not grow
//! the fake's resident memory. A file of its own so that no other test's
//! allocations share the process whose RSS is measured.
//!
//! Measured here (debug build, 2 cores): 2,000 uploads of 1 MB plus 500
//! deliveries in 3.9 s grew VmRSS from 52 to 75 MB (+23 MB; run with
//! `cargo test -p mock-cloudinary --test soak -- --nocapture`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;

/// Uploads in the measured phase.
const UPLOADS: usize = 2_000;
/// Concurrent clients.
const CLIENTS: usize = 8;
/// Bound on resident-memory growth over the measured phase.
const RSS_GROWTH_BOUND_MB: f64 = 150.0;
/// Bound on the measured phase's wall time.
const TIME_BOUND: Duration = Duration::from_secs(60);

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb / 1024.0
}

/// `count` uploads spread over `CLIENTS` tasks; every fourth is fetched back.
async fn upload_many(
    fake: &Arc<FakeCloudinary>,
    photo: &bytes::Bytes,
    count: usize,
    offset: usize,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let (fake, photo, client) = (fake.clone(), photo.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            for i in (worker..count).step_by(CLIENTS) {
                // 50 distinct ids: overwrites keep the disk use at 50 MB.
                let id = format!("soak/p{}", (offset + i) % 50);
                let part = reqwest::multipart::Part::stream_with_length(
                    reqwest::Body::from(photo.clone()),
                    photo.len() as u64,
                )
                .file_name("photo.jpg");
                let form = reqwest::multipart::Form::new()
                    .text("public_id", id)
                    .part("file", part);
                let response = client
                    .post(fake.upload_url("image"))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let answer: serde_json::Value = response.json().await.unwrap();
                if i % 4 == 0 {
                    let url = answer["secure_url"].as_str().unwrap();
                    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
                    assert_eq!(body.len(), photo.len());
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_uploads_keep_memory_bounded() {
    let fake = Arc::new(
        FakeCloudinary::builder()
            .reset_mocks_every(500)
            .start()
            .await
            .unwrap(),
    );
    let photo = {
        let fake = fake.clone();
        tokio::task::spawn_blocking(move || fake.photo_bytes("oomlab/1200x900-1000k-1"))
            .await
            .unwrap()
            .unwrap()
    };
    assert!(
        (850_000..=1_150_000).contains(&photo.len()),
        "{} bytes",
        photo.len()
    );

    // Warm-up: allocator arenas, connection pools, buffers.
    upload_many(&fake, &photo, 200, 0).await;
    let before = rss_mb();
    let start = Instant::now();
    upload_many(&fake, &photo, UPLOADS, 200).await;
    let took = start.elapsed();
    let after = rss_mb();
    println!(
        "soak: {UPLOADS} uploads of {} bytes in {:.1} s; VmRSS {before:.1} MB -> {after:.1} MB (growth {:.1} MB, bound {RSS_GROWTH_BOUND_MB} MB); wiremock resets {}",
        photo.len(),
        took.as_secs_f64(),
        after - before,
        fake.mock_resets()
    );
    assert_eq!(fake.upload_count(), (UPLOADS + 200) as u64);
    assert!(
        fake.mock_resets() >= 4,
        "wiremock was reset {} times",
        fake.mock_resets()
    );
    assert!(took < TIME_BOUND, "took {took:?}");
    assert!(
        after - before < RSS_GROWTH_BOUND_MB,
        "RSS grew {:.1} MB",
        after - before
    );
}
