//! Per-job memory of the 20-photo camera job (20 x 4000x3000, about 3 MB
//! each) in each shipped profile, under jemalloc.
//!
//! ```text
//! cargo run --release -p report-server --example job_memory [-- PROFILE...]
//! ```
//!
//! For each profile: a server is built in this process with the profile's
//! settings, one submission of 20 camera photos (from the fake Cloudinary,
//! also in this process, photos generated before the baseline) is processed
//! alone, and jemalloc's `stats.allocated` is sampled every millisecond. It
//! prints the job's peak above the idle baseline, what the job left allocated
//! for the modelled cyclic collector (`model.release = "cyclic_gc"`:
//! `uncollected_bytes` of `/debug/memory` once the job is done), and each
//! stage's high-water mark. Each profile's server is stopped before the next
//! starts, so leftovers do not carry over. The fake's own transient buffers while serving are
//! included (it serves cached bytes without copying them; see the fake's
//! README), the modelled runtime is not (it is allocated before the
//! baseline and reported apart).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;
use report_server::memory::{AllocatorKind, allocated_now, set_allocator};
use report_server::{Application, Placement, Settings};
use serde_json::{Value, json};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PHOTOS: usize = 20;

fn mb(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    set_allocator(AllocatorKind::Jemalloc);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names = [
            "original",
            "quick-fix",
            "passthrough",
            "resize",
            "cdn-transform",
            "lean",
        ]
        .map(String::from)
        .to_vec();
    }
    let ids: Vec<String> = (1..=PHOTOS).map(|n| format!("oomlab/camera-{n}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let fake = FakeCloudinary::builder()
        .seed(1)
        .preload(&id_refs)
        .start()
        .await?;
    let photo_bytes: u64 = ids
        .iter()
        .map(|id| fake.photo_bytes(id).map(|b| b.len() as u64))
        .sum::<anyhow::Result<u64>>()?;
    println!(
        "job: {PHOTOS} photos of 4000x3000, {:.1} MB of JPEG in all ({:.0} MB held if decoded as the modelled app: RGBX core + RGB copy, 7 bytes per pixel)",
        mb(photo_bytes),
        mb(PHOTOS as u64 * 4000 * 3000 * 7)
    );
    println!(
        "{:<14} {:>10} {:>10} {:>9} {:>9}  stages (high-water above idle, MB)",
        "profile", "peak MB", "x photos", "left MB", "time s"
    );
    for name in names {
        let path = root.join(format!("{name}.toml"));
        let mut settings = Settings::load(Some(&path))?;
        settings.cloudinary.base_url = fake.base_url();
        settings.cloudinary.cloud_name = fake.cloud_name().to_string();
        let dir = tempfile::tempdir()?;
        let app = Application::build(
            settings,
            Placement {
                host: "127.0.0.1".into(),
                port: 0,
                data_dir: dir.path().to_path_buf(),
            },
        )
        .await?;
        let base = format!("http://{}", app.local_addr());
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        // Let the allocator settle, then take the idle baseline.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle = allocated_now();
        let peak = Arc::new(AtomicU64::new(idle));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(allocated_now(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let urls: Vec<String> = ids.iter().map(|id| fake.photo_url(id)).collect();
        let body = json!({
            "site": {"name": "Depot 4"},
            "items": [{"asset": "Rooftop units", "photo_urls": urls}],
        });
        let started = Instant::now();
        let ack: Value = http
            .post(format!("{base}/api/submissions"))
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        let job_id = ack["job_id"].as_i64().unwrap_or(0);
        let job = loop {
            let job: Value = http
                .get(format!("{base}/api/jobs/{job_id}"))
                .send()
                .await?
                .json()
                .await?;
            if job["status"] == "completed" || job["status"] == "failed" {
                break job;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "job timed out"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let secs = started.elapsed().as_secs_f64();
        let mem: Value = http
            .get(format!("{base}/debug/memory"))
            .send()
            .await?
            .json()
            .await?;
        let left = mem["uncollected_bytes"].as_u64().unwrap_or(0);
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        let above = peak.load(Ordering::Relaxed).saturating_sub(idle);
        let stages: Vec<String> = job["stages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let hw = s["allocated_high_water"].as_u64().unwrap_or(0);
                        format!(
                            "{} {:.1}",
                            s["stage"].as_str().unwrap_or("?"),
                            mb(hw.saturating_sub(idle))
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<14} {:>10.1} {:>10.2} {:>9.1} {:>9.1}  {}{}",
            name,
            mb(above),
            above as f64 / photo_bytes as f64,
            mb(left),
            secs,
            stages.join(", "),
            if job["status"] == "failed" {
                format!("  FAILED: {}", job["error"])
            } else {
                String::new()
            }
        );
        // Stop the server (its workers and parked buffers go with it).
        let _ = stop_server.send(());
        let _ = server.await;
    }
    Ok(())
}
