//! Real faults get the right codes: a photo cut short is 422
//! `photo_invalid` before anything reaches Cloudinary, in every profile; a
//! queue at `limits.max_queued_jobs` is 503 `queue_full` with `Retry-After`
//! (header and JSON); an `Idempotency-Key` sent again answers the same job,
//! and with another submission is 422.

use std::time::Duration;

use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use serde_json::{Value, json};

use crate::helpers::{error_code, profile, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_photo_is_refused_before_cloudinary_in_every_profile() {
    for name in ["original", "passthrough", "resize", "cdn-transform", "lean"] {
        let app = spawn_app(profile(name)).await;
        let jpeg = app
            .fake
            .photo_bytes("oomlab/640x480-60k-1")
            .unwrap()
            .to_vec();
        for cut in [500, jpeg.len() / 2, jpeg.len() - 2] {
            let form = reqwest::multipart::Form::new().part(
                "photo",
                reqwest::multipart::Part::bytes(jpeg[..cut].to_vec()).file_name("p.jpg"),
            );
            let resp = app
                .http
                .post(app.url("/api/photos"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_code(resp, 422).await,
                "photo_invalid",
                "{name}, cut at {cut}"
            );
        }
        assert_eq!(
            app.fake.upload_count(),
            0,
            "{name}: nothing reached Cloudinary"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_beyond_the_queue_bound_are_503_with_retry_after() {
    // One worker, and each job's Excel upload takes a second: the first job
    // runs, the next two wait, the fourth finds the queue full.
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/raw/upload")
                .methods(&["POST"])
                .latency(Duration::from_millis(1000), Duration::ZERO),
        ],
    };
    let fake = FakeCloudinary::builder()
        .seed(2)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let mut s = profile("lean");
    s.workers = 1;
    s.limits.max_queued_jobs = 2;
    let app = spawn_app_with(s, fake).await;
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A"}]});
    let first: Value = app.submit(&body).await.json().await.unwrap();
    // Wait until the worker has taken the first job.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let job = app.job(&first["job_id"]).await;
        if job["status"] != "pending" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..2 {
        assert_eq!(app.submit(&body).await.status().as_u16(), 202);
    }
    let resp = app.submit(&body).await;
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "queue_full", "{err}");
    assert_eq!(err["error"]["retry_after_secs"], 5, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_queued_jobs"),
        "{err}"
    );
    // Once the queue drains, submissions are taken again.
    let job = app.wait_for_job(first["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let resp = app.submit(&body).await;
        if resp.status().as_u16() == 202 {
            break;
        }
        assert_eq!(resp.status().as_u16(), 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never drained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_sent_twice_answers_the_same_job() {
    let app = spawn_app(profile("lean")).await;
    let post = |body: &Value, key: &str| {
        app.http
            .post(app.url("/api/submissions"))
            .header("idempotency-key", key)
            .json(body)
            .send()
    };
    let body = app.submission(1, 1);
    let first = post(&body, "form-42").await.unwrap();
    assert_eq!(first.status().as_u16(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post(&body, "form-42").await.unwrap();
    assert_eq!(again.status().as_u16(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again, "the same answer, the same job");
    // The same key with another submission is refused.
    let other = app.submission(2, 1);
    assert_eq!(
        error_code(post(&other, "form-42").await.unwrap(), 422).await,
        "idempotency_key_reused"
    );
    // Another key is another job; a bad key is a 400.
    let third: Value = post(&body, "form-43").await.unwrap().json().await.unwrap();
    assert_eq!(third["job_id"], first["job_id"].as_i64().unwrap() + 1);
    assert_eq!(
        error_code(post(&body, "").await.unwrap(), 400).await,
        "bad_request"
    );
    // One job ran for the two answers of the first key: two jobs in all.
    for id in [&first["job_id"], &third["job_id"]] {
        let job = app.wait_for_job(id.as_i64().unwrap()).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    let none: Value = app
        .http
        .get(app.url(&format!(
            "/api/jobs/{}",
            third["job_id"].as_i64().unwrap() + 1
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["error"]["code"], "not_found", "{none}");
    assert_eq!(app.fake.upload_count(), 4, "two jobs, two reports each");
}
