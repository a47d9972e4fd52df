//! The goose load that a [`Scenario`] describes.
//!
//! Each goose user runs the scenario's iterations; one iteration is one
//! submission's life, in four named transactions:
//! 1. `upload photos`: every photo through the app's upload path,
//!    `upload_parallelism` at once (3, as a browser); skipped when photos are
//!    referenced from the catalogue;
//! 2. `submit`: the submission JSON, rendered from the scenario's templates;
//! 3. `wait for report`: the job's status, every `poll_interval` (1 s),
//!    until a done or failed value, the job's deadline, or a stop; the time
//!    from submission to report ready is recorded as the custom request
//!    `JOB time to report ready`;
//! 4. `download reports`: every download path and every report link the
//!    completed status answer holds (`report_url_pointers`), each streamed
//!    to a byte counter, then the think time.
//!
//! With `[http.login]`, each user first runs the on-start transaction
//! `log in`; its cookies (and the scenario's `[http.headers]`) go with every
//! later request to the app (`session`). A user whose login fails stops.
//!
//! Goose's requests are named `log in`, `upload photo`, `submit`,
//! `poll status`, `download <ext>`, `download <link pointer's last part>`. Goose writes its HTML and JSON reports
//! (`goose-report.html`, `goose-report.json`) into [`LoadTarget::report_dir`].
//!
//! # Notes for the harness (`run_load`'s caller)
//! - **Restarts on a new port.** Set [`LoadTarget::server_url_updates`] to a
//!   `tokio::sync::watch::Receiver<String>` and send the new base URL after a
//!   restart: every request takes the current URL when it is made, and status
//!   URLs and report links the server answered with on one of its own
//!   addresses are re-based onto it (`address`); an absolute URL on another
//!   loopback address is used as is, and one off this machine is refused. Without it,
//!   `server_base_url` is used throughout. Requests that fail while the
//!   server is down are counted in [`LoadOutcome::errors`]; a job keeps being
//!   polled until its `job_timeout_s`, so a job taken up again after the
//!   restart still completes.
//! - **Acknowledged but never completed** = `jobs` with `finished_at_ms ==
//!   None` (or `submissions_acknowledged - jobs_completed - jobs_failed`).
//! - **Cancel.** Cancelling the token stops every transaction at its next
//!   await (in-flight requests are dropped) and triggers goose's killswitch;
//!   `run_load` then returns the outcome so far, with goose's reports. The
//!   whole load also stops at the scenario's `max_run_time_s`.
//! - **Goose is process-wide.** Its killswitch is a global: run one load at a
//!   time per process. `execute()` installs a process-wide Ctrl-C handler
//!   (the `ctrlc` crate; it replaces the SIGINT disposition, so a
//!   `tokio::signal::ctrl_c()` registered earlier may stop seeing Ctrl-C
//!   while the load runs). On the first Ctrl-C goose stops the load (this
//!   module notices and stops its transactions too, and adds an error line
//!   `load stopped by goose: SIGINT received`); on a second Ctrl-C goose calls
//!   `std::process::exit(1)`, so `Drop` guards do not run: put the server
//!   child in its own process group with `PR_SET_PDEATHSIG`, or otherwise
//!   make sure it dies with the harness.
//! - `photo_source` is called on a runtime thread once per photo upload: it
//!   must be cheap (the fake's preloaded photos are; a file of `--photos`
//!   is read from disk, a few milliseconds from the page cache, so that a
//!   large directory is never held in the harness's memory).

mod address;
pub mod lost;
mod record;
mod session;
mod signature;
pub mod tally;
mod user;

use crate::scenario::{RunLength, Scenario, UserStart};
use address::{Destination, Origin};
use anyhow::Context as _;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType as _};
use goose::prelude::*;
use record::Record;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Where the fake (or real) Cloudinary is, for catalogue photo URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloudinaryTarget {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// The cloud name in delivery URLs.
    pub cloud_name: String,
}

impl CloudinaryTarget {
    /// The delivery URL of catalogue photo `public_id`.
    pub fn photo_url(&self, public_id: &str) -> String {
        self.image_url(public_id, "jpg")
    }

    /// The delivery URL of image `public_id` with extension `ext` (the
    /// fake serves a stored file byte for byte under its own extension).
    pub fn image_url(&self, public_id: &str, ext: &str) -> String {
        format!(
            "{}/{}/image/upload/{public_id}.{ext}",
            self.base_url.trim_end_matches('/'),
            self.cloud_name
        )
    }
}

/// The bytes of photo `public_id` (a catalogue JPEG, or a file of the
/// scenario's photo directory as it is), for uploads.
pub type PhotoSourceFn = dyn Fn(&str) -> anyhow::Result<bytes::Bytes> + Send + Sync;

/// What the load runs against.
#[derive(Clone)]
pub struct LoadTarget {
    /// The server's base URL, e.g. `http://127.0.0.1:40111`.
    pub server_base_url: String,
    /// The image host, for catalogue photo URLs.
    pub cloudinary: CloudinaryTarget,
    /// The photos to upload, by catalogue id.
    pub photo_source: Arc<PhotoSourceFn>,
    /// Where goose writes its HTML and JSON reports (created if missing).
    pub report_dir: PathBuf,
    /// The server's current base URL, when it may change during the load (a
    /// restart on a new port); overrides `server_base_url`.
    pub server_url_updates: Option<watch::Receiver<String>>,
    /// When a process of the measured trees last died, and how long a job
    /// acknowledged before waits without any movement before it is lost
    /// (see [`lost`]); `None`: jobs are waited for until their deadline.
    pub deaths: Option<(watch::Receiver<Option<Instant>>, std::time::Duration)>,
}

impl LoadTarget {
    /// A target whose server URL does not change.
    pub fn new(
        server_base_url: impl Into<String>,
        cloudinary: CloudinaryTarget,
        photo_source: Arc<PhotoSourceFn>,
        report_dir: impl Into<PathBuf>,
    ) -> Self {
        LoadTarget {
            server_base_url: server_base_url.into(),
            cloudinary,
            photo_source,
            report_dir: report_dir.into(),
            server_url_updates: None,
            deaths: None,
        }
    }

    /// Calls a job lost when a process died after it was acknowledged and
    /// no job moved for `lost_after` since (see [`lost`]).
    pub fn with_deaths(
        mut self,
        deaths: watch::Receiver<Option<Instant>>,
        lost_after: std::time::Duration,
    ) -> Self {
        self.deaths = Some((deaths, lost_after));
        self
    }

    /// Follows the server's base URL through `updates`.
    pub fn with_server_url_updates(mut self, updates: watch::Receiver<String>) -> Self {
        self.server_url_updates = Some(updates);
        self
    }
}

/// One acknowledged submission's job. Times in ms since the load started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The job id the server answered with.
    pub job_id: String,
    /// When the submission request was sent (ms since the load started).
    pub submitted_at_ms: u64,
    /// When a poll first saw it done or failed (ms since the load started);
    /// `None` if it never was (killed server, timeout, stop).
    pub finished_at_ms: Option<u64>,
    /// The last status seen (`pending`, `processing`, `completed`,
    /// `failed`, ...), or `timed out` / `lost` / `not polled` /
    /// `stopped`.
    pub status: String,
    /// Submission to report ready (ms), for completed jobs only.
    pub time_to_ready_ms: Option<u64>,
}

/// What a load did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadOutcome {
    /// Submissions the server acknowledged with a job id.
    pub submissions_acknowledged: u64,
    /// Jobs seen with a done status.
    pub jobs_completed: u64,
    /// Jobs seen with a failed status, or given up at their deadline.
    pub jobs_failed: u64,
    /// Jobs given up as lost: a process died after they were acknowledged
    /// and nothing moved for `--lost-after` (counted in `jobs_failed` too).
    #[serde(default)]
    pub jobs_lost: u64,
    /// Every acknowledged job, in submission order.
    pub jobs: Vec<JobOutcome>,
    /// Goose's HTML report, when written.
    pub goose_html: Option<PathBuf>,
    /// Goose's JSON report, when written.
    pub goose_json: Option<PathBuf>,
    /// Errors, each `step: message`, repeats counted as ` (xN)`; bounded.
    pub errors: Vec<String>,
    /// Users whose `[http.login]` succeeded.
    #[serde(default)]
    pub users_logged_in: u64,
    /// Reports downloaded to the end (download paths and report links).
    #[serde(default)]
    pub reports_downloaded: u64,
    /// Their bytes (counted as they stream in, never held), in bytes.
    #[serde(default)]
    pub report_bytes_downloaded: u64,
    /// Whether goose's own Ctrl-C handler stopped the load (it takes SIGINT
    /// from the harness while the load runs).
    #[serde(default)]
    pub interrupted: bool,
    /// Users that started.
    #[serde(default)]
    pub users_started: u64,
    /// Submissions the load got as far as (an upload that failed counts:
    /// its submission was asked for and never sent).
    #[serde(default)]
    pub submissions_attempted: u64,
    /// Photos the app took.
    #[serde(default)]
    pub photos_uploaded: u64,
    /// Reports that should have been downloaded.
    #[serde(default)]
    pub reports_expected: u64,
    /// Downloads whose first bytes were not the report's file type.
    #[serde(default)]
    pub reports_wrong_type: u64,
    /// Every step's requests and answers.
    #[serde(default)]
    pub steps: Vec<tally::StepTally>,
    /// Photos the app showed degraded in completed reports (the first 200).
    #[serde(default)]
    pub degraded_photos: Vec<tally::DegradedPhoto>,
    /// All of them.
    #[serde(default)]
    pub degraded_photos_total: u64,
}

/// The server's base URL, fixed or following restarts.
#[derive(Clone)]
enum ServerUrl {
    Fixed(String),
    Watched(watch::Receiver<String>),
}

impl ServerUrl {
    fn current(&self) -> String {
        let url = match self {
            ServerUrl::Fixed(u) => u.clone(),
            ServerUrl::Watched(rx) => rx.borrow().clone(),
        };
        url.trim_end_matches('/').to_string()
    }
}

/// Everything the goose users share.
struct Shared {
    scenario: Scenario,
    server: ServerUrl,
    cloudinary: CloudinaryTarget,
    photo_source: Arc<PhotoSourceFn>,
    signature_png: String,
    started: Instant,
    /// Stops every transaction: the caller's cancel, the load's
    /// `max_run_time`, or goose's own killswitch (Ctrl-C).
    stop: CancellationToken,
    /// Set when goose's Ctrl-C handler stopped the load.
    interrupted: std::sync::atomic::AtomicBool,
    record: Mutex<Record>,
    /// Deaths and progress: when a job is lost.
    lost: lost::LostWatch,
    /// Every address the server has had (`server` changes on a restart): an
    /// absolute URL on one of them is the server's and is re-based. Bounded
    /// by `MAX_ORIGINS`.
    origins: Mutex<Vec<Origin>>,
    /// For the login, the `[[http.steps]]` and the submission: redirects
    /// are not followed, so the answer checked (its status, the cookie it
    /// sets, its `Location`) is the app's own.
    direct_client: reqwest::Client,
    /// For report links: follows redirects only to loopback hosts.
    link_client: reqwest::Client,
}

/// Server addresses remembered; a run restarts its server a few times.
const MAX_ORIGINS: usize = 64;

impl Shared {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        // A panic in another user while holding the lock leaves plain
        // counters behind: still worth reporting.
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ms_since_start(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    /// Counts one request of `step` now (see [`Record::answer`]).
    fn answer(&self, step: tally::Step, answer: tally::Answer, message: &str) {
        let at_s = self.started.elapsed().as_secs_f64();
        self.record().answer(step, answer, message, at_s);
    }

    /// Counts one request of `[[http.steps]]` step `index` (its place in the
    /// file), named `name`, at `at`.
    fn flow_answer(
        &self,
        at: crate::scenario::steps::At,
        index: usize,
        name: &str,
        answer: tally::Answer,
        message: &str,
    ) {
        let at_s = self.started.elapsed().as_secs_f64();
        self.record()
            .flow_answer(at, index, name, answer, message, at_s);
    }

    /// The server's current base URL, remembered as one of its addresses.
    fn base(&self) -> String {
        let base = self.server.current();
        if let Some(origin) = url::Url::parse(&base).ok().as_ref().and_then(Origin::of) {
            let mut origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
            if !origins.contains(&origin) && origins.len() < MAX_ORIGINS {
                origins.push(origin);
            }
        }
        base
    }

    /// A scenario `path` (it starts with `/`) on the server's current base
    /// URL.
    fn url(&self, path: &str) -> String {
        let base = self.base();
        if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    }

    /// Where `link`, a path or URL the app answered with, leads: see
    /// [`address::destination`].
    fn destination(&self, link: &str) -> Result<Destination, String> {
        let base = self.base();
        let origins = self.origins.lock().unwrap_or_else(|p| p.into_inner());
        address::destination(link, &base, &origins)
    }
}

/// Runs `scenario` against `target` until every user is done, `cancel` is
/// cancelled, or the scenario's `max_run_time_s` passes.
pub async fn run_load(
    scenario: &Scenario,
    target: LoadTarget,
    cancel: CancellationToken,
) -> anyhow::Result<LoadOutcome> {
    std::fs::create_dir_all(&target.report_dir).with_context(|| {
        format!(
            "creating the load's report folder {}",
            target.report_dir.display()
        )
    })?;
    let goose_html = target.report_dir.join("goose-report.html");
    let goose_json = target.report_dir.join("goose-report.json");
    let server = match target.server_url_updates {
        Some(rx) => ServerUrl::Watched(rx),
        None => ServerUrl::Fixed(target.server_base_url.clone()),
    };
    let host = server.current();
    url::Url::parse(&host).with_context(|| format!("the server URL `{host}` is not a URL"))?;
    let stop = cancel.child_token();
    let shared = Arc::new(Shared {
        scenario: scenario.clone(),
        server,
        cloudinary: target.cloudinary,
        photo_source: target.photo_source,
        signature_png: signature::signature_data_uri(),
        started: Instant::now(),
        stop: stop.clone(),
        interrupted: std::sync::atomic::AtomicBool::new(false),
        record: Mutex::new(Record::default()),
        lost: match target.deaths {
            Some((rx, after)) => lost::LostWatch::new(Some(rx), after),
            None => lost::LostWatch::new(None, lost::DEFAULT_LOST_AFTER),
        },
        origins: Mutex::new(Vec::new()),
        direct_client: http_client(scenario, reqwest::redirect::Policy::none())?,
        link_client: http_client(scenario, address::loopback_redirects())?,
    });

    let mut config = GooseConfiguration::default();
    config.report_file = vec![
        goose_html.to_string_lossy().into_owned(),
        goose_json.to_string_lossy().into_owned(),
    ];
    let attack = configure(
        GooseAttack::initialize_with_config(config)?,
        scenario,
        &host,
    )?
    .register_scenario(user::goose_scenario(&shared));

    // A killswitch left over from an earlier load in this process would
    // read as a Ctrl-C to the bridge below.
    goose::reset_killswitch();
    let bridge = tokio::spawn(bridge_stop_to_goose(Arc::clone(&shared)));
    // goose prints `N users launched.` on stdout whatever its settings.
    let silenced = crate::silence::unless_goose_output_shown();
    let result = attack.execute().await;
    drop(silenced);
    bridge.abort();
    // Wait for the bridge to be gone: a last pass of it could otherwise
    // trigger the killswitch after this load, and the next load would read
    // it as its own Ctrl-C.
    let _ = bridge.await;
    result.context("running the goose load")?;

    let mut record = shared.record();
    for job in record
        .jobs
        .iter_mut()
        .filter(|j| j.finished_at_ms.is_none())
    {
        // Waited for when the run ended: whatever the app last said.
        if !memstats::JobStatus::harness_word(&job.status) {
            job.status = "stopped".to_string();
        }
    }
    Ok(LoadOutcome {
        submissions_acknowledged: record.submissions_acknowledged,
        jobs_completed: record.jobs_completed,
        jobs_failed: record.jobs_failed,
        jobs_lost: record.jobs_lost,
        jobs: record.jobs.clone(),
        goose_html: goose_html.exists().then_some(goose_html),
        goose_json: goose_json.exists().then_some(goose_json),
        errors: record.error_lines(),
        users_logged_in: record.users_logged_in,
        reports_downloaded: record.reports_downloaded,
        report_bytes_downloaded: record.report_bytes,
        interrupted: shared.interrupted.load(std::sync::atomic::Ordering::SeqCst),
        users_started: record.users_started,
        submissions_attempted: record.submissions_attempted,
        photos_uploaded: record.photos_uploaded,
        reports_expected: record.reports_expected,
        reports_wrong_type: record.reports_wrong_type,
        steps: record.step_tallies(),
        degraded_photos: record.degraded.clone(),
        degraded_photos_total: record.degraded_total,
    })
}

/// The goose settings a scenario implies. Set through `set_default`, as
/// `GooseAttack::initialize()` would parse the process's own arguments.
fn configure(
    attack: GooseAttack,
    scenario: &Scenario,
    host: &str,
) -> Result<GooseAttack, GooseError> {
    let users = &scenario.users;
    let timeout = format!("{}", users_timeout_s(scenario));
    let mut attack = attack
        .set_default(GooseDefault::Host, host)?
        .set_default(GooseDefault::Users, users.count)?
        .set_default(GooseDefault::Timeout, timeout.as_str())?
        // The telnet controller listens on a fixed port: two runs at once
        // would collide, and nothing here drives it.
        .set_default(GooseDefault::NoTelnet, true)?
        // The harness prints its own summary; goose's tables would break
        // the live line.
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        // Goose's own stdout logger (used when the process has no `log`
        // logger) at warnings only.
        .set_default(GooseDefault::Quiet, 1)?;
    attack = match users.start {
        UserStart::HatchRate(rate) => {
            let rate = format!("{rate}");
            attack.set_default(GooseDefault::IncreaseRate, rate.as_str())?
        }
        UserStart::Window(w) => {
            attack.set_default(GooseDefault::IncreaseTime, w.as_secs() as usize)?
        }
    };
    attack = match users.length {
        RunLength::Iterations(n) => attack.set_default(GooseDefault::Iterations, n)?,
        RunLength::RunTime(t) => attack
            .set_default(GooseDefault::RunTime, t.as_secs() as usize)?
            // Keep the requests made while users were starting: the first
            // jobs are part of the memory story.
            .set_default(GooseDefault::NoResetMetrics, true)?,
    };
    Ok(*attack)
}

/// A client of the load's own (goose's users have theirs), with the
/// scenario's request timeout.
fn http_client(
    scenario: &Scenario,
    redirects: reqwest::redirect::Policy,
) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("oomlab/", env!("CARGO_PKG_VERSION")))
        .timeout(scenario.http.request_timeout)
        .redirect(redirects)
        .build()
        .context("building the load's HTTP client")
}

/// Goose's per-request timeout, whole seconds.
fn users_timeout_s(scenario: &Scenario) -> u64 {
    scenario.http.request_timeout.as_secs().max(1)
}

/// Turns a stop (the caller's cancel, or `max_run_time`) into goose's
/// killswitch, and goose's killswitch (its Ctrl-C handler) into a stop.
///
/// The killswitch is re-triggered every 100 ms after a stop: goose clears
/// it when a load starts, so a stop that came just before `execute()` got
/// going would otherwise be lost.
async fn bridge_stop_to_goose(shared: Arc<Shared>) {
    let stop = &shared.stop;
    let max_run_time = shared.scenario.users.max_run_time;
    let deadline = tokio::time::Instant::now() + max_run_time;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    target: "oomlab::load",
                    "the load reached its max_run_time_s ({} s) and is stopped",
                    max_run_time.as_secs()
                );
                stop.cancel();
                break;
            }
        }
        if goose::is_killswitch_triggered() {
            shared
                .record()
                .error("load stopped by goose", "its Ctrl-C handler caught SIGINT");
            shared
                .interrupted
                .store(true, std::sync::atomic::Ordering::SeqCst);
            stop.cancel();
            return;
        }
    }
    // Stopped by us: hold the killswitch until `execute()` ends (this task is
    // aborted then). Every pass awaits the tick, so the abort is prompt.
    loop {
        goose::trigger_killswitch("oomlab stopped the load");
        tick.tick().await;
    }
}

#[cfg(test)]
mod tests;
