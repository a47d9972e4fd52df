//! `[[http.steps]]` against a stub of a form app: a login that needs the
//! CSRF token of its login page (a regex capture), an account id read from
//! a JSON answer after the login (a JSON capture, used in the submission's
//! path), a form page whose token the submission carries, the photos sent
//! with the submission (multipart), the job's URL in `Location`, and a
//! receipt header after the submission (a header capture) that the download
//! needs.

use super::*;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
struct FormApp {
    /// Every request, `METHOD path`, in the order it arrived.
    log: Mutex<Vec<String>>,
    /// CSRF tokens issued, by the cookie they were issued to.
    tokens: Mutex<HashMap<String, String>>,
    issued: AtomicU64,
    jobs: AtomicU64,
    /// Photos received with submissions.
    photos: AtomicU64,
    /// Requests refused (a wrong token, receipt or session).
    refused: AtomicU64,
}

impl FormApp {
    fn saw(&self, what: String) {
        self.log.lock().unwrap().push(what);
    }

    fn refuse(&self, status: StatusCode) -> Response {
        self.refused.fetch_add(1, Ordering::SeqCst);
        status.into_response()
    }

    /// A new token for `cookie`, in a page.
    fn page(&self, cookie: &str) -> String {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok{n}");
        self.tokens
            .lock()
            .unwrap()
            .insert(cookie.to_string(), token.clone());
        format!(r#"<form><input type="hidden" name="csrf_token" value="{token}"></form>"#)
    }

    fn token_ok(&self, cookie: &str, token: &str) -> bool {
        self.tokens.lock().unwrap().get(cookie).map(String::as_str) == Some(token)
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let all = headers.get(header::COOKIE)?.to_str().ok()?;
    all.split(';')
        .find_map(|c| c.trim().strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

async fn login_page(State(app): State<Arc<FormApp>>) -> Response {
    app.saw("GET /login".into());
    let visitor = format!("v{}", app.issued.load(Ordering::SeqCst) + 1);
    let page = app.page(&visitor);
    (
        [(header::SET_COOKIE, format!("visitor={visitor}; Path=/"))],
        page,
    )
        .into_response()
}

async fn login(State(app): State<Arc<FormApp>>, headers: HeaderMap, body: Bytes) -> Response {
    app.saw("POST /login".into());
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let visitor = cookie(&headers, "visitor").unwrap_or_default();
    if !app.token_ok(
        &visitor,
        fields.get("csrf_token").map_or("", String::as_str),
    ) {
        return app.refuse(StatusCode::FORBIDDEN);
    }
    let user = fields.get("user").cloned().unwrap_or_default();
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/inspections/new".to_string()),
            (header::SET_COOKIE, format!("sid={user}; Path=/")),
        ],
    )
        .into_response()
}

async fn me(State(app): State<Arc<FormApp>>, headers: HeaderMap) -> Response {
    app.saw("GET /api/me".into());
    match cookie(&headers, "sid") {
        Some(sid) => Json(json!({"account": {"id": format!("acct-{sid}")}})).into_response(),
        None => app.refuse(StatusCode::UNAUTHORIZED),
    }
}

async fn form_page(State(app): State<Arc<FormApp>>, headers: HeaderMap) -> Response {
    app.saw("GET /inspections/new".into());
    match cookie(&headers, "sid") {
        Some(sid) => app.page(&sid).into_response(),
        None => app.refuse(StatusCode::UNAUTHORIZED),
    }
}

async fn submit(
    State(app): State<Arc<FormApp>>,
    UrlPath(account): UrlPath<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    app.saw(format!("POST /inspections/{account}"));
    let sid = cookie(&headers, "sid").unwrap_or_default();
    let (mut token, mut site, mut photos) = (String::new(), String::new(), 0);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "csrf_token" => token = field.text().await.unwrap_or_default(),
            "site" => site = field.text().await.unwrap_or_default(),
            "photos" if field.file_name().is_some() => {
                let bytes = field.bytes().await;
                photos += u64::from(bytes.is_ok_and(|b| b.starts_with(&[0xff, 0xd8])));
            }
            _ => {}
        }
    }
    if account != format!("acct-{sid}") || !app.token_ok(&sid, &token) || photos != 2 {
        return app.refuse(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert!(site.starts_with("Site "), "{site}");
    app.photos.fetch_add(photos, Ordering::SeqCst);
    let id = app.jobs.fetch_add(1, Ordering::SeqCst) + 1;
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/jobs/{id}"))],
        "queued",
    )
        .into_response()
}

async fn ack(State(app): State<Arc<FormApp>>, UrlPath(id): UrlPath<u64>) -> Response {
    app.saw(format!("POST /jobs/{id}/ack"));
    (StatusCode::CREATED, [("x-receipt", format!("r{id}"))], "").into_response()
}

async fn job(State(app): State<Arc<FormApp>>, UrlPath(id): UrlPath<u64>) -> Json<Value> {
    app.saw(format!("GET /jobs/{id}"));
    Json(json!({"state": "done"}))
}

async fn report(
    State(app): State<Arc<FormApp>>,
    UrlPath(id): UrlPath<u64>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    app.saw(format!("GET /jobs/{id}/report.pdf"));
    if q.get("receipt") != Some(&format!("r{id}")) {
        return app.refuse(StatusCode::FORBIDDEN);
    }
    super::report_body("report.pdf", 2_000).into_response()
}

async fn seen(State(app): State<Arc<FormApp>>, UrlPath(id): UrlPath<u64>) -> StatusCode {
    app.saw(format!("GET /jobs/{id}/seen"));
    StatusCode::NO_CONTENT
}

async fn spawn_form_app() -> (Arc<FormApp>, String) {
    let app = Arc::new(FormApp::default());
    let router = Router::new()
        .route("/login", get(login_page).post(login))
        .route("/api/me", get(me))
        .route("/inspections/new", get(form_page))
        .route("/inspections/{account}", post(submit))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/ack", post(ack))
        .route("/jobs/{id}/report.pdf", get(report))
        .route("/jobs/{id}/seen", get(seen))
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (app, url)
}

/// The form app's flow; `form_page_regex` is the capture of the form page.
fn flow(form_page_regex: &str) -> Scenario {
    let text = format!(
        r#"
name = "form-app"
[users]
count = 1
poll_interval_s = 0.1
job_timeout_s = 10
max_run_time_s = 30
[submission]
photos_per_item = 2
photo_kind = "640x480-60k"
signatures = []
photos = "attached"

[[http.steps]]
at = "before_login"
name = "login page"
path = "/login"
capture = {{ login_csrf = {{ regex = 'name="csrf_token" value="([^"]+)"' }} }}

[[http.steps]]
at = "after_login"
path = "/api/me"
capture = {{ account = {{ json = "/account/id" }} }}

[[http.steps]]
at = "before_submit"
name = "form page"
path = "/inspections/new"
expect_status = 200
capture = {{ csrf = {{ regex = '{form_page_regex}' }} }}

[[http.steps]]
at = "after_submit"
name = "acknowledge"
method = "POST"
path = "/jobs/{{{{job_id}}}}/ack"
json = '''{{"seen_by": "{{{{user}}}}"}}'''
expect_status = 201
capture = {{ receipt = {{ header = "X-Receipt" }} }}

[[http.steps]]
at = "after_download"
name = "mark seen"
path = "/jobs/{{{{job_id}}}}/seen"

[http.login]
path = "/login"
form = {{ user = "u{{{{user}}}}", csrf_token = "{{{{login_csrf}}}}" }}
expect_status = 303

[http]
submit_path = "/inspections/{{{{account}}}}"
upload_field = "photos"
submission_template = '''{{"csrf_token": "{{{{csrf}}}}", "site": "Site {{{{user}}}}", "items": "{{{{items}}}}"}}'''
job_id_header = "Location"
status_pointer = "/state"
done_values = ["done"]
download_paths = ["/jobs/{{{{job_id}}}}/report.pdf?receipt={{{{receipt}}}}"]
"#
    );
    Scenario::parse(Path::new("form-app.toml"), &text).unwrap()
}

const CSRF_REGEX: &str = r#"name="csrf_token" value="([^"]+)""#;

async fn run_flow(s: &Scenario, url: &str) -> LoadOutcome {
    let dir = tempfile::tempdir().unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        run_load(s, target(url, dir.path()), CancellationToken::new()),
    )
    .await
    .expect("the load ends")
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_in_order_and_their_captures_reach_the_later_requests() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let (app, url) = spawn_form_app().await;
    let out = run_flow(&flow(CSRF_REGEX), &url).await;

    assert_eq!(out.errors, Vec::<String>::new());
    assert_eq!(app.refused.load(Ordering::SeqCst), 0);
    assert_eq!(
        *app.log.lock().unwrap(),
        [
            "GET /login",
            "POST /login",
            "GET /api/me",
            "GET /inspections/new",
            "POST /inspections/acct-u1",
            "POST /jobs/1/ack",
            "GET /jobs/1",
            "GET /jobs/1/report.pdf",
            "GET /jobs/1/seen",
        ]
    );
    assert_eq!((out.submissions_acknowledged, out.jobs_completed), (1, 1));
    assert_eq!(out.jobs[0].job_id, "1");
    assert_eq!(
        (out.photos_uploaded, app.photos.load(Ordering::SeqCst)),
        (2, 2)
    );
    assert_eq!(out.reports_downloaded, 1);
    // Each flow step has its own line in the step table, in flow order.
    let labels: Vec<_> = out.steps.iter().map(|t| t.label().to_string()).collect();
    assert_eq!(
        labels,
        [
            "login page",
            "log in",
            "GET /api/me",
            "form page",
            "submit",
            "acknowledge",
            "poll status",
            "download report",
            "mark seen",
        ]
    );
    assert!(out.steps.iter().all(|t| t.failed() == 0), "{:?}", out.steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_capture_does_not_match_fails_the_submission_and_names_the_step() {
    let _one = ONE_LOAD_AT_A_TIME.lock().await;
    let (app, url) = spawn_form_app().await;
    let out = run_flow(&flow(r#"name="token" value="([^"]+)""#), &url).await;

    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert!(
        out.errors[0].starts_with("form page: capture `csrf`: regex")
            && out.errors[0].contains("does not match"),
        "{:?}",
        out.errors
    );
    // Nothing was submitted, but the submission was asked for.
    assert_eq!(out.submissions_acknowledged, 0);
    assert_eq!(out.submissions_attempted, 1);
    assert!(
        !app.log
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("POST /inspections"))
    );
    let form = out.steps.iter().find(|t| t.label() == "form page").unwrap();
    assert_eq!((form.requests, form.failed()), (1, 1));
    assert_eq!(form.first_failure.as_ref().unwrap().status, Some(200));
}
