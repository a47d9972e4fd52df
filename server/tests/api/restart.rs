//! No acknowledged submission is lost: the server is killed with SIGKILL
//! while jobs are processing and waiting, restarted on the same database, and
//! every job completes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
use serde_json::Value;

use crate::helpers::small_photo;

/// The server binary as a child process, killed on drop.
struct ServerChild {
    child: Child,
    base: String,
    ready: Value,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(
    profile: &std::path::Path,
    data: &std::path::Path,
    fake: &FakeCloudinary,
) -> ServerChild {
    let mut child = Command::new(env!("CARGO_BIN_EXE_report-server"))
        .arg("--profile")
        .arg(profile)
        .args(["--port", "0", "--data-dir"])
        .arg(data)
        .args(["--cloudinary-base-url", &fake.base_url()])
        .args(["--cloudinary-cloud-name", fake.cloud_name()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the report-server binary starts");
    let stdout = child.stdout.take().unwrap();
    // Read the ready line on a thread, so a server that never prints it
    // fails the test at the deadline instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server prints its ready line within 30 s");
    let ready: Value = serde_json::from_str(&line).expect("the ready line is JSON");
    assert_eq!(ready["event"], "ready");
    let base = format!("http://{}", ready["addr"].as_str().unwrap());
    ServerChild { child, base, ready }
}

async fn job(http: &reqwest::Client, base: &str, id: i64) -> Value {
    http.get(format!("{base}/api/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A fake whose photos take `photo_ms` each, and a profile file: jobs are
/// still running when the test kills the server.
async fn slow_fake_and_profile(
    photo_ms: u64,
    profile_text: &str,
) -> (FakeCloudinary, tempfile::TempDir, std::path::PathBuf) {
    let faults = FaultConfig {
        rules: vec![
            FaultRule::for_path("/image/upload/")
                .methods(&["GET"])
                .latency(Duration::from_millis(photo_ms), Duration::ZERO),
        ],
    };
    let fake = FakeCloudinary::builder()
        .seed(3)
        .faults(faults)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("test.toml");
    std::fs::write(&profile, profile_text).unwrap();
    (fake, dir, profile)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_kill_and_all_complete_after_restart() {
    let (fake, dir, profile) = slow_fake_and_profile(
        150,
        "workers = 2\n[photos]\nfetch = \"one_at_a_time\"\nembed = \"passthrough\"\nattempts = 2\nbackoff_initial_ms = 10\n",
    )
    .await;
    let data = dir.path().join("data");
    let http = reqwest::Client::new();

    let server = start_server(&profile, &data, &fake);
    let mut ids = Vec::new();
    for i in 0..10 {
        let urls: Vec<String> = (0..4)
            .map(|n| fake.photo_url(&small_photo(i * 4 + n)))
            .collect();
        let body = serde_json::json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
        let resp = http
            .post(format!("{}/api/submissions", server.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        let ack: Value = resp.json().await.unwrap();
        ids.push(ack["job_id"].as_i64().unwrap());
    }
    // Wait until some job is processing, then kill as the platform does.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let j = job(&http, &server.base, ids[0]).await;
        if j["status"] == "processing" {
            break;
        }
        assert!(Instant::now() < deadline, "no job started: {j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL

    let server = start_server(&profile, &data, &fake);
    let recovered = server.ready["recovered_jobs"].as_u64().unwrap();
    assert!(
        recovered >= 8,
        "most jobs were unfinished at the kill: {recovered}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        loop {
            let j = job(&http, &server.base, *id).await;
            if j["status"] == "completed" {
                assert!(j["attempts"].as_u64().unwrap() <= 2, "{j}");
                break;
            }
            assert_ne!(j["status"], "failed", "{j}");
            assert!(
                Instant::now() < deadline,
                "job {id} did not complete after the restart: {j}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_killing_the_server_ends_failed_instead_of_looping() {
    // Photos take 300 ms each: the job is always mid-way when killed.
    let (fake, dir, profile) = slow_fake_and_profile(
        300,
        "workers = 1\n[photos]\nfetch = \"one_at_a_time\"\nembed = \"passthrough\"\n",
    )
    .await;
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let mut server = start_server(&profile, &data, &fake);
    let urls: Vec<String> = (0..8).map(|n| fake.photo_url(&small_photo(n))).collect();
    let body = serde_json::json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = http
        .post(format!("{}/api/submissions", server.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = ack["job_id"].as_i64().unwrap();
    // Kill it three times while the job is processing, as an OOM kill would.
    for kill in 1..=3u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let j = job(&http, &server.base, id).await;
            if j["status"] == "processing" && j["attempts"].as_u64() == Some(kill) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the job did not start attempt {kill}: {j}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(server);
        server = start_server(&profile, &data, &fake);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let j = loop {
        let j = job(&http, &server.base, id).await;
        if j["status"] == "failed" || j["status"] == "completed" {
            break j;
        }
        assert!(Instant::now() < deadline, "{j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("interrupted 3 times"),
        "{j}"
    );
}
