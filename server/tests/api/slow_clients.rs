//! Slow clients are cut and never hold the `max_in_flight` slots: a head
//! that does not arrive in time is a JSON 408, a body that trickles is a
//! JSON 408, and meanwhile a normal submission is served. Protocol-level
//! refusals of a connection's first request are JSON too.

use std::time::{Duration, Instant};

use report_server::settings::{EmbedMode, FetchMode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, settings_with, spawn_app};

async fn quick_timeouts() -> TestApp {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.http.max_in_flight = 4;
    s.http.header_read_timeout_secs = 1.0;
    s.http.body_read_timeout_secs = 1.0;
    s.http.body_min_bytes_per_sec = 1000;
    spawn_app(s).await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Everything the server sends until it closes (bounded: 10 s, 64 KiB).
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < 64 << 10 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status and JSON error code of a raw HTTP answer.
fn status_and_code(answer: &str) -> (u16, String) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_trickling_bodies_are_cut_while_a_submission_is_served() {
    let app = quick_timeouts().await;
    let addr = addr(&app);
    let mut slow = Vec::new();
    for _ in 0..16 {
        let addr = addr.clone();
        slow.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(
                b"POST /api/submissions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
            )
            .await
            .unwrap();
            let started = Instant::now();
            // A byte every 200 ms (5 B/s), at most 60 of them.
            let mut n = 0;
            let answer = loop {
                let mut b = [0u8; 1];
                tokio::select! {
                    r = s.read(&mut b) => {
                        let mut answer = if r.map(|n| n > 0).unwrap_or(false) {
                            vec![b[0]]
                        } else {
                            Vec::new()
                        };
                        let rest = read_answer(&mut s).await;
                        answer.extend_from_slice(rest.as_bytes());
                        break String::from_utf8_lossy(&answer).into_owned();
                    }
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        n += 1;
                        if n > 60 || s.write_all(b" ").await.is_err() {
                            break read_answer(&mut s).await;
                        }
                    }
                }
            };
            (answer, started.elapsed())
        }));
    }
    // Let the slow clients take the slots first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let resp = app.submit(&app.submission(1, 1)).await;
    let took = started.elapsed();
    assert_eq!(resp.status().as_u16(), 202);
    assert!(
        took < Duration::from_secs(2),
        "the submission took {took:?}"
    );
    let mut timed_out = 0;
    for s in slow {
        let (answer, after) = s.await.unwrap();
        assert!(
            after < Duration::from_secs(6),
            "a slow client held on {after:?}"
        );
        if !answer.is_empty() {
            assert_eq!(
                status_and_code(&answer),
                (408, "request_timeout".into()),
                "{answer}"
            );
            timed_out += 1;
        }
    }
    assert!(timed_out >= 1, "no slow client was told why it was cut");
    eprintln!(
        "submission served in {took:?} beside 16 trickling clients; {timed_out}/16 read their 408"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_does_not_arrive_in_time_is_a_json_408() {
    let app = quick_timeouts().await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut s).await;
    assert_eq!(
        status_and_code(&answer),
        (408, "request_timeout".into()),
        "{answer}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_refusals_of_a_first_request_are_json() {
    let app = quick_timeouts().await;
    let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("GET /healthz HTTP/1.1\r\n{many}\r\n"),
            431,
            "too_many_headers",
        ),
        ("GARBAGE\r\n\r\n".into(), 400, "bad_request"),
        (
            format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(10_000)),
            414,
            "uri_too_long",
        ),
        (
            "G@T /healthz HTTP/1.1\r\nHost: t\r\n\r\n".into(),
            400,
            "bad_request",
        ),
        (
            "POST /api/submissions HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".into(),
            400,
            "bad_content_length",
        ),
    ];
    for (request, status, code) in cases {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let answer = read_answer(&mut s).await;
        assert_eq!(
            status_and_code(&answer),
            (status, code.to_string()),
            "{answer}"
        );
    }
    // A method no route has is axum's 405, JSON as well; the server serves on.
    let resp = app
        .http
        .request(
            reqwest::Method::from_bytes(b"BREW").unwrap(),
            app.url("/healthz"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
