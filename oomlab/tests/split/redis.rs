//! The harness starts Redis, sees it answer, reads its memory, and stops it
//! with no process left behind.

use std::path::Path;

use oomlab::redis_server::{RedisOptions, RedisServer, used_memory};

use crate::redis_available;

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would still have one.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn redis_answers_reports_its_memory_and_stop_leaves_no_process() {
    if !redis_available("redis_answers_reports_its_memory_and_stop_leaves_no_process") {
        return;
    }
    let server = RedisServer::start(&RedisOptions::default()).await.unwrap();
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(alive(pid));
    assert!(server.url().starts_with("redis://127.0.0.1:"));
    let url = server.url();
    let used = tokio::task::spawn_blocking(move || used_memory(&url))
        .await
        .unwrap()
        .unwrap();
    // An empty Redis allocates about a megabyte; anything from 100 kB to
    // 100 MB is a real reading, 0 or garbage is not.
    assert!((100_000..100_000_000).contains(&used), "used_memory {used}");
    server.stop().await;
    assert!(!alive(pid), "redis-server {pid} is still there after stop");
    assert!(
        !dir.exists(),
        "its data directory {} is left",
        dir.display()
    );
}

#[tokio::test]
async fn a_dropped_handle_kills_and_reaps_redis() {
    if !redis_available("a_dropped_handle_kills_and_reaps_redis") {
        return;
    }
    let server = RedisServer::start(&RedisOptions {
        durable: true,
        max_memory: Some(64 << 20),
    })
    .await
    .unwrap();
    let pid = server.pid();
    let url = server.url();
    let (aof, maxmemory) = tokio::task::spawn_blocking(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let aof: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query(&mut c)
            .unwrap();
        let mm: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory")
            .query(&mut c)
            .unwrap();
        (aof[1].clone(), mm[1].clone())
    })
    .await
    .unwrap();
    assert_eq!((aof.as_str(), maxmemory.as_str()), ("yes", "67108864"));
    drop(server);
    assert!(!alive(pid), "redis-server {pid} survived its handle");
}

#[tokio::test]
async fn two_servers_get_two_ports() {
    if !redis_available("two_servers_get_two_ports") {
        return;
    }
    let a = RedisServer::start(&RedisOptions::default()).await.unwrap();
    let b = RedisServer::start(&RedisOptions::default()).await.unwrap();
    assert_ne!(a.port(), b.port());
    let (pa, pb) = (a.pid(), b.pid());
    a.stop().await;
    b.stop().await;
    assert!(!alive(pa) && !alive(pb));
}
