use std::time::{Duration, Instant};

use mock_cloudinary::{FaultConfig, FaultRule};

use crate::helpers::*;

fn one_rule(rule: FaultRule) -> FaultConfig {
    FaultConfig::default().rule(rule)
}

#[tokio::test]
async fn error_share_answers_5xx_on_matching_paths_only() {
    let fake = spawn_with_faults(one_rule(FaultRule::for_path("camera").errors(1.0, 502))).await;
    let response = client()
        .get(fake.photo_url("oomlab/camera-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.headers().contains_key("x-cld-error"));
    let response = client().get(fake.photo_url(SMALL_ID)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let fake = spawn_with_faults(one_rule(
        FaultRule::for_path(".*").latency(Duration::from_millis(300), Duration::from_millis(50)),
    ))
    .await;
    fake.photo_bytes(SMALL_ID).unwrap();
    let start = Instant::now();
    let response = client().get(fake.photo_url(SMALL_ID)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn hung_requests_never_answer() {
    let fake = spawn_with_faults(one_rule(FaultRule::for_path(".*").hangs(1.0))).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let err = client
        .get(fake.photo_url(SMALL_ID))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn truncated_bodies_declare_more_than_they_send() {
    let fake = spawn_with_faults(one_rule(FaultRule::for_path(".*").truncates(1.0, 0.5))).await;
    let full = fake.photo_bytes(SMALL_ID).unwrap();
    let response = client().get(fake.photo_url(SMALL_ID)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(full.len() as u64));
    assert!(response.bytes().await.is_err(), "the body must fail short");
}

#[tokio::test]
async fn bandwidth_cap_slows_the_body() {
    let fake = spawn_with_faults(one_rule(FaultRule::for_path(".*").bandwidth(100_000))).await;
    let len = fake.photo_bytes(SMALL_ID).unwrap().len();
    let start = Instant::now();
    let bytes = client()
        .get(fake.photo_url(SMALL_ID))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let took = start.elapsed().as_secs_f64();
    assert_eq!(bytes.len(), len);
    let expected = len as f64 / 100_000.0;
    assert!(took >= expected * 0.9, "{len} bytes in {took:.2} s");
}

#[tokio::test]
async fn faults_are_the_same_for_the_same_seed() {
    let config = one_rule(FaultRule::for_path(".*").errors(0.5, 503));
    let mut runs = Vec::new();
    for seed in [5, 5, 6] {
        let fake = mock_cloudinary::FakeCloudinary::builder()
            .seed(seed)
            .faults(config.clone())
            .start()
            .await
            .unwrap();
        let url = format!("{}/oomlab/image/upload/missing.jpg", fake.base_url());
        let mut statuses = Vec::new();
        for _ in 0..24 {
            statuses.push(client().get(&url).send().await.unwrap().status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
    assert!(runs[0].contains(&503) && runs[0].contains(&404));
}
