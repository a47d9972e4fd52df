//! Queue semantics of the split configuration against a real Redis: a job
//! taken by a worker that dies is delivered again after its lease, attempts
//! are counted and limited, a job is completed once.

use std::path::Path;
use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;
use mock_cloudinary::faults::{FaultConfig, FaultRule};
use oomlab::child::{ServerCommand, ServerProcess};
use oomlab::redis_server::{RedisOptions, RedisServer};
use report_server::jobs::redis_queue::RedisQueue;
use report_server::settings::{QueueBackend, QueueSettings};
use report_server::{Application, Placement, Role, Settings};
use serde_json::{Value, json};

use crate::redis_available;

fn queue_settings(redis: &RedisServer, lease_secs: u64) -> QueueSettings {
    QueueSettings {
        backend: QueueBackend::Redis,
        url: redis.url(),
        lease_secs,
        key_prefix: "test:jobs".into(),
        ..QueueSettings::default()
    }
}

#[tokio::test]
async fn a_taken_job_is_delivered_again_once_its_lease_runs_out() {
    if !redis_available("a_taken_job_is_delivered_again_once_its_lease_runs_out") {
        return;
    }
    let redis = RedisServer::start(&RedisOptions::default()).await.unwrap();
    let settings = queue_settings(&redis, 1);
    tokio::task::spawn_blocking(move || {
        let q = RedisQueue::connect(&settings).unwrap();
        q.push(7).unwrap();
        let first = q.take().unwrap().unwrap();
        assert_eq!((first.job_id, first.delivery), (7, 1));
        assert_eq!(
            q.take().unwrap(),
            None,
            "a taken job is not handed out twice"
        );
        // Within its lease the job is not re-delivered, and can be renewed.
        assert_eq!(q.reap().unwrap(), 0);
        assert!(q.renew(7).unwrap());
        // The worker "dies": no renewal. The reaper puts it back.
        let deadline = Instant::now() + Duration::from_secs(10);
        while q.reap().unwrap() == 0 {
            assert!(Instant::now() < deadline, "the lease never ran out");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!q.renew(7).unwrap(), "the dead worker's lease is gone");
        let second = q.take().unwrap().unwrap();
        assert_eq!((second.job_id, second.delivery), (7, 2));
        q.ack(7).unwrap();
        assert_eq!((q.waiting().unwrap(), q.in_processing().unwrap()), (0, 0));
    })
    .await
    .unwrap();
    redis.stop().await;
}

#[tokio::test]
async fn recovery_queues_a_job_only_when_redis_has_lost_it() {
    if !redis_available("recovery_queues_a_job_only_when_redis_has_lost_it") {
        return;
    }
    let redis = RedisServer::start(&RedisOptions::default()).await.unwrap();
    let settings = queue_settings(&redis, 30);
    tokio::task::spawn_blocking(move || {
        let q = RedisQueue::connect(&settings).unwrap();
        q.push(1).unwrap();
        assert!(!q.recover(1).unwrap(), "already waiting");
        q.take().unwrap().unwrap();
        assert!(!q.recover(1).unwrap(), "being processed");
        q.ack(1).unwrap();
        assert!(q.recover(1).unwrap(), "lost: queued again");
        assert_eq!(q.waiting().unwrap(), 1);
    })
    .await
    .unwrap();
    redis.stop().await;
}

/// A web process (in this test's process) and a worker process (a child that
/// can be SIGKILLed) on one Redis and one SQLite file.
struct Split {
    redis: RedisServer,
    fake: FakeCloudinary,
    settings: Settings,
    dir: tempfile::TempDir,
    web: String,
    http: reqwest::Client,
}

impl Split {
    /// Every photo download takes `photo_latency`, so a job is long enough
    /// to be killed in the middle.
    async fn start(photo_latency: Duration) -> Split {
        let redis = RedisServer::start(&RedisOptions {
            durable: true,
            max_memory: None,
        })
        .await
        .unwrap();
        let faults = FaultConfig::default().rule(
            FaultRule::for_path("640x480")
                .methods(&["GET"])
                .latency(photo_latency, Duration::ZERO),
        );
        let fake = FakeCloudinary::builder()
            .seed(7)
            .faults(faults)
            .start()
            .await
            .unwrap();
        let mut settings = Settings {
            workers: 1,
            ..Settings::default()
        };
        settings.db.pool_size = 2;
        settings.photos.timeout_secs = 10.0;
        settings.cloudinary.base_url = fake.base_url();
        settings.cloudinary.cloud_name = fake.cloud_name().to_string();
        settings.queue = queue_settings(&redis, 1);
        let dir = tempfile::tempdir().unwrap();
        let web = Application::build_role(settings.clone(), placement(dir.path()), Role::Web)
            .await
            .expect("the web role builds");
        let base = format!("http://{}", web.local_addr());
        tokio::spawn(web.run_until_stopped(std::future::pending()));
        Split {
            redis,
            fake,
            settings,
            dir,
            web: base,
            http: reqwest::Client::new(),
        }
    }

    /// `oomlab serve worker` on the same database and Redis.
    async fn start_worker(&self) -> ServerProcess {
        let profile = self.dir.path().join("profile.toml");
        std::fs::write(&profile, toml::to_string(&self.settings).unwrap()).unwrap();
        let cmd = ServerCommand::new(
            env!("CARGO_BIN_EXE_oomlab").into(),
            vec![
                "serve".into(),
                "worker".into(),
                "--profile".into(),
                profile.into(),
                "--port".into(),
                "0".into(),
                "--data-dir".into(),
                self.dir.path().into(),
            ],
            self.dir.path().join("worker.log"),
        );
        ServerProcess::start(&cmd, Duration::from_secs(30), None)
            .await
            .expect("the worker starts")
    }

    async fn submit(&self, photos: usize) -> i64 {
        let urls: Vec<String> = (0..photos)
            .map(|n| self.fake.photo_url(&format!("oomlab/640x480-60k-{n}")))
            .collect();
        let body = json!({
            "site": {"name": "Depot 4", "address": "1 Quay St", "client": "Port Co", "inspector": "A. Lee", "date": "2026-11-28"},
            "items": [{"asset": "Asset", "system": "HVAC", "description": "Rooftop unit", "quantity": 1,
                       "brand": "Acme", "specification": "RTU-5", "comments": "ok", "photo_urls": urls}],
            "signatures": [],
        });
        let resp = self
            .http
            .post(format!("{}/api/submissions", self.web))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
        resp.json::<Value>().await.unwrap()["job_id"]
            .as_i64()
            .unwrap()
    }

    async fn job(&self, id: i64) -> Value {
        self.http
            .get(format!("{}/api/jobs/{id}", self.web))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the job until `cond` holds (60 s bound).
    async fn wait_job(&self, id: i64, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(id).await;
            if cond(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} never {what}: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn redis_queue(&self) -> RedisQueue {
        RedisQueue::connect(&self.settings.queue).unwrap()
    }
}

fn placement(dir: &Path) -> Placement {
    Placement {
        host: "127.0.0.1".into(),
        port: 0,
        data_dir: dir.to_path_buf(),
    }
}

fn processing_attempt(job: &Value, attempt: u64) -> bool {
    job["status"] == "processing" && job["attempts"] == attempt
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_completes_once_after_a_restart() {
    if !redis_available("a_job_whose_worker_is_killed_completes_once_after_a_restart") {
        return;
    }
    let split = Split::start(Duration::from_millis(700)).await;
    let worker = split.start_worker().await;
    let id = split.submit(4).await;
    split
        .wait_job(id, "started", |j| processing_attempt(j, 1))
        .await;
    worker.kill();
    drop(worker);
    // The web process is untouched: it answers and the job is still there,
    // leased to a worker that is gone.
    let job = split.job(id).await;
    assert_eq!(job["status"], "processing", "{job}");
    let q = split.redis_queue();
    assert_eq!(
        tokio::task::spawn_blocking(move || q.in_processing().unwrap())
            .await
            .unwrap(),
        1
    );
    let _worker = split.start_worker().await;
    let job = split
        .wait_job(id, "finished", |j| {
            j["status"] == "completed" || j["status"] == "failed"
        })
        .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["attempts"], 2,
        "one delivery killed, one completed: {job}"
    );
    let finished_at = job["finished_at"].clone();
    let q = split.redis_queue();
    let (waiting, processing) =
        tokio::task::spawn_blocking(move || (q.waiting().unwrap(), q.in_processing().unwrap()))
            .await
            .unwrap();
    assert_eq!(
        (waiting, processing),
        (0, 0),
        "acknowledged once, nothing left"
    );
    // Past another lease, nothing re-ran or re-completed it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = split.job(id).await;
    assert_eq!(
        (&again["attempts"], &again["finished_at"]),
        (&json!(2), &finished_at)
    );
    drop(split.redis);
}

#[tokio::test]
async fn a_job_that_keeps_killing_its_worker_fails_after_the_attempt_limit() {
    if !redis_available("a_job_that_keeps_killing_its_worker_fails_after_the_attempt_limit") {
        return;
    }
    let split = Split::start(Duration::from_millis(700)).await;
    let id = split.submit(4).await;
    let limit = report_server::jobs::MAX_JOB_ATTEMPTS as u64;
    for attempt in 1..=limit {
        let worker = split.start_worker().await;
        split
            .wait_job(id, "started again", |j| processing_attempt(j, attempt))
            .await;
        worker.kill();
    }
    let _worker = split.start_worker().await;
    let job = split
        .wait_job(id, "failed", |j| j["status"] == "failed")
        .await;
    assert_eq!(job["attempts"], limit, "{job}");
    let error = job["error"]["message"]
        .as_str()
        .or(job["error"].as_str())
        .unwrap_or_default();
    assert!(error.contains("interrupted 3 times"), "{job}");
}
