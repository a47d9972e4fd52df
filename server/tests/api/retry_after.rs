//! A 429 from Cloudinary is retried after the wait its `Retry-After` asks
//! for, capped at `photos.backoff_max_ms` (issue 15, point 7). The stub
//! stands in for Cloudinary's delivery URL and records when each request
//! came, so the wait is measured where it happens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use report_server::cloudinary::{CloudinaryClient, FetchError};
use report_server::settings::{CloudinarySettings, PhotoSettings};

/// Answers 429 with `Retry-After: {retry_after}` to the first `throttled`
/// requests, then the photo; returns its base URL and the request times.
async fn throttling_stub(
    retry_after: &'static str,
    throttled: usize,
) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/oomlab/image/upload/{*rest}",
        axum::routing::get(move || {
            let log = log.clone();
            async move {
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(Instant::now());
                    log.len()
                };
                if n <= throttled {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, retry_after)],
                        "rate limited",
                    )
                        .into_response()
                } else {
                    (
                        [(header::CONTENT_TYPE, "image/jpeg")],
                        &b"\xFF\xD8photo"[..],
                    )
                        .into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn client(base: &str) -> CloudinaryClient {
    CloudinaryClient::new(&CloudinarySettings {
        base_url: base.to_string(),
        cloud_name: "oomlab".into(),
    })
    .unwrap()
}

fn policy(backoff_max_ms: u64) -> PhotoSettings {
    PhotoSettings {
        attempts: 3,
        backoff_initial_ms: 10,
        backoff_max_ms,
        timeout_secs: 5.0,
        ..PhotoSettings::default()
    }
}

fn gaps(seen: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    let seen = seen.lock().unwrap();
    seen.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_seconds() {
    let (base, seen) = throttling_stub("1", 1).await;
    let c = client(&base);
    let url = c
        .urls
        .check_photo_url(&format!("{base}/oomlab/image/upload/p.jpg"))
        .unwrap();
    // The backoff alone would wait 10 ms.
    let bytes = c.fetch(&url, &policy(5_000), 1 << 20).await.unwrap();
    assert_eq!(&bytes[..], b"\xFF\xD8photo");
    let gaps = gaps(&seen);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        gaps[0] >= Duration::from_millis(950),
        "retried after {:?}, before the 1 s Cloudinary asked for",
        gaps[0]
    );
}

#[tokio::test]
async fn retry_after_is_capped_at_backoff_max() {
    // Cloudinary asks for two minutes; the settings allow 300 ms.
    let (base, seen) = throttling_stub("120", 2).await;
    let c = client(&base);
    let url = c
        .urls
        .check_photo_url(&format!("{base}/oomlab/image/upload/p.jpg"))
        .unwrap();
    let started = Instant::now();
    c.fetch(&url, &policy(300), 1 << 20).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    for gap in gaps(&seen) {
        assert!(
            gap >= Duration::from_millis(290) && gap < Duration::from_millis(1_500),
            "{gap:?}"
        );
    }
}

#[tokio::test]
async fn retry_after_is_cut_at_the_deadline_and_no_retry_follows_it() {
    let (base, seen) = throttling_stub("30", 10).await;
    let c = client(&base);
    let url = c
        .urls
        .check_photo_url(&format!("{base}/oomlab/image/upload/p.jpg"))
        .unwrap();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    let err = c
        .fetch_before(&url, &policy(60_000), 1 << 20, Some(deadline))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(390) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let FetchError::Retryable(message) = err else {
        panic!("a rate limit is not a permanent failure")
    };
    assert!(
        message.contains("429") && message.contains("deadline"),
        "{message}"
    );
    // The first try, one retry at the deadline, then no more.
    assert_eq!(seen.lock().unwrap().len(), 2);
}
