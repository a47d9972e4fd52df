//! From the file to a checked [`Scenario`]: serde reads the `Raw*` structs
//! (unknown keys and wrong types refused by the parser, which names key and
//! line), then [`Checker`] refuses values that parse but cannot run.

mod access;
mod http;
mod photo_dir;
mod steps;
mod thresholds;

use super::*;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- raw file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    users: RawUsers,
    submission: RawSubmission,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    thresholds: thresholds::RawThresholds,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsers {
    count: u64,
    hatch_rate: Option<f64>,
    start_window_s: Option<f64>,
    iterations: Option<u64>,
    run_time_s: Option<f64>,
    think_time_s: Option<f64>,
    think_time_max_s: Option<f64>,
    poll_interval_s: Option<f64>,
    job_timeout_s: Option<f64>,
    max_run_time_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSubmission {
    items: Option<u64>,
    photos_per_item: u64,
    photo_kind: Option<String>,
    photo_dir: Option<PathBuf>,
    distinct_photos: Option<u64>,
    signatures: Option<Vec<String>>,
    photos: Option<PhotoSource>,
    upload_parallelism: Option<u64>,
    download_reports: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    upload_path: Option<String>,
    upload_field: Option<String>,
    upload_url_pointer: Option<String>,
    submit_path: Option<String>,
    submit_as: Option<SubmitAs>,
    submit_headers: Option<BTreeMap<String, String>>,
    upload_headers: Option<BTreeMap<String, String>>,
    submission_template: Option<String>,
    item_template: Option<String>,
    signature_template: Option<String>,
    job_id_pointer: Option<String>,
    status_url_pointer: Option<String>,
    status_path: Option<String>,
    status_pointer: Option<String>,
    error_pointer: Option<String>,
    done_values: Option<Vec<String>>,
    failed_values: Option<Vec<String>>,
    download_paths: Option<Vec<String>>,
    request_timeout_s: Option<f64>,
    login: Option<RawLogin>,
    headers: Option<BTreeMap<String, String>>,
    report_url_pointers: Option<Vec<String>>,
    degraded_photos_pointer: Option<String>,
    job_id_header: Option<String>,
    steps: Option<Vec<steps::RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogin {
    path: String,
    method: Option<String>,
    form: Option<BTreeMap<String, toml::Value>>,
    json: Option<String>,
    expect_status: Option<toml::Value>,
    headers: Option<BTreeMap<String, String>>,
}

/// Turns raw values into checked ones, with errors that name `path`.
pub(super) struct Checker<'a> {
    pub(super) path: &'a Path,
}

impl Checker<'_> {
    fn invalid(
        &self,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(self.path, key, message, fix)
    }

    pub(super) fn scenario(&self, raw: RawScenario) -> Result<Scenario, ConfigError> {
        let name = match raw.name {
            Some(n) if n.trim().is_empty() => {
                return Err(self.invalid(
                    "name",
                    "is empty",
                    "give the scenario a name, e.g. name = \"two-reports\", or leave the key out to use the file name",
                ));
            }
            Some(n) => n,
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".to_string()),
        };
        let users = self.users(raw.users)?;
        let submission = self.submission(raw.submission)?;
        let raw_submit_as = raw.http.submit_as;
        let attached = submission.photos == PhotoSource::Attached;
        let mut http = self.http(raw.http)?;
        http.submit_as = match (raw_submit_as, attached) {
            (None, true) => SubmitAs::Multipart,
            (None, false) => SubmitAs::Json,
            (Some(SubmitAs::Multipart), _) => SubmitAs::Multipart,
            (Some(other), true) => {
                return Err(self.invalid(
                    "http.submit_as",
                    format!(
                        "is \"{}\", but photos = \"attached\" sends the photos as parts of a multipart form",
                        other.name()
                    ),
                    "use submit_as = \"multipart\" or leave the key out",
                ));
            }
            (Some(other), false) => other,
        };
        if http.submit_as != SubmitAs::Json && !http.submission_template.is_object() {
            let why = if attached {
                "photos = \"attached\" sends the submission as a multipart form".to_string()
            } else {
                format!(
                    "submit_as = \"{}\" sends the submission as a form",
                    http.submit_as.name()
                )
            };
            return Err(self.invalid(
                "http.submission_template",
                format!("is not a JSON object, but {why} whose fields are the template's top-level keys"),
                "make the template an object, e.g. '''{\"site\": \"Site {{user}}\", \"items\": \"{{items}}\"}''' (a list or object value is sent as JSON text)",
            ));
        }
        let thresholds = self.thresholds(raw.thresholds)?;
        Ok(Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            path: self.path.to_path_buf(),
            users,
            submission,
            http,
            thresholds,
        })
    }

    /// A duration in seconds: finite, not negative, at most `max_s`.
    fn seconds(&self, key: &str, v: f64, min_s: f64, max_s: f64) -> Result<Duration, ConfigError> {
        if !v.is_finite() || v < min_s || v > max_s {
            return Err(self.invalid(
                key,
                format!("{v} seconds is out of range"),
                format!("use a number of seconds from {min_s} to {max_s}"),
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }

    fn users(&self, raw: RawUsers) -> Result<Users, ConfigError> {
        if raw.count == 0 || raw.count > MAX_USERS {
            return Err(self.invalid(
                "users.count",
                format!("{} users cannot run", raw.count),
                format!("use 1 to {MAX_USERS} users, e.g. count = 2"),
            ));
        }
        let count = raw.count as usize;
        let start = match (raw.hatch_rate, raw.start_window_s) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "users.start_window_s",
                    "is given together with users.hatch_rate",
                    "keep one of them: hatch_rate (users per second) or start_window_s (start all users within this time)",
                ));
            }
            (Some(rate), None) => {
                if !rate.is_finite() || !(1.0 / 86_400.0..=1_000.0).contains(&rate) {
                    return Err(self.invalid(
                        "users.hatch_rate",
                        format!("{rate} users per second is out of range"),
                        "use a rate from 0.001 to 1000 users per second, e.g. hatch_rate = 1.0",
                    ));
                }
                UserStart::HatchRate(rate)
            }
            (None, Some(w)) => {
                let window = self.seconds("users.start_window_s", w, 0.0, 3_600.0)?;
                if count < 2 || w < 1.0 {
                    // Goose spreads users over a window only for 2 or more
                    // users and whole seconds; otherwise all start at once.
                    UserStart::HatchRate(1_000.0)
                } else {
                    UserStart::Window(Duration::from_secs(window.as_secs_f64().round() as u64))
                }
            }
            // Default: everyone at once, as the scenarios of "N reports at
            // once" need.
            (None, None) => UserStart::HatchRate(1_000.0),
        };
        let length = match (raw.iterations, raw.run_time_s) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "users.run_time_s",
                    "is given together with users.iterations",
                    "keep one of them: iterations (submissions per user) or run_time_s (submit for this long)",
                ));
            }
            (Some(n), None) => {
                if n == 0 || n > MAX_ITERATIONS {
                    return Err(self.invalid(
                        "users.iterations",
                        format!("{n} submissions per user cannot run"),
                        format!("use 1 to {MAX_ITERATIONS}, e.g. iterations = 1"),
                    ));
                }
                RunLength::Iterations(n as usize)
            }
            (None, Some(t)) => {
                let d = self.seconds("users.run_time_s", t, 1.0, MAX_RUN_TIME_S)?;
                RunLength::RunTime(Duration::from_secs(d.as_secs_f64().ceil() as u64))
            }
            (None, None) => RunLength::Iterations(1),
        };
        let think_min = self.seconds(
            "users.think_time_s",
            raw.think_time_s.unwrap_or(0.0),
            0.0,
            3_600.0,
        )?;
        let think_max = match raw.think_time_max_s {
            None => think_min,
            Some(m) => {
                let d = self.seconds("users.think_time_max_s", m, 0.0, 3_600.0)?;
                if d < think_min {
                    return Err(self.invalid(
                        "users.think_time_max_s",
                        format!("{m} is below users.think_time_s ({})", think_min.as_secs_f64()),
                        "make think_time_max_s at least think_time_s, or leave it out for a fixed think time",
                    ));
                }
                d
            }
        };
        let poll_interval = self.seconds(
            "users.poll_interval_s",
            raw.poll_interval_s.unwrap_or(1.0),
            0.05,
            60.0,
        )?;
        let job_timeout = self.seconds(
            "users.job_timeout_s",
            raw.job_timeout_s.unwrap_or(600.0),
            1.0,
            MAX_RUN_TIME_S,
        )?;
        let max_run_time = self.seconds(
            "users.max_run_time_s",
            raw.max_run_time_s.unwrap_or(3_600.0),
            1.0,
            MAX_RUN_TIME_S,
        )?;
        if let RunLength::RunTime(t) = length
            && t > max_run_time
        {
            return Err(self.invalid(
                "users.run_time_s",
                format!(
                    "{} s is longer than users.max_run_time_s ({} s), which stops every load",
                    t.as_secs(),
                    max_run_time.as_secs_f64()
                ),
                "shorten run_time_s or raise max_run_time_s",
            ));
        }
        Ok(Users {
            count,
            start,
            length,
            think_time_min: think_min,
            think_time_max: think_max,
            poll_interval,
            job_timeout,
            max_run_time,
        })
    }

    fn submission(&self, raw: RawSubmission) -> Result<Submission, ConfigError> {
        let items = raw.items.unwrap_or(1);
        if items == 0 || items > 1_000 {
            return Err(self.invalid(
                "submission.items",
                format!("{items} items per submission"),
                "use 1 to 1000 items, e.g. items = 1",
            ));
        }
        if raw.photos_per_item > MAX_PHOTOS_PER_ITEM {
            return Err(self.invalid(
                "submission.photos_per_item",
                format!(
                    "{} photos is above the modelled app's limit of {MAX_PHOTOS_PER_ITEM} per item",
                    raw.photos_per_item
                ),
                "spread the photos over more items (submission.items)",
            ));
        }
        let photo_dir = raw.photo_dir.map(|dir| self.photo_dir(&dir)).transpose()?;
        let photo_kind = match (raw.photo_kind, &photo_dir) {
            (Some(kind), _) => kind,
            // Only a name in reports: the directory's files are used.
            (None, Some(_)) => "directory".to_string(),
            (None, None) => {
                return Err(self.invalid(
                    "submission.photo_kind",
                    "is missing",
                    "name a catalogue kind, e.g. photo_kind = \"camera\", or your photos with photo_dir = \"DIR\"",
                ));
            }
        };
        if photo_dir.is_none() {
            check_photo_kind(&photo_kind).map_err(|why| {
                self.invalid(
                    "submission.photo_kind",
                    format!("`{photo_kind}` {why}"),
                    "use \"phone\" (2160x3840, ~0.7 MB), \"camera\" (4000x3000, ~3 MB), \"small\" (1280x960, ~0.25 MB), \"progressive\", \"progressive422\", \"portrait\", \"gray\", \"cmyk\", \"mixed\" or a custom \"{w}x{h}-{kb}k\" such as \"640x480-60k\" (flags after it: -progressive, -422, -exif6, ...)",
                )
            })?;
        }
        let per_submission = items * raw.photos_per_item;
        let distinct = raw.distinct_photos.unwrap_or(per_submission.max(1));
        if distinct == 0 || distinct > 1_000 {
            return Err(self.invalid(
                "submission.distinct_photos",
                format!("{distinct} different photos"),
                "use 1 to 1000; photos repeat when a submission has more",
            ));
        }
        let signatures = raw
            .signatures
            .unwrap_or_else(|| vec!["inspector".to_string(), "client".to_string()]);
        if signatures.len() > 20 || signatures.iter().any(|r| r.trim().is_empty()) {
            return Err(self.invalid(
                "submission.signatures",
                "needs at most 20 non-empty roles",
                "list the signers' roles, e.g. signatures = [\"inspector\", \"client\"], or [] for none",
            ));
        }
        let upload_parallelism = raw.upload_parallelism.unwrap_or(3);
        if upload_parallelism == 0 || upload_parallelism > 64 {
            return Err(self.invalid(
                "submission.upload_parallelism",
                format!("{upload_parallelism} uploads at once"),
                "use 1 to 64; a browser uploads 3 at once",
            ));
        }
        Ok(Submission {
            items: items as usize,
            photos_per_item: raw.photos_per_item as usize,
            photo_kind,
            photo_dir,
            distinct_photos: distinct as usize,
            signatures,
            photos: raw.photos.unwrap_or(PhotoSource::Upload),
            upload_parallelism: upload_parallelism as usize,
            download_reports: raw.download_reports.unwrap_or(true),
        })
    }
}

/// `Ok` when `kind` names a photo kind of the fake's catalogue.
fn check_photo_kind(kind: &str) -> Result<(), &'static str> {
    if kind == "mixed" || mock_cloudinary::catalogue::parse_kind(kind).is_some() {
        return Ok(());
    }
    let bad = "is not a photo kind of the fake Cloudinary's catalogue";
    let (dims, size) = kind.split_once('-').ok_or(bad)?;
    let (w, h) = dims.split_once('x').ok_or(bad)?;
    let kb = size.strip_suffix('k').ok_or(bad)?;
    let num = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
    match (num(w), num(h), num(kb)) {
        (Some(w), Some(h), Some(_)) if w <= 20_000 && h <= 20_000 => Ok(()),
        (Some(_), Some(_), Some(_)) => Err("is larger than 20000 pixels on a side"),
        _ => Err(bad),
    }
}
