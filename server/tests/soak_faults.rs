//! A bounded soak with faults on does not leak: after 30 jobs against a
//! Cloudinary that answers 5xx, cuts bodies short and is slow, jemalloc's
//! allocated bytes are within 10% of what they were after the warm-up.
//! jemalloc is this test binary's global allocator, as in the server binary.

use std::time::{Duration, Instant};

use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use report_server::memory::{AllocatorKind, allocated_now, set_allocator};
use report_server::settings::{EmbedMode, FetchMode};
use report_server::{Application, Placement, Settings};
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

async fn run_jobs(
    http: &reqwest::Client,
    base: &str,
    fake: &FakeCloudinary,
    n: usize,
    first: usize,
) {
    let mut ids = Vec::new();
    for j in 0..n {
        let urls: Vec<String> = (0..4)
            .map(|p| fake.photo_url(&format!("oomlab/640x480-60k-{}", ((first + j) * 4 + p) % 8)))
            .collect();
        let body =
            json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
        let ack: Value = http
            .post(format!("{base}/api/submissions"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(ack["job_id"].as_i64().unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let job: Value = http
                .get(format!("{base}/api/jobs/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if job["status"] == "completed" || job["status"] == "failed" {
                break;
            }
            assert!(Instant::now() < deadline, "job {id} hangs: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_after_a_soak_with_faults_is_within_ten_percent_of_warm_up() {
    set_allocator(AllocatorKind::Jemalloc);
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .errors(0.2, 503),
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .truncates(0.1, 0.5),
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .latency(Duration::from_millis(2), Duration::from_millis(3)),
        ],
    };
    // The fake shares this process: reset its wiremock log often so what is
    // measured is the server.
    let fake = FakeCloudinary::builder()
        .seed(5)
        .faults(faults)
        .reset_mocks_every(16)
        .start()
        .await
        .unwrap();
    let mut s = Settings {
        workers: 2,
        ..Settings::default()
    };
    s.photos.fetch = FetchMode::OneAtATime;
    s.photos.embed = EmbedMode::Resize;
    s.photos.max_px = 320;
    s.photos.attempts = 3;
    s.photos.backoff_initial_ms = 5;
    s.photos.timeout_secs = 2.0;
    s.cloudinary.base_url = fake.base_url();
    s.cloudinary.cloud_name = fake.cloud_name().to_string();
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(
        s,
        Placement {
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: dir.path().to_path_buf(),
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();

    run_jobs(&http, &base, &fake, 6, 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warm = allocated_now();
    let mut after = warm;
    for round in 0..4 {
        run_jobs(&http, &base, &fake, 10, 6 + round * 10).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        after = allocated_now();
        eprintln!(
            "after {} more jobs: {:.2} MB (fake cache {} B, mock resets {}, uploads {})",
            (round + 1) * 10,
            after as f64 / 1048576.0,
            fake.cached_bytes(),
            fake.mock_resets(),
            fake.upload_count()
        );
    }
    eprintln!(
        "jemalloc allocated after warm-up {:.1} MB, after the soak {:.1} MB",
        warm as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    assert!(
        (after as f64) <= warm as f64 * 1.10,
        "allocated grew from {warm} to {after} bytes over the soak"
    );
}
