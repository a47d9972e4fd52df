//! Target files (`targets/*.toml`): any HTTP app started by a command.
//!
//! ```toml
//! name = "my-app"                      # optional; default: the file's stem
//! description = "Flask under gunicorn" # optional
//! setup = "examples/my-app/setup.sh"   # optional: named when the command is missing
//! limit = "512MiB"                     # optional: the default of `run --limit`
//!
//! [run]
//! working_dir = "examples/my-app"      # relative to where oomlab runs
//! command = ["venv/bin/gunicorn", "--bind", "{host}:{port}", "app:create_app()"]
//!
//! [run.env]
//! CLOUDINARY_URL = "{cloudinary_url}"
//!
//! [readiness]
//! path = "/healthz"                    # or: log_regex = "Listening at"
//! timeout_s = 60
//!
//! [stop]
//! signal = "SIGTERM"                   # SIGTERM, SIGINT, SIGQUIT or SIGHUP
//! grace_s = 15
//!
//! [log]
//! # Lines of the app's output that mean its work failed, though every
//! # HTTP answer was fine (a cloud upload that fell back to a local file):
//! # counted, quoted in report.md, and the run fails unless the scenario's
//! # `[thresholds] app_errors` allows them.
//! error_regex = ["Traceback \\(most recent call last\\)", "upload failed"]
//! ```
//!
//! Placeholders in the command and the environment: `{host}`, `{port}` (a
//! free loopback port the harness picks), `{data_dir}` (a fresh folder per
//! run), `{cloudinary_base_url}`, `{cloudinary_cloud_name}`,
//! `{cloudinary_api_key}`, `{cloudinary_api_secret}` (what the fake is told
//! to expect; it accepts any),
//! `{cloudinary_url}` (the official SDKs' `cloudinary://key:secret@cloud`
//! form, with `?upload_prefix=` pointing at the fake, which the Python SDK
//! honours) and `{cloudinary_upload_prefix}` (the fake's base URL).

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;

use crate::error::ConfigError;

/// The placeholders a target may use.
pub const PLACEHOLDERS: &[&str] = &[
    "host",
    "port",
    "data_dir",
    "cloudinary_base_url",
    "cloudinary_cloud_name",
    "cloudinary_api_key",
    "cloudinary_api_secret",
    "cloudinary_url",
    "cloudinary_upload_prefix",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    description: Option<String>,
    setup: Option<String>,
    limit: Option<String>,
    run: RawRun,
    readiness: RawReadiness,
    #[serde(default)]
    stop: RawStop,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    prepare: Vec<RawPrepare>,
    #[serde(default)]
    scenarios: std::collections::BTreeMap<String, PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrepare {
    command: Vec<String>,
    working_dir: Option<PathBuf>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    timeout_s: Option<f64>,
}

/// A `[[prepare]]` step as written (placeholders not yet filled).
#[derive(Debug, Clone)]
pub struct AppPrepare {
    /// The program and its arguments, with placeholders.
    pub command: Vec<String>,
    /// Where it runs, resolved (default: the app's working directory).
    pub working_dir: PathBuf,
    /// Its own variables, with placeholders (the app's are set too).
    pub env: Vec<(String, String)>,
    /// How long it may take (default 300 s).
    pub timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default)]
    error_regex: Vec<String>,
    #[serde(default)]
    stage: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    regex: String,
    stage: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    working_dir: Option<PathBuf>,
    command: Vec<String>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    cloudinary_env: bool,
}

/// What `[run] cloudinary_env = true` sets: every variable the official
/// SDKs read, consistent with each other, so an app that reads any of them
/// talks to the fake (the Python SDK ignores `CLOUDINARY_URL` once
/// `CLOUDINARY_CLOUD_NAME` is set, and then takes the upload prefix from
/// `CLOUDINARY_UPLOAD_PREFIX`). A variable the file sets itself wins.
pub const CLOUDINARY_ENV: &[(&str, &str)] = &[
    ("CLOUDINARY_URL", "{cloudinary_url}"),
    ("CLOUDINARY_CLOUD_NAME", "{cloudinary_cloud_name}"),
    ("CLOUDINARY_API_KEY", "{cloudinary_api_key}"),
    ("CLOUDINARY_API_SECRET", "{cloudinary_api_secret}"),
    ("CLOUDINARY_UPLOAD_PREFIX", "{cloudinary_upload_prefix}"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadiness {
    path: Option<String>,
    log_regex: Option<String>,
    timeout_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStop {
    signal: Option<String>,
    grace_s: Option<f64>,
}

/// A checked target file.
#[derive(Debug, Clone)]
pub struct AppTarget {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The working directory, resolved.
    pub working_dir: PathBuf,
    /// The program, resolved against the working directory when relative.
    pub program: PathBuf,
    /// Its arguments, with placeholders.
    pub args: Vec<String>,
    /// Environment variables, with placeholders.
    pub env: Vec<(String, String)>,
    /// How readiness is seen.
    pub ready: AppReadiness,
    /// How long it may take to be ready.
    pub ready_timeout: Duration,
    /// The signal that stops it.
    pub stop_signal: Signal,
    /// How long it gets after that signal.
    pub stop_grace: Duration,
    /// Lines of its output that mean its work failed (`[log] error_regex`).
    pub error_patterns: Vec<regex::Regex>,
    /// Commands run before every start (`[[prepare]]`).
    pub prepare: Vec<AppPrepare>,
    /// Lines of its output that say which stage its work is in (`[log]
    /// stage`): the pattern and the stage's name.
    pub stage_patterns: Vec<(regex::Regex, String)>,
    /// The app's own scenario files by the shipped scenario's name they
    /// stand for (`[scenarios]`): its HTTP flow for that load.
    pub scenarios: std::collections::BTreeMap<String, PathBuf>,
    /// The memory of the plan it is deployed on (`limit`), bytes: the
    /// default of `run --limit` for it.
    pub limit: Option<u64>,
    /// What installs it (`setup`), named when its program is missing.
    pub setup: Option<String>,
}

/// How an app is seen to be ready.
#[derive(Debug, Clone)]
pub enum AppReadiness {
    /// `GET <path>` answers 2xx.
    Http(String),
    /// A line of its output matches.
    LogLine(regex::Regex),
}

impl AppTarget {
    /// Reads and checks a target file, and that its program is installed;
    /// every mistake names the file, the key and the fix. Relative paths of
    /// the file are taken from the folder oomlab runs in.
    pub fn load(path: &Path) -> Result<AppTarget, ConfigError> {
        let app = Self::read(path, Path::new(""))?;
        app.check_installed(path)?;
        Ok(app)
    }

    /// Whether the program a command names by its path is there (a venv's
    /// `gunicorn`); the error names the target's `setup`.
    pub fn check_installed(&self, path: &Path) -> Result<(), ConfigError> {
        if self.program.components().count() > 1 && !self.program.is_file() {
            return Err(ConfigError::invalid(
                path,
                "run.command",
                format!("{} does not exist", self.program.display()),
                self.setup.as_deref().map_or_else(
                    || "install the app first, or fix the path".to_string(),
                    |s| format!("run {s} first (it installs the app)"),
                ),
            ));
        }
        Ok(())
    }

    /// Reads and checks a target file as [`AppTarget::load`] does, but
    /// without asking whether its program is installed yet (a fresh clone
    /// has no venv until the app's setup runs); its relative paths
    /// (`working_dir`, `[scenarios]`, a step's `working_dir`) are taken
    /// from `base` (`""`: where oomlab runs).
    pub fn read(path: &Path, base: &Path) -> Result<AppTarget, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawTarget = toml::from_str(&text).map_err(|e| ConfigError::toml(path, e))?;
        let bad = |key: &str, message: String, fix: &str| {
            ConfigError::invalid(path, key, message, fix.to_string())
        };
        let Some((program, args)) = raw.run.command.split_first() else {
            return Err(bad(
                "run.command",
                "is empty".into(),
                "command = [\"venv/bin/gunicorn\", \"--bind\", \"{host}:{port}\", \"app:app\"]",
            ));
        };
        for (key, text) in std::iter::once(("run.command", program.as_str()))
            .chain(args.iter().map(|a| ("run.command", a.as_str())))
            .chain(raw.run.env.values().map(|v| ("run.env", v.as_str())))
            .chain(raw.prepare.iter().flat_map(|p| {
                p.command
                    .iter()
                    .map(|a| ("prepare.command", a.as_str()))
                    .chain(p.env.values().map(|v| ("prepare.env", v.as_str())))
            }))
        {
            if let Some(unknown) = unknown_placeholder(text) {
                return Err(bad(
                    key,
                    format!("`{{{unknown}}}` in `{text}` is not a placeholder"),
                    &format!("use one of {{{}}}", PLACEHOLDERS.join("}, {")),
                ));
            }
        }
        let working_dir = base.join(raw.run.working_dir.unwrap_or_else(|| PathBuf::from(".")));
        if !working_dir.is_dir() {
            return Err(bad(
                "run.working_dir",
                format!("{} is not a folder here", working_dir.display()),
                "give it relative to the folder oomlab runs in (the repository root for the shipped targets)",
            ));
        }
        // A program named by its path is found from the working directory
        // (checked by `check_installed`); a bare name on the PATH.
        let program_path = if program.contains('/') {
            let p = working_dir.join(program);
            p.canonicalize().unwrap_or(p)
        } else {
            PathBuf::from(program)
        };
        let ready = match (raw.readiness.path, raw.readiness.log_regex) {
            (Some(p), None) if p.starts_with('/') => AppReadiness::Http(p),
            (None, Some(r)) => AppReadiness::LogLine(regex::Regex::new(&r).map_err(|e| {
                bad(
                    "readiness.log_regex",
                    format!("is not a regular expression: {e}"),
                    "e.g. log_regex = \"Listening at\"",
                )
            })?),
            _ => {
                return Err(bad(
                    "readiness",
                    "needs exactly one of `path` (starting with /) or `log_regex`".into(),
                    "e.g. path = \"/healthz\"",
                ));
            }
        };
        let secs = |key: &str, v: Option<f64>, default: f64| {
            let v = v.unwrap_or(default);
            if v.is_finite() && v > 0.0 && v <= 3600.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(bad(
                    key,
                    format!("`{v}` is not a time from 0 to 3600 s"),
                    "e.g. 30",
                ))
            }
        };
        let stop_signal = match raw.stop.signal.as_deref().unwrap_or("SIGTERM") {
            "SIGTERM" | "TERM" => Signal::SIGTERM,
            "SIGINT" | "INT" => Signal::SIGINT,
            "SIGQUIT" | "QUIT" => Signal::SIGQUIT,
            "SIGHUP" | "HUP" => Signal::SIGHUP,
            other => {
                return Err(bad(
                    "stop.signal",
                    format!("`{other}` is not a stop signal oomlab sends"),
                    "one of SIGTERM, SIGINT, SIGQUIT, SIGHUP",
                ));
            }
        };
        let prepare = raw
            .prepare
            .iter()
            .enumerate()
            .map(|(n, p)| {
                let key = |k: &str| format!("prepare[{n}].{k}");
                if p.command.is_empty() {
                    return Err(bad(
                        &key("command"),
                        "is empty".into(),
                        "command = [\"sh\", \"-c\", \"cp -r app {data_dir}/app\"]",
                    ));
                }
                let dir = p
                    .working_dir
                    .as_ref()
                    .map_or_else(|| working_dir.clone(), |d| base.join(d));
                if !dir.is_dir() {
                    return Err(bad(
                        &key("working_dir"),
                        format!("{} is not a folder here", dir.display()),
                        "give it relative to the folder oomlab runs in, or leave it out (the app's working_dir)",
                    ));
                }
                Ok(AppPrepare {
                    command: p.command.clone(),
                    working_dir: dir.canonicalize().unwrap_or(dir),
                    env: p.env.clone().into_iter().collect(),
                    timeout: secs(&key("timeout_s"), p.timeout_s, 300.0)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let scenarios: std::collections::BTreeMap<String, PathBuf> = raw
            .scenarios
            .into_iter()
            .map(|(name, file)| (name, base.join(file)))
            .collect();
        for (name, file) in &scenarios {
            let key = format!("scenarios.{name}");
            if let Err(e) = crate::scenario::Scenario::load(file) {
                return Err(bad(
                    &key,
                    format!("{} cannot be used: {e}", file.display()),
                    "give the app's scenario file relative to the folder oomlab runs in, e.g. single-report = \"scenarios/my-app-single-report.toml\"",
                ));
            }
        }
        let stage_patterns = raw
            .log
            .stage
            .iter()
            .map(|st| {
                let re = regex::Regex::new(&st.regex).map_err(|e| {
                    bad(
                        "log.stage",
                        format!("`{}` is not a regular expression: {e}", st.regex),
                        "e.g. stage = [{ regex = \"Generating PDF\", stage = \"pdf\" }]",
                    )
                })?;
                if st.stage.trim().is_empty() {
                    return Err(bad(
                        "log.stage",
                        format!("the stage of `{}` has no name", st.regex),
                        "e.g. stage = [{ regex = \"Generating PDF\", stage = \"pdf\" }]",
                    ));
                }
                Ok((re, st.stage.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limit = raw
            .limit
            .as_deref()
            .map(|l| {
                crate::input::size(l)
                    .map_err(|e| bad("limit", e, "e.g. limit = \"512MiB\" (the plan's memory)"))
            })
            .transpose()?;
        Ok(AppTarget {
            limit,
            prepare,
            stage_patterns,
            scenarios,
            setup: raw.setup,
            error_patterns: raw
                .log
                .error_regex
                .iter()
                .map(|r| {
                    regex::Regex::new(r).map_err(|e| {
                        bad(
                            "log.error_regex",
                            format!("`{r}` is not a regular expression: {e}"),
                            "e.g. error_regex = [\"Traceback\", \"upload failed\"]",
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            name: raw.name.unwrap_or_else(|| crate::input::stem(path)),
            description: raw.description.unwrap_or_default(),
            working_dir: working_dir.canonicalize().unwrap_or(working_dir),
            program: program_path,
            args: args.to_vec(),
            env: {
                let mut env = raw.run.env;
                if raw.run.cloudinary_env {
                    for (k, v) in CLOUDINARY_ENV {
                        env.entry(k.to_string()).or_insert_with(|| v.to_string());
                    }
                }
                env.into_iter().collect()
            },
            ready,
            ready_timeout: secs("readiness.timeout_s", raw.readiness.timeout_s, 60.0)?,
            stop_signal,
            stop_grace: secs("stop.grace_s", raw.stop.grace_s, 10.0)?,
        })
    }
}

/// The first `{name}` in `text` that is not a placeholder.
pub fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// `text` with every placeholder filled from `values` (name, value).
pub fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AppTarget, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("app.toml");
        std::fs::write(&p, text).unwrap();
        AppTarget::load(&p)
    }

    #[test]
    fn a_minimal_target_loads_with_defaults() {
        let t = load(
            "[run]\ncommand = [\"python3\", \"-m\", \"http.server\", \"{port}\"]\n[readiness]\npath = \"/\"\n",
        )
        .unwrap();
        assert_eq!(t.name, "app");
        assert_eq!(t.program, PathBuf::from("python3"));
        assert_eq!(t.stop_signal, Signal::SIGTERM);
        assert_eq!(t.ready_timeout, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        let e = load("[run]\ncommand = [\"x\"]\nfoo = 1\n[readiness]\npath = \"/\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("foo"), "{e}");
        let e = load("[run]\ncommand = [\"x\", \"{prot}\"]\n[readiness]\npath = \"/\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run.command") && e.contains("prot") && e.contains("{port}"),
            "{e}"
        );
        let e = load("[run]\ncommand = [\"x\"]\n[readiness]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("readiness") && e.contains("path"), "{e}");
        let e = load(
            "setup = \"setup.sh\"\n[run]\ncommand = [\"venv/bin/app\"]\n[readiness]\npath = \"/\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("does not exist") && e.contains("run setup.sh first"),
            "{e}"
        );
        let e = load(
            "[run]\ncommand = [\"x\"]\n[readiness]\npath = \"/\"\n[stop]\nsignal = \"SIGSTOP\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("stop.signal"), "{e}");
    }

    #[test]
    fn placeholders_are_filled() {
        let v = [
            ("host", "127.0.0.1".to_string()),
            ("port", "8123".to_string()),
        ];
        assert_eq!(fill("{host}:{port}", &v), "127.0.0.1:8123");
    }
}
