//! What a run measures.
//!
//! A [`Target`] owns how the measured process is started (its command line,
//! filled in with where the run puts its data and where the fake Cloudinary
//! listens), how it is seen to be ready and how long it gets to stop. The
//! sampler, the watchdog and the report do not care which target ran: they
//! see a process id, a base URL and the [`RunShape`] the target declares.
//!
//! A target is the reference server, in oomlab's own build (`oomlab serve`,
//! the default) or another build of it (`--server-bin`, e.g. the dhat
//! build), or any HTTP app started by a command ([`app`], `targets/*.toml`).
//! A profile is loaded and validated here, with the same environment
//! overrides the child will see, and a target file is checked, so a typo is a
//! [`ConfigError`] (exit 2) before anything starts.
//!
//! # Layout
//! - [`app`]: target files, their placeholders and readiness.

pub mod app;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::child::{Readiness, ServerCommand};
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

/// A profile or scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// Its name (the file's stem, or the scenario's `name`).
    pub name: String,
    /// The path it was read from.
    pub path: PathBuf,
}

/// The kinds of target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// oomlab's own build of the reference server (`oomlab serve`).
    #[default]
    ReferenceServer,
    /// Another build of the reference server (`--server-bin`).
    ServerBinary,
    /// An app started by a command (`--target`, `targets/*.toml`); the
    /// measured unit is its whole process tree.
    App,
}

/// The process a run measures.
#[derive(Debug, Clone)]
pub struct Target {
    /// What kind of target it is.
    pub kind: TargetKind,
    /// The file that defines it (the profile), with its display name.
    pub file: InputFile,
    /// Background jobs it processes at once, when it says.
    pub workers: Option<u32>,
    /// Memory it declares it holds from start as a stand-in for a modelled
    /// runtime (the profile's `model.runtime_mb`), bytes.
    pub declared_runtime_bytes: Option<u64>,
    program: Program,
}

#[derive(Debug, Clone)]
enum Program {
    /// This binary in its hidden `serve` mode.
    OwnServeMode,
    /// A report-server binary.
    Binary(PathBuf),
    /// An app started by a command.
    App(Box<app::AppTarget>),
}

/// Where a start of the target puts things and finds its fakes.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Its data folder (the SQLite database).
    pub data_dir: PathBuf,
    /// The fake Cloudinary's base URL.
    pub cloudinary_base_url: String,
    /// The fake Cloudinary's cloud name.
    pub cloudinary_cloud_name: String,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Target {
    /// The reference server with `profile`, in oomlab's own build or in
    /// `server_bin`. The profile is loaded with the environment overrides
    /// (`REPORT_SERVER__*`) the server will see, and validated.
    pub fn reference(profile: &Path, server_bin: Option<&Path>) -> Result<Target, ConfigError> {
        let settings = report_server::settings::Settings::load(Some(profile))
            .map_err(|e| ConfigError::Profile(format!("{e}")))?;
        let program = match server_bin {
            None => Program::OwnServeMode,
            Some(bin) if bin.is_file() => Program::Binary(bin.to_path_buf()),
            Some(bin) => {
                return Err(ConfigError::flag(
                    "--server-bin",
                    format!("{} is not a file", bin.display()),
                    "pass the path of a built server, e.g. target/release/report-server, or leave the flag out",
                ));
            }
        };
        Ok(Target {
            kind: match program {
                Program::Binary(_) => TargetKind::ServerBinary,
                _ => TargetKind::ReferenceServer,
            },
            file: InputFile {
                name: crate::input::stem(profile),
                path: profile.to_path_buf(),
            },
            workers: u32::try_from(settings.workers).ok(),
            declared_runtime_bytes: Some(settings.model.runtime_mb << 20),
            program,
        })
    }

    /// An app started by the command of the target file at `path`.
    pub fn app(path: &Path) -> Result<Target, ConfigError> {
        let app = app::AppTarget::load(path)?;
        Ok(Target {
            kind: TargetKind::App,
            file: InputFile {
                name: app.name.clone(),
                path: path.to_path_buf(),
            },
            workers: None,
            declared_runtime_bytes: None,
            program: Program::App(Box::new(app)),
        })
    }

    /// The app's own scenario file for the shipped scenario `name`
    /// (`[scenarios]` of its target file); `None` for the reference server
    /// or a name it does not map.
    pub fn own_scenario(&self, name: &str) -> Option<&Path> {
        match &self.program {
            Program::App(a) => a.scenarios.get(name).map(PathBuf::as_path),
            _ => None,
        }
    }

    /// The names of the shipped scenarios the app maps to its own files,
    /// and which files.
    pub fn own_scenarios(&self) -> Vec<(&str, &Path)> {
        match &self.program {
            Program::App(a) => a
                .scenarios
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_path()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The same app with environment variables set over its file's
    /// `[run.env]` (`KEY=VALUE`, placeholders allowed), e.g. a variant of the
    /// app for calibration (`REPORT_WORKERS=1`). The display name says which:
    /// `flask-reportlab[REPORT_WORKERS=1]`. Only an app target has an
    /// environment of its own; `flag` names the flag in the error.
    pub fn with_env(
        mut self,
        pairs: &[(String, String)],
        flag: &str,
    ) -> Result<Target, ConfigError> {
        if pairs.is_empty() {
            return Ok(self);
        }
        let Program::App(app) = &mut self.program else {
            return Err(ConfigError::flag(
                flag,
                "sets the environment of an app target, and this is the reference server",
                "use --target NAME, or set the profile's keys in its file",
            ));
        };
        for (k, v) in pairs {
            match app.env.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v.clone(),
                None => app.env.push((k.clone(), v.clone())),
            }
        }
        let shown: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.file.name = format!("{}[{}]", self.file.name, shown.join(","));
        Ok(self)
    }

    /// The app run with every combination of the `vary` values (`--vary
    /// KEY=v1,v2`, repeatable), each a target of its own named after its
    /// values (`flask-reportlab[REPORT_WORKERS=1,REPORT_PHOTO_SOURCE=path]`),
    /// in the order the flags and values were given. No `vary`: the app as
    /// it is.
    pub fn variants(self, vary: &[crate::input::Vary]) -> Result<Vec<Target>, ConfigError> {
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for v in vary {
            if vary.iter().filter(|o| o.key == v.key).count() > 1 {
                return Err(ConfigError::flag(
                    "--vary",
                    format!("{} is varied twice", v.key),
                    format!("give its values once: --vary {}=a,b", v.key),
                ));
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    v.values.iter().map(move |val| {
                        let mut c = c.clone();
                        c.push((v.key.clone(), val.clone()));
                        c
                    })
                })
                .collect();
        }
        combos
            .into_iter()
            .map(|pairs| self.clone().with_env(&pairs, "--vary"))
            .collect()
    }

    /// An app's working directory (where its own code is); `None` for the
    /// reference server.
    pub fn working_dir(&self) -> Option<&Path> {
        match &self.program {
            Program::App(a) => Some(&a.working_dir),
            _ => None,
        }
    }

    /// The display name (the profile's file stem, or the target's name).
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// Lines of the target's output that mean its work failed (an app's
    /// `[log] error_regex`); none for the reference server, whose failures
    /// are in its job status answers.
    pub fn error_patterns(&self) -> &[regex::Regex] {
        match &self.program {
            Program::App(a) => &a.error_patterns,
            _ => &[],
        }
    }

    /// Lines of an app's output that name the stage its work is in (`[log]
    /// stage`); none for the reference server (it says its stages in
    /// `/debug/memory`).
    pub fn stage_patterns(&self) -> &[(regex::Regex, String)] {
        match &self.program {
            Program::App(a) => &a.stage_patterns,
            _ => &[],
        }
    }

    /// How long a start may take to be ready, and how long it gets to stop,
    /// when the target file says.
    pub fn timeouts(&self) -> Option<(Duration, Duration)> {
        match &self.program {
            Program::App(a) => Some((a.ready_timeout, a.stop_grace)),
            _ => None,
        }
    }

    /// The command line of one start.
    pub fn command(&self, at: &Placement) -> anyhow::Result<ServerCommand> {
        self.command_in_role(at, None)
    }

    /// The command line of one start of the reference server in `role`
    /// (`web` or `worker` of the split configuration; `None`: the single
    /// process). An app target has no roles.
    pub fn command_in_role(
        &self,
        at: &Placement,
        role: Option<&str>,
    ) -> anyhow::Result<ServerCommand> {
        if let Program::App(app) = &self.program {
            anyhow::ensure!(role.is_none(), "an app target has no {role:?} role");
            return app_command(app, at);
        }
        let (program, mut args): (PathBuf, Vec<OsString>) = match &self.program {
            Program::OwnServeMode => (
                std::env::current_exe().map_err(|e| {
                    anyhow::anyhow!(
                        "finding oomlab's own binary to start the server: {e} (or pass --server-bin PATH)"
                    )
                })?,
                vec!["serve".into()],
            ),
            Program::Binary(p) => (p.clone(), Vec::new()),
            Program::App(_) => unreachable!("handled above"),
        };
        // The role is `report-server`'s positional argument, before the flags.
        args.extend(role.map(OsString::from));
        args.extend([
            "--profile".into(),
            self.file.path.clone().into_os_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--data-dir".into(),
            at.data_dir.clone().into_os_string(),
            "--cloudinary-base-url".into(),
            at.cloudinary_base_url.clone().into(),
            "--cloudinary-cloud-name".into(),
            at.cloudinary_cloud_name.clone().into(),
        ]);
        Ok(ServerCommand::new(program, args, at.log.clone()))
    }
}

/// The API key an app is given for the fake Cloudinary
/// (`{cloudinary_api_key}`; the fake accepts any).
pub const CLOUDINARY_API_KEY: &str = "oomlab-key";
/// The API secret an app is given for the fake Cloudinary
/// (`{cloudinary_api_secret}`).
pub const CLOUDINARY_API_SECRET: &str = "oomlab-secret";

/// An app's command line for one start: a free loopback port, the
/// placeholders filled, readiness and stop signal from its file.
fn app_command(app: &app::AppTarget, at: &Placement) -> anyhow::Result<ServerCommand> {
    let port = free_port()?;
    std::fs::create_dir_all(&at.data_dir)?;
    let data_dir = at
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| at.data_dir.clone());
    let values = [
        ("host", "127.0.0.1".to_string()),
        ("port", port.to_string()),
        ("data_dir", data_dir.display().to_string()),
        ("cloudinary_base_url", at.cloudinary_base_url.clone()),
        ("cloudinary_cloud_name", at.cloudinary_cloud_name.clone()),
        ("cloudinary_api_key", CLOUDINARY_API_KEY.to_string()),
        ("cloudinary_api_secret", CLOUDINARY_API_SECRET.to_string()),
        (
            "cloudinary_url",
            format!(
                "cloudinary://{CLOUDINARY_API_KEY}:{CLOUDINARY_API_SECRET}@{}?upload_prefix={}",
                at.cloudinary_cloud_name, at.cloudinary_base_url
            ),
        ),
        ("cloudinary_upload_prefix", at.cloudinary_base_url.clone()),
    ];
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let readiness = match &app.ready {
        app::AppReadiness::Http(path) => Readiness::Http {
            addr,
            url: format!("http://{addr}{path}"),
        },
        app::AppReadiness::LogLine(pattern) => Readiness::LogLine {
            addr,
            pattern: pattern.clone(),
        },
    };
    let mut cmd = ServerCommand::new(
        app.program.clone(),
        app.args
            .iter()
            .map(|a| app::fill(a, &values).into())
            .collect(),
        at.log.clone(),
    );
    cmd.cwd = Some(app.working_dir.clone());
    cmd.env = app
        .env
        .iter()
        .map(|(k, v)| (k.clone(), app::fill(v, &values)))
        .collect();
    cmd.readiness = readiness;
    cmd.stop_signal = app.stop_signal;
    cmd.debug_memory = false;
    cmd.prepare = app
        .prepare
        .iter()
        .map(|p| crate::child::prepare::PrepareStep {
            command: p.command.iter().map(|a| app::fill(a, &values)).collect(),
            cwd: p.working_dir.clone(),
            env: cmd
                .env
                .iter()
                .cloned()
                .chain(
                    p.env
                        .iter()
                        .map(|(k, v)| (k.clone(), app::fill(v, &values))),
                )
                .collect(),
            timeout: p.timeout,
        })
        .collect();
    Ok(cmd)
}

/// A loopback port that was free a moment ago (the OS picks it; the app
/// binds it right after, so a clash is unlikely but possible, and shows as
/// the app failing to start).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests;
