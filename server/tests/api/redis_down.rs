//! Redis faults with `queue.backend = "redis"`: `/healthz` says when Redis
//! is unreachable (503 with the reason); a submission acknowledged while it
//! is down, and the queue of a Redis restarted empty, are taken up by the
//! web's periodic re-queue of pending jobs, without a restart; every
//! acknowledged job completes exactly once. Needs `redis-server` on PATH
//! (skipped with a message otherwise).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use report_server::settings::QueueBackend;
use serde_json::{Value, json};

use crate::helpers::{TestApp, profile, spawn_app};

/// A `redis-server` child on a loopback port, without persistence (a
/// restart comes back empty), killed on drop.
struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start(port: u16) -> Option<Redis> {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Redis { child, _dir: dir })
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(app: &TestApp) -> (u16, Value) {
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_acknowledged_while_redis_was_down_complete_once_it_is_back() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let Some(redis) = Redis::start(port) else {
        eprintln!("skipped: no redis-server on PATH");
        return;
    };
    let mut s = profile("lean");
    s.workers = 1;
    s.queue.backend = QueueBackend::Redis;
    s.queue.url = format!("redis://127.0.0.1:{port}/");
    s.queue.requeue_interval_secs = 0.3;
    let app = spawn_app(s).await;
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A"}]});
    let submit = || async {
        let resp = app.submit(&body).await;
        assert_eq!(resp.status().as_u16(), 202);
        resp.json::<Value>().await.unwrap()["job_id"]
            .as_i64()
            .unwrap()
    };

    let (status, h) = health(&app).await;
    assert_eq!(
        (status, &h["queue"]["backend"]),
        (200, &json!("redis")),
        "{h}"
    );
    let a = submit().await;
    assert_eq!(app.wait_for_job(a).await["status"], "completed");

    redis.kill();
    let (status, h) = health(&app).await;
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["error"]["code"], "queue_unavailable", "{h}");
    assert!(
        h["error"]["message"].as_str().unwrap().contains("Redis"),
        "{h}"
    );
    // Acknowledged while Redis is down: stored, pending.
    let b = submit().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.job(b).await["status"], "pending");

    // Redis comes back empty: nothing of the queue survived.
    let _redis = Redis::start(port).expect("redis-server starts again");
    let back = Instant::now();
    let (status, h) = health(&app).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(app.wait_for_job(b).await["status"], "completed");
    let took = back.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let c = submit().await;
    assert_eq!(app.wait_for_job(c).await["status"], "completed");

    // Exactly once: one start each, two reports each, no other job.
    for id in [a, b, c] {
        let j = app.job(id).await;
        assert_eq!(
            (&j["status"], &j["attempts"]),
            (&json!("completed"), &json!(1)),
            "{j}"
        );
    }
    assert_eq!(app.job(c + 1).await["error"]["code"], "not_found");
    assert_eq!(app.fake.upload_count(), 6);
    eprintln!(
        "redis down: 3 acknowledged, 3 completed, 0 duplicated; the job of the outage completed {took:?} after Redis was back"
    );
}
