//! The load against an in-process fake of the reference server's HTTP shape
//! (a small axum app on 127.0.0.1:0).

use super::*;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Goose's killswitch is process-wide: one load at a time.
static ONE_LOAD_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How the fake answers.
#[derive(Clone, Copy)]
enum JobFate {
    /// Completed this long after submission.
    CompletesAfter(Duration),
    /// Failed at once.
    Fails,
    /// Never leaves `processing`.
    Hangs,
}

#[derive(Default)]
struct Counts {
    uploads: AtomicU64,
    uploads_in_flight: AtomicU64,
    max_uploads_in_flight: AtomicU64,
    polls: AtomicU64,
    downloads: AtomicU64,
}

struct FakeState {
    fate: JobFate,
    counts: Counts,
    jobs: Mutex<HashMap<u64, Instant>>,
    submissions: Mutex<Vec<Value>>,
    /// When set, the first submission "restarts" the server: this server's
    /// status route fails from then on and the load is sent the new URL
    /// (the second; the first is this server's own).
    moved_to: Mutex<Option<(watch::Sender<String>, String, String)>>,
    moved: std::sync::atomic::AtomicBool,
}

impl FakeState {
    fn new(fate: JobFate) -> Arc<Self> {
        Arc::new(FakeState {
            fate,
            counts: Counts::default(),
            jobs: Mutex::new(HashMap::new()),
            submissions: Mutex::new(Vec::new()),
            moved_to: Mutex::new(None),
            moved: Default::default(),
        })
    }
}

async fn upload(
    State(s): State<Arc<FakeState>>,
    mut form: Multipart,
) -> Result<Json<Value>, StatusCode> {
    let now = s.counts.uploads_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.counts
        .max_uploads_in_flight
        .fetch_max(now, Ordering::SeqCst);
    // Slow enough that parallel uploads overlap.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut answer = Err(StatusCode::BAD_REQUEST);
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("photo") {
            let name = field.file_name().unwrap_or("x.jpg").to_string();
            let bytes = field.bytes().await.map_err(|_| StatusCode::BAD_REQUEST)?;
            if bytes.starts_with(&[0xff, 0xd8]) {
                let n = s.counts.uploads.fetch_add(1, Ordering::SeqCst) + 1;
                answer = Ok(Json(json!({
                    "url": format!("http://cdn.test/demo/image/upload/up-{n}-{name}"),
                    "public_id": format!("up-{n}"), "bytes": bytes.len(), "width": 1, "height": 1,
                })));
            }
        }
    }
    s.counts.uploads_in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn submit(
    State(s): State<Arc<FakeState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let id = {
        let mut jobs = s.jobs.lock().unwrap();
        let id = jobs.len() as u64 + 1;
        jobs.insert(id, Instant::now());
        id
    };
    s.submissions.lock().unwrap().push(body);
    let mut status_url = format!("/api/jobs/{id}");
    if let Some((tx, old_url, new_url)) = s.moved_to.lock().unwrap().take() {
        // Answer with an absolute URL of this (about to die) server.
        status_url = format!("{old_url}/api/jobs/{id}");
        s.moved.store(true, Ordering::SeqCst);
        tx.send(new_url).unwrap();
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({"submission_id": id, "job_id": id, "status_url": status_url})),
    )
}

async fn status(
    State(s): State<Arc<FakeState>>,
    UrlPath(id): UrlPath<u64>,
) -> Result<Json<Value>, StatusCode> {
    s.counts.polls.fetch_add(1, Ordering::SeqCst);
    let submitted = *s
        .jobs
        .lock()
        .unwrap()
        .get(&id)
        .ok_or(StatusCode::NOT_FOUND)?;
    let (status, error) = match s.fate {
        JobFate::CompletesAfter(d) if submitted.elapsed() >= d => ("completed", Value::Null),
        JobFate::Fails => ("failed", json!("photo fetch timed out")),
        _ => ("processing", Value::Null),
    };
    Ok(Json(
        json!({"job_id": id, "status": status, "progress": 30, "stage": "excel", "error": error}),
    ))
}

async fn download(
    State(s): State<Arc<FakeState>>,
    UrlPath((id, file)): UrlPath<(u64, String)>,
) -> Result<Vec<u8>, StatusCode> {
    if !s.jobs.lock().unwrap().contains_key(&id) || !file.starts_with("report.") {
        return Err(StatusCode::NOT_FOUND);
    }
    s.counts.downloads.fetch_add(1, Ordering::SeqCst);
    Ok(report_body(&file, 100_000))
}

/// A report file of `len` bytes that starts like the real thing (`%PDF`
/// or a zip's `PK`), as the load checks.
pub(super) fn report_body(name: &str, len: usize) -> Vec<u8> {
    let magic: &[u8] = if name.ends_with(".pdf") {
        b"%PDF-1.7\n"
    } else {
        b"PK\x03\x04"
    };
    let mut body = vec![b'%'; len];
    body[..magic.len()].copy_from_slice(magic);
    body
}

/// A fake report server; its base URL. With `dead_after_move`, its status
/// route answers 503 once a submission has "restarted" the server elsewhere.
async fn spawn_fake(state: Arc<FakeState>, dead_after_move: bool) -> String {
    let router = Router::new()
        .route("/api/photos", post(upload))
        .route("/api/submissions", post(submit))
        .route(
            "/api/jobs/{id}",
            get(
                move |st: State<Arc<FakeState>>, id: UrlPath<u64>| async move {
                    if dead_after_move && st.moved.load(Ordering::SeqCst) {
                        return Err(StatusCode::SERVICE_UNAVAILABLE);
                    }
                    status(st, id).await
                },
            ),
        )
        .route("/api/jobs/{id}/{file}", get(download))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

fn scenario(extra_users: &str, submission: &str) -> Scenario {
    let text = format!(
        "name = \"unit\"\n[users]\ncount = 1\npoll_interval_s = 0.1\nmax_run_time_s = 30\n{extra_users}\n[submission]\nphotos_per_item = 3\nphoto_kind = \"640x480-60k\"\n{submission}\n"
    );
    Scenario::parse(Path::new("unit.toml"), &text).unwrap()
}

fn target(url: &str, dir: &Path) -> LoadTarget {
    let photos: Arc<PhotoSourceFn> = Arc::new(|id: &str| {
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend_from_slice(id.as_bytes());
        jpeg.extend_from_slice(&[0xff, 0xd9]);
        Ok(bytes::Bytes::from(jpeg))
    });
    LoadTarget::new(
        url,
        CloudinaryTarget {
            base_url: "http://127.0.0.1:1".into(),
            cloud_name: "demo".into(),
        },
        photos,
        dir,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_uploaded_polled_downloaded_and_timed() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::CompletesAfter(Duration::from_millis(600)));
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario("job_timeout_s = 10", "upload_parallelism = 2\nitems = 2");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        run_load(&s, target(&url, dir.path()), CancellationToken::new()),
    )
    .await
    .expect("the load ends")
    .unwrap();

    assert_eq!(out.errors, Vec::<String>::new());
    assert_eq!(
        (
            out.submissions_acknowledged,
            out.jobs_completed,
            out.jobs_failed
        ),
        (1, 1, 0)
    );
    let job = &out.jobs[0];
    assert_eq!(
        (job.job_id.as_str(), job.status.as_str()),
        ("1", "completed")
    );
    let ready = job.time_to_ready_ms.unwrap();
    assert!((600..3_000).contains(&ready), "time to ready {ready} ms");
    let finished = job.finished_at_ms.unwrap();
    assert!(
        finished.abs_diff(job.submitted_at_ms + ready) <= 1,
        "{job:?}"
    );

    assert_eq!(fake.counts.uploads.load(Ordering::SeqCst), 6);
    assert_eq!(fake.counts.max_uploads_in_flight.load(Ordering::SeqCst), 2);
    assert!(
        fake.counts.polls.load(Ordering::SeqCst) >= 3,
        "polled every 100 ms"
    );
    assert_eq!(fake.counts.downloads.load(Ordering::SeqCst), 2);

    // The submission has the reference shape, with the uploaded photos'
    // URLs split over the items and a real PNG signature.
    let body = fake.submissions.lock().unwrap()[0].clone();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["photo_urls"].as_array().unwrap().len(), 3);
    assert!(
        items[0]["photo_urls"][0]
            .as_str()
            .unwrap()
            .starts_with("http://cdn.test/")
    );
    assert_eq!(items[1]["asset"], "Asset 2");
    assert_eq!(body["signatures"].as_array().unwrap().len(), 2);
    assert!(
        body["signatures"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR")
    );
    assert_eq!(body["site"]["date"].as_str().unwrap().len(), 10);

    // Goose's reports, with the named transactions and the custom metric.
    let json = std::fs::read_to_string(out.goose_json.unwrap()).unwrap();
    for name in [
        "upload photos",
        "wait for report",
        "download reports",
        "time to report ready",
        "poll status",
        "download pdf",
    ] {
        assert!(json.contains(name), "goose report lacks {name}");
    }
    assert!(out.goose_html.unwrap().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_counted_with_its_error_and_not_downloaded() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::Fails);
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario("iterations = 2", "photos = \"catalogue\"");
    let out = run_load(&s, target(&url, dir.path()), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (
            out.submissions_acknowledged,
            out.jobs_completed,
            out.jobs_failed
        ),
        (2, 0, 2)
    );
    assert_eq!(out.jobs[1].status, "failed");
    assert_eq!(out.jobs[1].time_to_ready_ms, None);
    assert!(
        out.errors
            .iter()
            .any(|e| e.contains("photo fetch timed out") && e.contains("(x2)")),
        "{:?}",
        out.errors
    );
    assert_eq!(fake.counts.uploads.load(Ordering::SeqCst), 0);
    assert_eq!(fake.counts.downloads.load(Ordering::SeqCst), 0);
    // Catalogue photos are referenced by their delivery URLs.
    let body = fake.submissions.lock().unwrap()[0].clone();
    assert_eq!(
        body["items"][0]["photo_urls"][2],
        "http://127.0.0.1:1/demo/image/upload/oomlab/640x480-60k-3.jpg"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_ends_is_given_up_at_its_deadline() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::Hangs);
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario("job_timeout_s = 1", "photos = \"catalogue\"");
    let started = Instant::now();
    let out = run_load(&s, target(&url, dir.path()), CancellationToken::new())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!((out.jobs_completed, out.jobs_failed), (0, 1));
    assert_eq!(out.jobs[0].status, "timed out");
    assert!(
        out.errors.iter().any(|e| e.contains("not done within 1 s")),
        "{:?}",
        out.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_load_promptly_and_keeps_what_it_saw() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::Hangs);
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario("job_timeout_s = 600", "photos = \"catalogue\"");
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        stopper.cancel();
    });
    let started = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        run_load(&s, target(&url, dir.path()), cancel),
    )
    .await
    .expect("cancel stops the load")
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.submissions_acknowledged, 1);
    assert_eq!((out.jobs_completed, out.jobs_failed), (0, 0));
    assert_eq!(out.jobs[0].status, "stopped");
    assert_eq!(out.jobs[0].finished_at_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_follow_the_server_to_its_new_url_after_a_restart() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    // Both "processes" share the job table, as a restarted server finds its
    // queued jobs in the database; the first answers the submission with
    // an absolute status URL and is dead from then on.
    let fake = FakeState::new(JobFate::CompletesAfter(Duration::from_millis(300)));
    let old = spawn_fake(Arc::clone(&fake), true).await;
    let new = spawn_fake(Arc::clone(&fake), false).await;
    let (tx, rx) = watch::channel(old.clone());
    *fake.moved_to.lock().unwrap() = Some((tx, old.clone(), new.clone()));
    let dir = tempfile::tempdir().unwrap();
    let s = scenario("job_timeout_s = 10", "photos = \"catalogue\"");
    let t = target(&old, dir.path()).with_server_url_updates(rx);
    let out = run_load(&s, t, CancellationToken::new()).await.unwrap();
    assert_eq!(out.jobs_completed, 1, "{:?}", out.errors);
    assert_eq!(fake.counts.downloads.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_time_load_submits_again_and_again_until_its_time_is_up() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::CompletesAfter(Duration::from_millis(50)));
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(
        "run_time_s = 1\nthink_time_s = 0.05\nthink_time_max_s = 0.1",
        "photos = \"catalogue\"\ndownload_reports = false",
    );
    let started = Instant::now();
    let out = run_load(&s, target(&url, dir.path()), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(out.jobs_completed >= 3, "{out:?}");
    assert_eq!(out.jobs_completed, out.submissions_acknowledged);
    assert_eq!(fake.counts.downloads.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_run_time_bounds_a_load_whose_jobs_never_end() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let fake = FakeState::new(JobFate::Hangs);
    let url = spawn_fake(Arc::clone(&fake), false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = scenario("job_timeout_s = 600", "photos = \"catalogue\"");
    s.users.max_run_time = Duration::from_secs(1);
    let started = Instant::now();
    let out = run_load(&s, target(&url, dir.path()), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.jobs[0].status, "stopped");
}

mod flow_steps;
mod real_app;
