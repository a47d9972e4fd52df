//! Throughput of 3 MB catalogue photos to 8 concurrent clients.
//!
//! `cargo run --release -p mock-cloudinary --example throughput [-- SECONDS]`
//!
//! The fake and the clients share this process and the machine's cores, as
//! in a load run. Target: at least 500 requests per second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;

const CLIENTS: usize = 8;
const IDS: u64 = 100;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let fake = FakeCloudinary::builder()
        .preload(&["oomlab/camera-0"])
        .start()
        .await?;
    let photo_len = fake.photo_bytes("oomlab/camera-0")?.len();
    let urls: Arc<Vec<String>> = Arc::new(
        (0..IDS)
            .map(|n| fake.photo_url(&format!("oomlab/camera-{n}")))
            .collect(),
    );
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..CLIENTS {
        let (urls, requests, bytes) = (urls.clone(), requests.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let body = client
                    .get(&urls[i % urls.len()])
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                anyhow::ensure!(body.len() > photo_len - 100, "short body: {}", body.len());
                requests.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                i += CLIENTS;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = requests.load(Ordering::Relaxed);
    let mb = bytes.load(Ordering::Relaxed) as f64 / 1e6;
    println!(
        "throughput: {n} requests of {photo_len} bytes in {elapsed:.1} s with {CLIENTS} clients: {:.0} req/s, {:.0} MB/s",
        n as f64 / elapsed,
        mb / elapsed
    );
    Ok(())
}
