//! Per-job attribution holds: what a job's thread says it still holds at the
//! end of each stage (jemalloc's per-thread counters, `thread_live_after`)
//! matches how far the process's `stats.allocated` rose above idle at the
//! same stage boundary, read on the same thread (`allocated_at_start` of the
//! next stage). A library that allocates on the job's thread and frees on a
//! helper thread of its own (or the reverse) breaks this: the harness's
//! "per-job live + idle vs allocated" check then fails by hundreds of MB.
//!
//! One job at a time runs in this process under jemalloc (the global
//! allocator of this test binary, as in the server binary), for the resize,
//! lean and original profiles, each with three 4000x3000 camera photos. The
//! fake Cloudinary shares the process; its photos are generated before the
//! idle reading and it streams uploads to disk, so at a stage boundary it
//! holds nothing the job caused.

use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;
use report_server::memory::{AllocatorKind, allocated_now, set_allocator};
use report_server::{Application, Placement, Settings};
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PHOTOS: usize = 3;
/// Relative tolerance of the check, as the harness's.
const TOLERANCE: f64 = 0.10;
/// Absolute slack: other threads' transient buffers at the boundary (the
/// test's own status polls, the fake's answers) and jemalloc's thread caches.
const SLACK: f64 = 2.0 * 1048576.0;

fn mb(b: f64) -> f64 {
    b / 1048576.0
}

/// Run one job of `photo_ids` on a fresh server with `settings`; return its
/// status answer and `stats.allocated` once it is done.
async fn run_one_job(
    settings: Settings,
    fake: &FakeCloudinary,
    photo_ids: &[String],
) -> (Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(
        settings,
        Placement {
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: dir.path().to_path_buf(),
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let http = reqwest::Client::new();
    let urls: Vec<String> = photo_ids.iter().map(|id| fake.photo_url(id)).collect();
    let body = json!({"site": {"name": "Depot 4"}, "items": [{"asset": "Rooftop units", "photo_urls": urls}]});
    let ack: Value = http
        .post(format!("{base}/api/submissions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = ack["job_id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let job = loop {
        let job: Value = http
            .get(format!("{base}/api/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "completed" || job["status"] == "failed" {
            break job;
        }
        assert!(Instant::now() < deadline, "job {id} hangs: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = allocated_now();
    server.abort();
    (job, after)
}

/// One stage's figures: what the job's thread held, what the process rose by.
struct Row {
    stage: String,
    live: f64,
    rise: f64,
}

impl Row {
    fn holds(&self) -> bool {
        (self.live - self.rise).abs() <= self.rise.abs() * TOLERANCE + SLACK
    }
}

/// Per stage: `thread_live_after` against the rise of `stats.allocated` over
/// the job's first reading, at the stage's end boundary (the next stage's
/// `allocated_at_start`, or after the job for the last stage).
fn rows(job: &Value, after_job: u64) -> Vec<Row> {
    let stages = job["stages"].as_array().expect("stages");
    let idle = stages[0]["allocated_at_start"].as_u64().unwrap() as f64;
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let boundary = stages
                .get(i + 1)
                .map(|n| n["allocated_at_start"].as_u64().unwrap())
                .unwrap_or(after_job) as f64;
            Row {
                stage: s["stage"].as_str().unwrap().to_string(),
                live: s["thread_live_after"].as_i64().expect("jemalloc counters") as f64,
                rise: boundary - idle,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_job_live_bytes_match_the_rise_of_allocated_at_every_stage_boundary() {
    set_allocator(AllocatorKind::Jemalloc);
    let ids: Vec<String> = (1..=PHOTOS).map(|n| format!("oomlab/camera-{n}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let fake = FakeCloudinary::builder()
        .seed(1)
        .preload(&refs)
        .start()
        .await
        .unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let mut failures = Vec::new();
    for profile in ["resize", "lean", "original"] {
        let mut settings = Settings::load(Some(&root.join(format!("{profile}.toml")))).unwrap();
        settings.workers = 1;
        // The modelled runtime is allocated before the job and is no part of it.
        settings.model.runtime_mb = 0;
        settings.cloudinary.base_url = fake.base_url();
        settings.cloudinary.cloud_name = fake.cloud_name().to_string();
        let (job, after) = run_one_job(settings, &fake, &ids).await;
        assert_eq!(job["status"], "completed", "{profile}: {job}");
        eprintln!("{profile}: {PHOTOS} photos of 4000x3000");
        eprintln!(
            "  {:<13} {:>12} {:>14} {:>9}",
            "stage", "job live MB", "allocated rise", "diff"
        );
        for r in rows(&job, after) {
            let diff = if r.rise.abs() > SLACK {
                format!("{:+.1}%", (r.live - r.rise) / r.rise * 100.0)
            } else {
                format!("{:+.1} MB", mb(r.live - r.rise))
            };
            eprintln!(
                "  {:<13} {:>12.1} {:>14.1} {:>9}{}",
                r.stage,
                mb(r.live),
                mb(r.rise),
                diff,
                if r.holds() { "" } else { "  <- off" }
            );
            if !r.holds() {
                failures.push(format!(
                    "{profile} {}: job live {:.1} MB vs allocated rise {:.1} MB",
                    r.stage,
                    mb(r.live),
                    mb(r.rise)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "per-job live bytes are off by more than 10% + 2 MB:\n{}",
        failures.join("\n")
    );
}
