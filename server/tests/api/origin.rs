//! The server fetches only from its configured Cloudinary origin: a report
//! whose stored URL (from Cloudinary's upload answer) points elsewhere is
//! not downloaded, and the refusal is a JSON 502 that says why.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mock_cloudinary::FakeCloudinary;
use report_server::settings::{EmbedMode, FetchMode};
use serde_json::{Value, json};

use crate::helpers::{serve, settings_with};

/// A listener that only counts the connections made to it.
async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_stored_off_the_cloudinary_origin_is_not_fetched() {
    let (elsewhere, connections) = counting_listener().await;
    // A "Cloudinary" whose upload answers point at the other listener.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = json!({"public_id": "r", "secure_url": format!("{elsewhere}/raw/upload/r")});
    let router = axum::Router::new().route(
        "/v1_1/{cloud}/{kind}/upload",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let fake = FakeCloudinary::builder().start().await.unwrap();
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.cloudinary.base_url = format!("http://{addr}");
    s.cloudinary.cloud_name = fake.cloud_name().to_string();
    let app = serve(s, fake).await;

    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A"}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job_id = ack["job_id"].as_i64().unwrap();
    let job = app.wait_for_job(job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
    for report in ["report.pdf", "report.xlsx"] {
        // Bounded: a server that did fetch would wait on the silent
        // listener.
        let resp = tokio::time::timeout(
            Duration::from_secs(10),
            app.http
                .get(app.url(&format!("/api/jobs/{job_id}/{report}")))
                .send(),
        )
        .await
        .expect("the refusal is immediate")
        .unwrap();
        assert_eq!(resp.status().as_u16(), 502, "{report}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "upstream_off_origin", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("not on the configured Cloudinary") && message.contains(&elsewhere),
            "{message}"
        );
    }
    // Give a connection that was (wrongly) started time to be counted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing was fetched");
}
