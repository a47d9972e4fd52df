//! Scenario files (`scenarios/*.toml`): who submits what, how fast, and the
//! HTTP shape of the app they submit to.
//!
//! A file has three tables: `[users]` (how many, how fast they start, how
//! long they run, think time, polling), `[submission]` (items, photos, photo
//! kind, signatures, upload or reference), and an optional `[http]` that
//! describes the app's API. Every `[http]` key defaults to the reference
//! server's shape, so shipped scenarios leave it out. The format is
//! documented for users in `oomlab/SCENARIOS.md`.
//!
//! Loading is two steps: serde parses the file into `Raw*` structs (unknown
//! keys and wrong types are refused by the parser, which names key and
//! line), then [`Scenario::load`] checks values that parse but cannot run
//! (zero users, a start window with a rate, a template that names an unknown
//! placeholder) and turns them into a typed [`Scenario`], naming file, key
//! and fix in every [`ConfigError`].
//!
//! # Layout
//! - `check`: the `Raw*` structs serde reads and the checks that turn them
//!   into a [`Scenario`].
//!   `check/access` checks `[http.login]` and `[http.headers]`.
//!   `check/steps` checks `[[http.steps]]`.
//! - [`template`]: JSON templates with `{{name}}` placeholders.
//! - [`steps`]: `[[http.steps]]`, extra requests at named points of a
//!   user's flow, and the values captured from their answers.
//! - [`photos`]: a directory of the user's own photos (`photo_dir`,
//!   `--photos`).
//! - [`thresholds`]: `[thresholds]`, what the load must achieve to count
//!   as done.

mod check;
pub mod photos;
pub mod steps;
pub mod template;
pub mod thresholds;

use crate::error::ConfigError;
use photos::{PhotoDir, PhotoFormat, PhotoOrigin, PhotoSourceKind, UsedPhoto};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use template::{TemplateError, Vars};

/// The most photos the modelled app accepts in one item.
pub const MAX_PHOTOS_PER_ITEM: u64 = 100;
/// Bounds that keep a typo (`count = 10000`) from starting an unbounded load.
const MAX_USERS: u64 = 1_000;
const MAX_ITERATIONS: u64 = 10_000;
const MAX_RUN_TIME_S: f64 = 24.0 * 3600.0;

/// A loaded, checked scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// The scenario's name (the `name` key, or the file's stem).
    pub name: String,
    /// What the scenario models, from `description`.
    pub description: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// Who runs and for how long.
    pub users: Users,
    /// What each user submits.
    pub submission: Submission,
    /// The app's HTTP shape.
    pub http: HttpShape,
    /// What the load must achieve to count as done (`[thresholds]`).
    pub thresholds: thresholds::Thresholds,
}

/// How many users, how they start, how long they run.
#[derive(Debug, Clone, Serialize)]
pub struct Users {
    /// Users at once.
    pub count: usize,
    /// How fast they start.
    pub start: UserStart,
    /// How long each runs.
    pub length: RunLength,
    /// Pause between one submission's end and the next one's start, at
    /// least (seconds).
    pub think_time_min: Duration,
    /// At most (seconds); a random pause in `[min, max]` is taken.
    pub think_time_max: Duration,
    /// Time between two status polls of a job.
    pub poll_interval: Duration,
    /// A job not done this long after its submission is given up.
    pub job_timeout: Duration,
    /// The whole load stops after this long, whatever else says.
    pub max_run_time: Duration,
}

/// How users start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum UserStart {
    /// Users started per second.
    HatchRate(f64),
    /// All users started evenly within this window (whole seconds).
    Window(Duration),
}

/// How long each user runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunLength {
    /// This many submissions per user, then it stops.
    Iterations(usize),
    /// Submit again and again for this long after all users started.
    RunTime(Duration),
}

/// Where a submission's photos come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoSource {
    /// Uploaded through the app first (as a browser does), then referenced
    /// by the URL the app answers with.
    Upload,
    /// Referenced by their Cloudinary delivery URL, no upload.
    Catalogue,
    /// Sent as files of the submission itself: the submission is a
    /// multipart form (its template's top-level keys as fields, each photo
    /// a file part named `http.upload_field`).
    Attached,
}

/// How the submission's body is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmitAs {
    /// The rendered template as JSON (the default without attached photos).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`: the template's top-level keys
    /// as fields (a list or object as JSON text), as an HTML form without
    /// files sends it.
    Form,
    /// `multipart/form-data`: the same fields as parts, and with
    /// `photos = "attached"` (which needs it) every photo as a file part.
    Multipart,
}

impl SubmitAs {
    /// As a scenario writes it.
    pub fn name(self) -> &'static str {
        match self {
            SubmitAs::Json => "json",
            SubmitAs::Form => "form",
            SubmitAs::Multipart => "multipart",
        }
    }
}

/// What each submission holds.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    /// Items per submission.
    pub items: usize,
    /// Photos per item.
    pub photos_per_item: usize,
    /// The photo kind in the fake Cloudinary's catalogue (`phone`,
    /// `camera`, `small`, or `{w}x{h}-{kb}k`); not used when `photo_dir`
    /// is set.
    pub photo_kind: String,
    /// The user's own photos (`photo_dir` or `--photos`), used instead of
    /// the catalogue's.
    pub photo_dir: Option<PhotoDir>,
    /// Different photos used; photo `k` of a submission is number
    /// `k % distinct_photos + 1` (with `photo_dir`: file
    /// `(k % distinct_photos) % files`).
    pub distinct_photos: usize,
    /// The signature roles, one signature each.
    pub signatures: Vec<String>,
    /// Upload the photos or reference them.
    pub photos: PhotoSource,
    /// Uploads in flight per user.
    pub upload_parallelism: usize,
    /// Download every report once the job is done.
    pub download_reports: bool,
}

impl Submission {
    /// Photos in one submission.
    pub fn photos_per_submission(&self) -> usize {
        self.items * self.photos_per_item
    }

    /// The public id of photo `k` (0-based) of a submission: a catalogue
    /// id, or the fake's id of a file of `photo_dir`.
    pub fn photo_id(&self, k: usize) -> String {
        match &self.photo_dir {
            Some(dir) => dir.file(k % self.distinct_photos).public_id.clone(),
            None => format!(
                "oomlab/{}-{}",
                self.photo_kind,
                k % self.distinct_photos + 1
            ),
        }
    }

    /// How a message names photo `k`: its file's name in the photo
    /// directory, or its catalogue id.
    pub fn photo_label(&self, k: usize) -> String {
        match &self.photo_dir {
            Some(dir) => format!("`{}`", dir.file(k % self.distinct_photos).name),
            None => self.photo_id(k),
        }
    }

    /// The encoding of photo `k` (catalogue photos are JPEGs).
    pub fn photo_format(&self, k: usize) -> PhotoFormat {
        match &self.photo_dir {
            Some(dir) => dir.file(k % self.distinct_photos).format,
            None => PhotoFormat::Jpeg,
        }
    }

    /// Where the photos come from, as `run.json` records it.
    pub fn photo_origin(&self) -> PhotoOrigin {
        match &self.photo_dir {
            Some(dir) => {
                let used = self
                    .distinct_photos
                    .min(self.photos_per_submission())
                    .min(dir.files.len());
                PhotoOrigin {
                    source: PhotoSourceKind::Directory,
                    kind: None,
                    dir: Some(dir.dir.clone()),
                    files: dir.files[..used]
                        .iter()
                        .map(|f| UsedPhoto {
                            name: f.name.clone(),
                            format: f.format,
                            bytes: f.bytes,
                        })
                        .collect(),
                }
            }
            None => PhotoOrigin {
                source: PhotoSourceKind::Catalogue,
                kind: Some(self.photo_kind.clone()),
                dir: None,
                files: Vec::new(),
            },
        }
    }
}

/// The app's HTTP API, as the load drives it. Paths are relative to the
/// server's base URL and may hold `{{job_id}}`.
#[derive(Debug, Clone, Serialize)]
pub struct HttpShape {
    /// Photo upload: `POST` multipart.
    pub upload_path: String,
    /// The multipart field that holds the photo.
    pub upload_field: String,
    /// JSON pointer to the stored photo's URL in the upload answer.
    pub upload_url_pointer: String,
    /// Submission: `POST` JSON.
    pub submit_path: String,
    /// How the submission's body is sent (`http.submit_as`).
    pub submit_as: SubmitAs,
    /// Headers of the submission request only (`[http.submit_headers]`),
    /// templates: a CSRF token captured by a step, sent as a header.
    pub submit_headers: Vec<Header>,
    /// Headers of each photo upload only (`[http.upload_headers]`),
    /// templates.
    pub upload_headers: Vec<Header>,
    /// The submission body; placeholders `{{items}}`, `{{signatures}}`,
    /// `{{user}}`, `{{iteration}}`, `{{date}}`, `{{photo_count}}`.
    pub submission_template: Value,
    /// One item; placeholders `{{item_number}}`, `{{photo_urls}}`,
    /// `{{photo_count}}`, `{{user}}`, `{{iteration}}`, `{{date}}`.
    pub item_template: Value,
    /// One signature; placeholders `{{role}}`, `{{signature_png}}` (a
    /// `data:image/png;base64,` URI), `{{user}}`, `{{iteration}}`.
    pub signature_template: Value,
    /// JSON pointer to the job id in the submission answer.
    pub job_id_pointer: String,
    /// Or: the answer header whose value holds the job id as its last path
    /// segment (`Location: /jobs/42` gives `42`); without `status_path` or
    /// `status_url_pointer`, the header's value is the status URL.
    pub job_id_header: Option<String>,
    /// JSON pointer to the status URL in the submission answer; used when
    /// `status_path` is not set.
    pub status_url_pointer: Option<String>,
    /// The status path (with `{{job_id}}`); overrides `status_url_pointer`.
    pub status_path: Option<String>,
    /// JSON pointer to the status in a status answer.
    pub status_pointer: String,
    /// JSON pointer to an error message in a status answer.
    pub error_pointer: Option<String>,
    /// Status values that mean the report is ready.
    pub done_values: Vec<String>,
    /// Status values that mean the job failed.
    pub failed_values: Vec<String>,
    /// Report downloads, `GET`, each with `{{job_id}}`.
    pub download_paths: Vec<String>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Logs each user in once, before its first submission (`[http.login]`).
    pub login: Option<Login>,
    /// Extra headers on every request to the app (`[http.headers]`), in
    /// name order; values may hold `{{user}}`.
    pub headers: Vec<Header>,
    /// JSON pointers to report links (absolute URLs) in the completed status
    /// answer; each link is downloaded, next to `download_paths`.
    pub report_url_pointers: Vec<String>,
    /// JSON pointer to the photos the app shows degraded (a list) in the
    /// completed status answer; each entry is counted, with its `reason`
    /// when it has one. `None` (an empty string in the file): the app does
    /// not say.
    pub degraded_photos_pointer: Option<String>,
    /// Extra requests at named points of each user's flow
    /// (`[[http.steps]]`), in file order.
    pub steps: Vec<steps::FlowStep>,
}

impl HttpShape {
    /// The steps at `at`, in file order.
    pub fn steps_at(&self, at: steps::At) -> impl Iterator<Item = (usize, &steps::FlowStep)> {
        self.steps
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.at == at)
    }
}

/// A user's login request. Its answer's `Set-Cookie` headers are kept per
/// user and sent on every later request to the app.
#[derive(Debug, Clone, Serialize)]
pub struct Login {
    /// The login path (may hold `{{user}}`).
    pub path: String,
    /// The HTTP method: `POST`, `PUT`, `PATCH` or `GET`.
    pub method: String,
    /// The body.
    pub body: LoginBody,
    /// The statuses that mean the login worked; empty: any 2xx. Redirects
    /// are not followed, so a login answering `302` needs `302` here.
    pub expect_status: Vec<u16>,
    /// Headers of the login request only, templates (a token captured by a
    /// `before_login` step).
    pub headers: Vec<Header>,
}

/// The body of the login request.
#[derive(Debug, Clone, Serialize)]
pub enum LoginBody {
    /// No body.
    Empty,
    /// Form fields (`application/x-www-form-urlencoded`), values may hold
    /// `{{user}}`.
    Form(Vec<(String, String)>),
    /// A JSON template with `{{user}}`.
    Json(Value),
}

/// One extra header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The header's name, as written.
    pub name: String,
    /// Its value, a template: `{{user}}` in `[http.headers]`; in a
    /// request's own headers, whatever its body knows (captured names).
    pub value: String,
}

/// The reference server's submission body.
pub const DEFAULT_SUBMISSION_TEMPLATE: &str = r#"{
  "site": {
    "name": "Load test site {{user}}-{{iteration}}",
    "address": "1 Test Street, Testville",
    "client": "oomlab",
    "inspector": "Inspector {{user}}",
    "date": "{{date}}"
  },
  "items": "{{items}}",
  "signatures": "{{signatures}}"
}"#;

/// The reference server's item.
pub const DEFAULT_ITEM_TEMPLATE: &str = r#"{
  "asset": "Asset {{item_number}}",
  "system": "HVAC",
  "description": "Inspected item {{item_number}} with {{photo_count}} photos",
  "quantity": 1,
  "brand": "Acme",
  "specification": "Spec {{item_number}}",
  "comments": "Generated by oomlab",
  "photo_urls": "{{photo_urls}}"
}"#;

/// The reference server's signature.
pub const DEFAULT_SIGNATURE_TEMPLATE: &str = r#"{
  "role": "{{role}}",
  "name": "Signer {{user}} ({{role}})",
  "image": "{{signature_png}}"
}"#;

// ---------------------------------------------------------------- loading

impl Scenario {
    /// Reads and checks the scenario file at `path`.
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks scenario `text`; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ConfigError> {
        let raw: check::RawScenario =
            toml::from_str(text).map_err(|e| ConfigError::toml(path, e))?;
        check::Checker { path }.scenario(raw)
    }

    /// The public ids the fake Cloudinary must hold for this scenario, in
    /// order (each once).
    pub fn photo_ids(&self) -> Vec<String> {
        let mut n = self
            .submission
            .distinct_photos
            .min(self.submission.photos_per_submission());
        if let Some(dir) = &self.submission.photo_dir {
            n = n.min(dir.files.len());
        }
        (0..n).map(|k| self.submission.photo_id(k)).collect()
    }

    /// This scenario with its photos drawn from `dir` (`--photos`), whatever
    /// its file says.
    pub fn with_photo_dir(mut self, dir: PhotoDir) -> Scenario {
        self.submission.photo_dir = Some(dir);
        self
    }
}

#[cfg(test)]
mod tests;
