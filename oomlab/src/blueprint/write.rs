//! The target file's text: the service's settings as keys, what could not
//! be carried over as `# CHECK:` comments where it belongs.

use std::fmt::Write as _;
use std::path::Path;

use super::raw;
use crate::app_target::app::CLOUDINARY_ENV;
use crate::toml_text::{key as toml_key, string as toml_string};

/// One variable of `[run.env]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvLine {
    /// Set: `KEY = "value"`, with a comment above it.
    Set {
        key: String,
        value: String,
        comment: Option<String>,
    },
    /// Left for the user: the comment, then `# KEY = "value"`.
    Hint {
        key: String,
        value: String,
        comment: String,
    },
}

impl EnvLine {
    fn key(&self) -> &str {
        match self {
            EnvLine::Set { key, .. } | EnvLine::Hint { key, .. } => key,
        }
    }
}

/// The service's variables as `[run.env]` lines, and whether any is
/// Cloudinary's.
#[derive(Debug, Default)]
pub struct Env {
    pub lines: Vec<EnvLine>,
    pub cloudinary: bool,
}

/// The variables of `service` (its groups' included), converted; what the
/// user must fill is added to `checks`.
pub fn env_lines(bp: &raw::Blueprint, service: &raw::Service, checks: &mut Vec<String>) -> Env {
    let mut env = Env::default();
    push(
        &mut env,
        EnvLine::Set {
            key: "PORT".into(),
            value: "{port}".into(),
            comment: Some("Render sets PORT; the harness picks a free port".into()),
        },
    );
    let mount = service.disk.as_ref().and_then(|d| d.mount_path.clone());
    for var in &service.env_vars {
        convert(bp, var, None, mount.as_deref(), &mut env, checks);
    }
    env
}

fn push(env: &mut Env, line: EnvLine) {
    match env.lines.iter_mut().find(|l| l.key() == line.key()) {
        Some(slot) => *slot = line,
        None => env.lines.push(line),
    }
}

fn convert(
    bp: &raw::Blueprint,
    var: &raw::EnvVar,
    group: Option<&str>,
    mount: Option<&str>,
    env: &mut Env,
    checks: &mut Vec<String>,
) {
    let Some(key) = var.key.clone() else {
        if let Some(g) = &var.from_group {
            match bp.group(g) {
                Some(found) if group.is_none() => {
                    for v in &found.env_vars {
                        convert(bp, v, Some(g), mount, env, checks);
                    }
                }
                _ => checks.push(format!(
                    "env group `{g}` is not defined in render.yaml (made in Render's dashboard?): copy the variables it holds into [run.env]"
                )),
            }
        }
        return;
    };
    let from = group.map_or(String::new(), |g| format!(" (env group `{g}`)"));
    if key == "PORT" {
        return;
    }
    if let Some((_, placeholder)) = CLOUDINARY_ENV.iter().find(|(k, _)| *k == key) {
        env.cloudinary = true;
        push(
            env,
            EnvLine::Set {
                key,
                value: placeholder.to_string(),
                comment: Some(format!("the fake Cloudinary's{from}")),
            },
        );
        return;
    }
    if key.starts_with("CLOUDINARY_") {
        env.cloudinary = true;
    }
    let line = if let Some(value) = var.value.as_ref().and_then(raw::scalar_text) {
        let value = match mount {
            Some(m) if !m.is_empty() && value.starts_with(m) => {
                format!("{{data_dir}}{}", &value[m.len()..])
            }
            _ => value,
        };
        if crate::app_target::app::unknown_placeholder(&value).is_some() {
            checks.push(format!(
                "{key}{from}: its value has braces, which a target reads as placeholders; set it in the app's own config"
            ));
            EnvLine::Hint {
                key,
                value,
                comment: "CHECK: braces in the value are read as placeholders".into(),
            }
        } else {
            EnvLine::Set {
                key,
                value,
                comment: (!from.is_empty()).then(|| from.trim().to_string()),
            }
        }
    } else if var.generate_value == Some(true) {
        EnvLine::Set {
            value: format!(
                "oomlab-local-{}",
                key.to_ascii_lowercase().replace('_', "-")
            ),
            key,
            comment: Some(format!(
                "generateValue{from}: Render makes a random secret; any value does for a load test"
            )),
        }
    } else if let Some(db) = &var.from_database {
        let name = db.name.as_deref().unwrap_or("?");
        let property = db.property.as_deref().unwrap_or("connectionString");
        checks.push(format!(
            "{key}{from}: from Render's database `{name}` ({property}): give a local database; a SQLite file in the run's folder is suggested, commented out"
        ));
        if property == "connectionString" {
            EnvLine::Hint {
                key,
                value: "sqlite:///{data_dir}/app.sqlite3".into(),
                comment: format!(
                    "CHECK: fromDatabase `{name}`{from} (Render Postgres). A SQLite file in the run's fresh folder, if the app's database layer takes one; or a local Postgres URL"
                ),
            }
        } else {
            EnvLine::Hint {
                key,
                value: String::new(),
                comment: format!(
                    "CHECK: fromDatabase `{name}` property {property}{from}: the same of a local Postgres"
                ),
            }
        }
    } else if let Some(s) = &var.from_service {
        let what = s
            .property
            .as_deref()
            .or(s.env_var_key.as_deref())
            .unwrap_or("?");
        let other = format!(
            "`{}` ({})",
            s.name.as_deref().unwrap_or("?"),
            s.kind.as_deref().unwrap_or("?")
        );
        checks.push(format!(
            "{key}{from}: from service {other}'s {what}: run that service here and give its {what}"
        ));
        EnvLine::Hint {
            key,
            value: String::new(),
            comment: format!("CHECK: fromService {other}, {what}{from}: a local one's"),
        }
    } else if var.sync == Some(false) {
        checks.push(format!(
            "{key}{from}: `sync: false` (set in Render's dashboard): give a test value, not the production one"
        ));
        EnvLine::Hint {
            key,
            value: String::new(),
            comment: format!(
                "CHECK: `sync: false`{from}: its value is in Render's dashboard; give a test value (not the production secret)"
            ),
        }
    } else {
        EnvLine::Hint {
            key,
            value: String::new(),
            comment: format!("no value in render.yaml{from}"),
        }
    };
    push(env, line);
}

/// Everything the file says.
pub struct Target<'a> {
    pub invocation: &'a str,
    pub blueprint: &'a Path,
    pub service_name: &'a str,
    pub kind: &'a str,
    pub runtime: &'a str,
    pub plan: Option<&'a str>,
    pub limit: Option<&'a (String, u64)>,
    pub plans_path: &'a Path,
    pub working_dir: &'a Path,
    pub argv: &'a [String],
    pub local_program: bool,
    pub names_port: bool,
    pub env: &'a Env,
    pub build: Option<&'a str>,
    pub pre_deploy: Option<&'a str>,
    pub health_check: Option<&'a str>,
    pub grace_s: Option<u64>,
    pub disk: Option<&'a raw::Disk>,
}

impl Target<'_> {
    /// The TOML text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "# Written by `{}`\n# from service `{}` ({}, runtime {}) of {}.\n# Lines marked CHECK need you. The format: docs/targets.md.",
            self.invocation,
            self.service_name,
            self.kind,
            self.runtime,
            self.blueprint.display()
        );
        let _ = writeln!(w, "\nname = {}", toml_string(self.service_name));
        let _ = writeln!(
            w,
            "description = {}",
            toml_string(&format!(
                "Render service {} ({}, plan {})",
                self.service_name,
                self.runtime,
                self.plan.unwrap_or("starter")
            ))
        );
        if let Some(b) = self.build {
            let _ = writeln!(
                w,
                "# Render's buildCommand: it installs the app; run it once here (in a\n# virtualenv for Python) before the first run. Named when the program is missing.\nsetup = {}",
                toml_string(b)
            );
        }
        match self.limit {
            Some((name, bytes)) => {
                let _ = writeln!(
                    w,
                    "\n# Render plan `{}` = {}, {} MiB ({}): the default\n# of `oomlab run --limit` for this app.\nlimit = \"{}MiB\"",
                    self.plan.unwrap_or("starter"),
                    name,
                    bytes >> 20,
                    self.plans_path.display(),
                    bytes >> 20
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "\n# CHECK: plan `{}` is not in {}: pass its memory with --limit.",
                    self.plan.unwrap_or("starter"),
                    self.plans_path.display()
                );
            }
        }
        let _ = writeln!(
            w,
            "\n[run]\nworking_dir = {}",
            toml_string(&self.working_dir.display().to_string())
        );
        if self.local_program {
            let _ = writeln!(
                w,
                "# The program of the app's own environment, found in working_dir."
            );
        }
        if !self.names_port {
            let _ = writeln!(
                w,
                "# CHECK: the start command does not name $PORT: the app must read PORT (set below)."
            );
        }
        let args: Vec<String> = self.argv.iter().map(|a| toml_string(a)).collect();
        let _ = writeln!(w, "command = [{}]", args.join(", "));
        if self.env.cloudinary {
            let _ = writeln!(
                w,
                "# render.yaml names CLOUDINARY_* variables: every one the SDKs read is\n# set, consistent, pointing at the fake Cloudinary (docs/targets.md).\ncloudinary_env = true"
            );
        }
        let _ = writeln!(w, "\n[run.env]");
        for line in &self.env.lines {
            match line {
                EnvLine::Set {
                    key,
                    value,
                    comment,
                } => {
                    if let Some(c) = comment {
                        let _ = writeln!(w, "# {c}");
                    }
                    let _ = writeln!(w, "{} = {}", toml_key(key), toml_string(value));
                }
                EnvLine::Hint {
                    key,
                    value,
                    comment,
                } => {
                    let _ = writeln!(
                        w,
                        "# {comment}\n# {} = {}",
                        toml_key(key),
                        toml_string(value)
                    );
                }
            }
        }
        if let Some(d) = self.disk {
            let _ = writeln!(
                w,
                "# CHECK: disk `{}` mounted at {}{}: point what the app writes there at {{data_dir}}.",
                d.name.as_deref().unwrap_or("disk"),
                d.mount_path.as_deref().unwrap_or("?"),
                d.size_gb.map_or(String::new(), |g| format!(" ({g} GB)"))
            );
        }
        if let Some(b) = self.build {
            let _ = writeln!(
                w,
                "\n# Render's buildCommand installs the dependencies: once (see `setup`), not\n# before every start. Uncomment if it must run each time:\n# [[prepare]]\n# command = [\"sh\", \"-c\", {}]",
                toml_string(b)
            );
        }
        if let Some(p) = self.pre_deploy {
            let _ = writeln!(
                w,
                "\n# CHECK: Render's preDeployCommand (migrations): each run starts on a fresh\n# {{data_dir}}, so it likely has to run before every start. Uncomment:\n# [[prepare]]\n# command = [\"sh\", \"-c\", {}]\n# timeout_s = 120",
                toml_string(p)
            );
        }
        let _ = writeln!(w, "\n[readiness]");
        match self.health_check {
            Some(p) => {
                let _ = writeln!(w, "# Render's healthCheckPath.\npath = {}", toml_string(p));
            }
            None => {
                let _ = writeln!(
                    w,
                    "# CHECK: render.yaml has no healthCheckPath: `/` must answer 2xx, or use\n# log_regex = \"a line the app prints when it listens\".\npath = \"/\""
                );
            }
        }
        let _ = writeln!(w, "timeout_s = 60");
        let _ = writeln!(
            w,
            "\n[stop]\n# What Render sends at a deploy, and its maxShutdownDelaySeconds (default 30).\nsignal = \"SIGTERM\"\ngrace_s = {}",
            self.grace_s.unwrap_or(30).clamp(1, 300)
        );
        s
    }
}
