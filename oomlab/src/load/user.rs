//! The goose scenario: one iteration is one submission's life, in four
//! named transactions that pass their state on through the user's session
//! data. With `[http.login]`, an on-start transaction `log in` comes first
//! (`login`); downloads are streamed to a byte counter (`download`). The
//! scenario's `[[http.steps]]` run at their points (`steps`): in the
//! on-start transaction around the login, in transactions `before submit`
//! and `after submit` of their own, and at the end of `download reports`.

mod download;
mod login;
mod poll;
mod steps;
mod submit;
mod upload;

use crate::scenario::steps::At;
use poll::wait_for_report;
use submit::submit;
use upload::upload_photos;

use super::address::Destination;
use super::session::UserSession;
use super::tally::{Answer, Step, excerpt};
use super::{JobOutcome, Shared};
use crate::scenario::template::{self, Vars};
use crate::scenario::{PhotoSource, RunLength};
use goose::prelude::*;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The custom request that carries the time from submission to report
/// ready (method `JOB`, so it sorts apart from HTTP requests).
pub const TIME_TO_READY_METHOD: &str = "JOB";
/// Its name.
pub const TIME_TO_READY_NAME: &str = "time to report ready";

/// One iteration's state, kept in the goose user's session data.
#[derive(Debug, Clone)]
struct Iteration {
    /// The goose iteration it belongs to (completed iterations + 1).
    number: usize,
    /// The user's headers and cookies, passed on from iteration to
    /// iteration.
    session: Arc<UserSession>,
    /// The photo URLs to submit, in order.
    photo_urls: Vec<String>,
    /// The acknowledged job.
    job: Option<Job>,
    /// A step failed: the rest of this iteration does nothing.
    broken: bool,
}

#[derive(Debug, Clone)]
struct Job {
    id: String,
    /// Status path or URL, re-based on the current server URL per poll.
    status: String,
    submitted: Instant,
    /// Its index in the shared record's `jobs`.
    index: usize,
    /// Seen done.
    ready: bool,
    /// `(pointer, link)` for each of `report_url_pointers`, from the
    /// answer that said done; `None` where the answer has no link.
    links: Vec<(String, Option<String>)>,
}

/// The goose scenario for `shared.scenario`.
pub(super) fn goose_scenario(shared: &Arc<Shared>) -> Scenario {
    let mut s = Scenario::new(&shared.scenario.name);
    let http = &shared.scenario.http;
    let has_steps = |at| http.steps_at(at).next().is_some();
    if http.login.is_some() || has_steps(At::BeforeLogin) || has_steps(At::AfterLogin) {
        let sh = Arc::clone(shared);
        let f: TransactionFunction = Arc::new(move |u| {
            Box::pin(unless_stopped(
                Arc::clone(&sh),
                login::log_in(u, Arc::clone(&sh)),
            ))
        });
        let name = if http.login.is_some() {
            "log in"
        } else {
            "start"
        };
        s = s.register_transaction(Transaction::new(f).set_name(name).set_on_start());
    }
    let mut seq = 0;
    let mut add = |s: Scenario, name: &str, f: TransactionFunction| {
        seq += 1;
        s.register_transaction(Transaction::new(f).set_name(name).set_sequence(seq))
    };
    if has_steps(At::BeforeSubmit) {
        let sh = Arc::clone(shared);
        s = add(
            s,
            "before submit",
            Arc::new(move |u| {
                Box::pin(unless_stopped(
                    Arc::clone(&sh),
                    before_submit(u, Arc::clone(&sh)),
                ))
            }),
        );
    }
    if shared.scenario.submission.photos == PhotoSource::Upload {
        let sh = Arc::clone(shared);
        s = add(
            s,
            "upload photos",
            Arc::new(move |u| {
                Box::pin(unless_stopped(
                    Arc::clone(&sh),
                    upload_photos(u, Arc::clone(&sh)),
                ))
            }),
        );
    }
    let sh = Arc::clone(shared);
    s = add(
        s,
        "submit",
        Arc::new(move |u| Box::pin(unless_stopped(Arc::clone(&sh), submit(u, Arc::clone(&sh))))),
    );
    if has_steps(At::AfterSubmit) {
        let sh = Arc::clone(shared);
        s = add(
            s,
            "after submit",
            Arc::new(move |u| {
                Box::pin(unless_stopped(
                    Arc::clone(&sh),
                    after_submit(u, Arc::clone(&sh)),
                ))
            }),
        );
    }
    let sh = Arc::clone(shared);
    s = add(
        s,
        "wait for report",
        Arc::new(move |u| {
            Box::pin(unless_stopped(
                Arc::clone(&sh),
                wait_for_report(u, Arc::clone(&sh)),
            ))
        }),
    );
    let sh = Arc::clone(shared);
    add(
        s,
        "download reports",
        Arc::new(move |u| {
            Box::pin(unless_stopped(
                Arc::clone(&sh),
                download_reports(u, Arc::clone(&sh)),
            ))
        }),
    )
}

/// The `before submit` transaction: the steps at `before_submit`, before
/// the submission's uploads and the submission itself. A failure skips the
/// submission (asked for, never sent).
async fn before_submit(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it = iteration(user, &shared);
    let mut result = Ok(());
    if !it.broken {
        result = steps::run_steps(user, &shared, &mut it, At::BeforeSubmit, None).await;
        if result.is_err() {
            shared.record().submissions_attempted += 1;
        }
    }
    user.set_session_data(it);
    result
}

/// The `after submit` transaction: the steps at `after_submit`, with the
/// acknowledged job's `{{job_id}}`.
async fn after_submit(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it = iteration(user, &shared);
    let mut result = Ok(());
    if let Some(job) = it.job.clone().filter(|_| !it.broken) {
        result = steps::run_steps(user, &shared, &mut it, At::AfterSubmit, Some(&job.id)).await;
    }
    user.set_session_data(it);
    result
}

/// The variables of a template that runs once job `job_id` is known: the
/// user, the iteration, the job and the captured values.
fn job_vars(it: &Iteration, user_number: usize, job_id: &str) -> Vars {
    submit::submission_vars(it, user_number).with("job_id", job_id)
}

/// Runs `step` until it ends or the load is stopped; a stopped step drops
/// its in-flight request and ends at once.
async fn unless_stopped(
    shared: Arc<Shared>,
    step: impl Future<Output = TransactionResult>,
) -> TransactionResult {
    tokio::select! {
        r = step => r,
        _ = shared.stop.cancelled() => Ok(()),
    }
}

/// This iteration's state: the session's, or a fresh one when the session
/// holds an earlier iteration's (or none yet). A stopped user's iterations
/// start broken, so they do nothing.
fn iteration(user: &GooseUser, shared: &Shared) -> Iteration {
    let number = user.get_iterations() + 1;
    let session = match user.get_session_data::<Iteration>() {
        Some(it) if it.number == number => return it.clone(),
        Some(it) => Arc::clone(&it.session),
        None => {
            shared.record().users_started += 1;
            Arc::new(UserSession::new(
                &shared.scenario.http,
                user.weighted_users_index + 1,
            ))
        }
    };
    Iteration {
        number,
        broken: session.stopped(),
        session,
        photo_urls: Vec::new(),
        job: None,
    }
}

fn failed(shared: &Shared, it: &mut Iteration, step: &str, message: &str) -> Box<TransactionError> {
    it.broken = true;
    shared.record().error(step, message);
    Box::new(TransactionError::Custom(format!("{step}: {message}")))
}

/// A request error without its URL (the step names what was requested, and
/// a URL with the port of a restarted server would split the counts), with
/// its causes: `error sending request: ...: Connection refused (os error 111)`.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads `pointer` of `answer` as text (a string or a number).
fn text_at(answer: &Value, pointer: &str) -> Option<String> {
    match answer.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// --------------------------------------------------------- wait for report

// -------------------------------------------------------- download reports

/// `download pdf` for `/api/jobs/{{job_id}}/report.pdf`.
fn download_name(path: &str, n: usize) -> String {
    match path.rsplit('/').next().and_then(|f| f.rsplit_once('.')) {
        Some((_, ext)) if !ext.is_empty() && !ext.contains('}') => format!("download {ext}"),
        _ => format!("download report {}", n + 1),
    }
}

async fn download_reports(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it = iteration(user, &shared);
    let mut result = Ok(());
    let ready = it.job.as_ref().filter(|j| j.ready && !it.broken).cloned();
    if let (Some(job), true) = (ready, shared.scenario.submission.download_reports) {
        shared.record().reports_expected +=
            (shared.scenario.http.download_paths.len() + job.links.len()) as u64;
        for (n, path) in shared.scenario.http.download_paths.iter().enumerate() {
            let name = download_name(path, n);
            let vars = job_vars(&it, user.weighted_users_index + 1, &job.id);
            let path = template::render_text(path, &vars)
                .map_err(|e| failed(&shared, &mut it, &name, &e.to_string()))?;
            let request = GooseRequest::builder()
                .name(name.as_str())
                .set_request_builder(it.session.apply(user.client.get(shared.url(&path))))
                .build();
            let goose = user.request(request).await?;
            let error = match goose.response {
                Err(e) => {
                    let e = describe(e);
                    shared.answer(Step::DownloadReport, Answer::NoAnswer, &e);
                    Some(e)
                }
                Ok(r) if !r.status().is_success() => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    let e = format!("status {status}: {}", excerpt(&body));
                    shared.answer(Step::DownloadReport, Answer::Refused(status.as_u16()), &e);
                    Some(e)
                }
                Ok(r) => {
                    it.session.keep_cookies(r.headers());
                    download::count_to_end(&shared, r, &path).await.err()
                }
            };
            if let Some(e) = error {
                result = Err(failed(&shared, &mut it, &name, &e));
            }
        }
        for (n, (pointer, link)) in job.links.iter().enumerate() {
            let name = download::link_name(pointer, n);
            let started = Instant::now();
            let (status, r) = match link {
                None => {
                    let e = format!("no report link at `{pointer}` in the completed status answer");
                    shared.answer(Step::DownloadReport, Answer::NoAnswer, &e);
                    (None, Err(e))
                }
                Some(link) => download::fetch_link(&shared, &it.session, link).await,
            };
            let error = r.as_ref().err().map(String::as_str);
            user.record_custom_request_duration(
                "GET",
                &name,
                started.elapsed(),
                r.is_ok(),
                status,
                error,
            )
            .await?;
            if let Err(e) = r {
                result = Err(failed(&shared, &mut it, &name, &e));
            }
        }
    }
    let done = it.job.as_ref().filter(|j| j.ready && !it.broken).cloned();
    if let (Some(job), true) = (done, result.is_ok()) {
        result = steps::run_steps(user, &shared, &mut it, At::AfterDownload, Some(&job.id)).await;
    }
    think(&shared, user.weighted_users_index + 1, it.number).await;
    if it.session.stopped() && matches!(shared.scenario.users.length, RunLength::RunTime(_)) {
        // A stopped user's iterations do nothing; until the run time is up,
        // pause between them rather than spin.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    user.set_session_data(it);
    result
}

/// The think time before the user's next submission: a pause in
/// `[think_time_s, think_time_max_s]`, spread by a hash of user and
/// iteration, so two runs of a scenario pause alike.
async fn think(shared: &Shared, user_number: usize, iteration: usize) {
    let users = &shared.scenario.users;
    let (min, max) = (users.think_time_min, users.think_time_max);
    if max.is_zero() {
        return;
    }
    let spread = max.saturating_sub(min).as_secs_f64();
    let pause = min + Duration::from_secs_f64(spread * unit_fraction(user_number, iteration));
    tokio::time::sleep(pause).await;
}

/// A fraction in `[0, 1)` from `(a, b)` (splitmix64's finaliser).
fn unit_fraction(a: usize, b: usize) -> f64 {
    let mut z = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_add(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
