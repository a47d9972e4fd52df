//! A job's times in its status answer: RFC 3339 UTC with milliseconds, null
//! until known, in order, and readable with the harness's type
//! (`memstats::JobTimes`).

use std::time::Duration;

use memstats::{JobTimes, parse_time};
use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use report_server::settings::{EmbedMode, FetchMode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, settings_with, small_photo, spawn_app_with};

/// `2026-11-30T08:30:01.123Z`: exactly three decimals and a `Z`.
fn assert_ms_precision(field: &str, t: &str) {
    let b = t.as_bytes();
    assert!(
        b.len() == 24
            && b[19] == b'.'
            && b[20..23].iter().all(u8::is_ascii_digit)
            && b[23] == b'Z'
            && parse_time(t).is_some(),
        "{field} `{t}` is not RFC 3339 UTC with milliseconds"
    );
}

fn times(job: &Value) -> JobTimes {
    serde_json::from_value(job.clone()).expect("the status answer carries memstats::JobTimes")
}

async fn submit(app: &TestApp, photos: std::ops::Range<usize>) -> i64 {
    let urls: Vec<String> = photos
        .map(|n| app.fake.photo_url(&small_photo(n)))
        .collect();
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    ack["job_id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_times_have_milliseconds_are_null_until_known_and_in_order() {
    // One worker and slow photos: the second job waits in the queue while
    // the first runs, so its `started_at` must still be null.
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .latency(Duration::from_millis(300), Duration::ZERO),
        ],
    };
    let fake = FakeCloudinary::builder()
        .seed(3)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let mut settings = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    settings.workers = 1;
    let app = spawn_app_with(settings, fake).await;

    let first = submit(&app, 1..4).await;
    let second = submit(&app, 4..5).await;
    let waiting = app.job(second).await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let t = times(&waiting);
    assert_ms_precision("created_at", t.created_at.as_deref().unwrap());
    assert_eq!((t.started_at, t.finished_at), (None, None), "{waiting}");
    assert!(waiting["started_at"].is_null() && waiting["finished_at"].is_null());

    let done_first = app.wait_for_job(first).await;
    let done_second = app.wait_for_job(second).await;
    let mut ends = Vec::new();
    for job in [&done_first, &done_second] {
        assert_eq!(job["status"], "completed", "{job}");
        let t = times(job);
        let [created, started, finished] = [&t.created_at, &t.started_at, &t.finished_at]
            .map(|f| f.as_deref().expect("known once the job finished"));
        for (name, v) in [
            ("created_at", created),
            ("started_at", started),
            ("finished_at", finished),
        ] {
            assert_ms_precision(name, v);
        }
        let [c, s, f] = [created, started, finished].map(|v| parse_time(v).unwrap());
        assert!(
            c <= s && s <= f,
            "out of order: {created} {started} {finished}"
        );
        // Three photos at 300 ms each: the first job's processing shows it.
        ends.push((s, f, t.processing_ms().unwrap()));
    }
    assert!(
        ends[0].2 >= 900,
        "the first job fetched 3 photos at 300 ms each but processed in {} ms",
        ends[0].2
    );
    assert!(
        ends[1].0 >= ends[0].1,
        "with one worker the second job starts after the first finished"
    );
}
