//! The load against a stub of an app that is not the reference server: a
//! form login that answers `302` with a session cookie, a header required
//! on every request, its own JSON shape, and report links to a second stub
//! (a file host, as the fake Cloudinary).

use super::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

const PDF_BYTES: usize = 150_000;
const XLSX_BYTES: usize = 40_000;

struct App {
    /// Login attempts, and the users that got a session.
    logins: AtomicU64,
    sessions: Mutex<Vec<String>>,
    /// Requests refused for a missing or foreign cookie or header.
    refused: AtomicU64,
    uploads: AtomicU64,
    jobs: Mutex<HashMap<u64, Instant>>,
    /// This stub's own base URL, for absolute status URLs.
    own: Mutex<String>,
    /// Where report links point.
    files: String,
}

/// The user a request is from, when its session cookie and its tenant
/// header agree (`sid=user2` and `X-Tenant: tenant-2`).
fn authorised(app: &App, headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    let user = cookie
        .split(';')
        .find_map(|c| c.trim().strip_prefix("sid="))?
        .to_string();
    let tenant = headers.get("x-tenant")?.to_str().ok()?;
    let known = app.sessions.lock().unwrap().contains(&user);
    (known && tenant.strip_prefix("tenant-") == user.strip_prefix("user")).then_some(user)
}

fn refuse(app: &App) -> Response {
    app.refused.fetch_add(1, Ordering::SeqCst);
    StatusCode::UNAUTHORIZED.into_response()
}

/// Takes a form or a JSON body; `secret` is the password.
async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    app.logins.fetch_add(1, Ordering::SeqCst);
    let json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    let fields: HashMap<String, String> = if json {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        ["username", "password"]
            .iter()
            .filter_map(|k| Some((k.to_string(), v[k].as_str()?.to_string())))
            .collect()
    } else {
        url::form_urlencoded::parse(&body).into_owned().collect()
    };
    match (fields.get("username"), fields.get("password")) {
        (Some(user), Some(p)) if p == "secret" => {
            app.sessions.lock().unwrap().push(user.clone());
            (
                StatusCode::FOUND,
                [
                    (header::LOCATION, "/home".to_string()),
                    (header::SET_COOKIE, format!("sid={user}; Path=/; HttpOnly")),
                ],
            )
                .into_response()
        }
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn upload(State(app): State<Arc<App>>, headers: HeaderMap, mut form: Multipart) -> Response {
    if authorised(&app, &headers).is_none() {
        return refuse(&app);
    }
    while let Ok(Some(field)) = form.next_field().await {
        let _ = field.bytes().await;
    }
    let n = app.uploads.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"data": {"secure_url": format!("http://cdn.test/u/{n}.jpg")}})).into_response()
}

async fn create_report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(_): Json<Value>,
) -> Response {
    if authorised(&app, &headers).is_none() {
        return refuse(&app);
    }
    let id = {
        let mut jobs = app.jobs.lock().unwrap();
        let id = jobs.len() as u64 + 1;
        jobs.insert(id, Instant::now());
        id
    };
    let own = app.own.lock().unwrap().clone();
    (
        StatusCode::ACCEPTED,
        Json(
            json!({"data": {"id": id}, "links": {"status": format!("{own}/api/v2/reports/{id}")}}),
        ),
    )
        .into_response()
}

async fn report_state(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<u64>,
) -> Response {
    if authorised(&app, &headers).is_none() {
        return refuse(&app);
    }
    let Some(at) = app.jobs.lock().unwrap().get(&id).copied() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if at.elapsed() < Duration::from_millis(200) {
        return Json(json!({"state": "running"})).into_response();
    }
    let files = &app.files;
    Json(json!({"state": "done", "results": {
        "pdf_url": format!("{files}/files/{id}.pdf"),
        "xlsx_url": format!("{files}/files/{id}.xlsx"),
    }}))
    .into_response()
}

#[derive(Default)]
struct Files {
    served: AtomicU64,
    bytes: AtomicU64,
    /// Requests that carried the app's cookie or header.
    leaked: AtomicU64,
}

async fn file(
    State(files): State<Arc<Files>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Vec<u8> {
    if headers.contains_key(header::COOKIE) || headers.contains_key("x-tenant") {
        files.leaked.fetch_add(1, Ordering::SeqCst);
    }
    let len = if name.ends_with(".pdf") {
        PDF_BYTES
    } else {
        XLSX_BYTES
    };
    files.served.fetch_add(1, Ordering::SeqCst);
    files.bytes.fetch_add(len as u64, Ordering::SeqCst);
    super::report_body(&name, len)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// The file host and the app (whose report links point at `files_base`,
/// or at the file host when `None`).
async fn spawn_app(files_base: Option<&str>) -> (Arc<App>, String, Arc<Files>) {
    let files = Arc::new(Files::default());
    let files_url = serve(
        Router::new()
            .route("/files/{name}", get(file))
            .with_state(Arc::clone(&files)),
    )
    .await;
    let app = Arc::new(App {
        logins: AtomicU64::new(0),
        sessions: Mutex::new(Vec::new()),
        refused: AtomicU64::new(0),
        uploads: AtomicU64::new(0),
        jobs: Mutex::new(HashMap::new()),
        own: Mutex::new(String::new()),
        files: files_base.unwrap_or(&files_url).to_string(),
    });
    let url = serve(
        Router::new()
            .route("/session", post(login))
            .route("/api/v2/photos", post(upload))
            .route("/api/v2/reports", post(create_report))
            .route("/api/v2/reports/{id}", get(report_state))
            .with_state(Arc::clone(&app)),
    )
    .await;
    *app.own.lock().unwrap() = url.clone();
    (app, url, files)
}

const APP_SHAPE: &str = r#"
[http]
upload_path = "/api/v2/photos"
upload_url_pointer = "/data/secure_url"
submit_path = "/api/v2/reports"
job_id_pointer = "/data/id"
status_url_pointer = "/links/status"
status_pointer = "/state"
done_values = ["done"]
failed_values = ["error"]
report_url_pointers = ["/results/pdf_url", "/results/xlsx_url"]

[http.headers]
X-Tenant = "tenant-{{user}}"
"#;

const FORM_LOGIN: &str = r#"
[http.login]
path = "/session"
form = { username = "user{{user}}", password = "secret" }
expect_status = 302
"#;

fn app_scenario(users: &str, login: &str) -> Scenario {
    let text = format!(
        "name = \"real-app\"\n[users]\n{users}\npoll_interval_s = 0.1\njob_timeout_s = 10\nmax_run_time_s = 30\n[submission]\nphotos_per_item = 2\nphoto_kind = \"640x480-60k\"\nsignatures = []\nupload_parallelism = 2\n{APP_SHAPE}\n{login}"
    );
    Scenario::parse(Path::new("real-app.toml"), &text).unwrap()
}

/// The load's outcome, and the folder of goose's reports.
async fn run(s: &Scenario, url: &str) -> (LoadOutcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        run_load(s, target(url, dir.path()), CancellationToken::new()),
    )
    .await
    .expect("the load ends")
    .unwrap();
    (out, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_once_send_their_header_and_download_report_links_from_another_host() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let (app, url, files) = spawn_app(None).await;
    let s = app_scenario("count = 2\niterations = 2", FORM_LOGIN);
    let (out, _dir) = run(&s, &url).await;

    assert_eq!(out.errors, Vec::<String>::new());
    // Once per user, whatever the iterations, and every later request had
    // the session cookie and the user's own header.
    assert_eq!(app.logins.load(Ordering::SeqCst), 2);
    let mut sessions = app.sessions.lock().unwrap().clone();
    sessions.sort();
    assert_eq!(sessions, ["user1", "user2"]);
    assert_eq!(out.users_logged_in, 2);
    assert_eq!(app.refused.load(Ordering::SeqCst), 0);
    assert_eq!(app.uploads.load(Ordering::SeqCst), 8);
    assert_eq!((out.submissions_acknowledged, out.jobs_completed), (4, 4));
    // Both reports of every job, from the file host, counted to the byte;
    // the app's cookie and header stayed with the app.
    assert_eq!(files.served.load(Ordering::SeqCst), 8);
    assert_eq!(out.reports_downloaded, 8);
    assert_eq!(
        out.report_bytes_downloaded,
        4 * (PDF_BYTES + XLSX_BYTES) as u64
    );
    assert_eq!(
        out.report_bytes_downloaded,
        files.bytes.load(Ordering::SeqCst)
    );
    assert_eq!(files.leaked.load(Ordering::SeqCst), 0);
    let json = std::fs::read_to_string(out.goose_json.unwrap()).unwrap();
    for name in ["log in", "download pdf_url", "download xlsx_url"] {
        assert!(json.contains(name), "goose report lacks {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_is_an_error_and_the_user_stops() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let (app, url, files) = spawn_app(None).await;
    let login = r#"
[http.login]
path = "/session"
json = '''{"username": "user{{user}}", "password": "wrong"}'''
"#;
    let s = app_scenario("count = 1\niterations = 3", login);
    let (out, _) = run(&s, &url).await;

    assert_eq!(app.logins.load(Ordering::SeqCst), 1);
    assert_eq!(out.users_logged_in, 0);
    assert_eq!(
        out.errors,
        ["log in: status 401 Unauthorized, expected 2xx; the user stops"]
    );
    // Nothing after the login: no upload, no submission, no download.
    assert_eq!(app.refused.load(Ordering::SeqCst), 0);
    assert_eq!(app.uploads.load(Ordering::SeqCst), 0);
    assert_eq!(out.submissions_acknowledged, 0);
    assert_eq!(files.served.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_link_off_this_machine_is_an_error_and_not_fetched() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let (_app, url, _files) = spawn_app(Some("https://reports.example.com")).await;
    let s = app_scenario("count = 1", FORM_LOGIN);
    let (out, _) = run(&s, &url).await;

    assert_eq!(out.jobs_completed, 1);
    assert_eq!(out.reports_downloaded, 0);
    for name in ["download pdf_url", "download xlsx_url"] {
        assert!(
            out.errors.iter().any(|e| e.starts_with(name)
                && e.contains("host `reports.example.com` is not this machine")),
            "{name}: {:?}",
            out.errors
        );
    }
}
