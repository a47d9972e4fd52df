//! `oomlab target init --from render.yaml`: a target file written from what
//! the user already has, a Render Blueprint.
//!
//! One service of the blueprint (`--service`, or its only web service)
//! becomes a target: its `startCommand` as `run.command` with `{port}` and
//! `{host}`, its `rootDir` as `run.working_dir`, its `healthCheckPath` as
//! the readiness path, `maxShutdownDelaySeconds` as the stop grace, its
//! variables as `[run.env]` (Cloudinary's pointed at the fake, secrets left
//! for the user to fill, a database as a SQLite hint), its plan's memory
//! from the plans file as the limit to run under, and its `buildCommand`
//! and `preDeployCommand` as `[[prepare]]` hints. What cannot be carried
//! over is said twice: in the file, on a `# CHECK:` comment where it
//! belongs, and in [`Written::checks`], which the command prints.
//!
//! Pure: text in, text out; the command line reads and writes the files and
//! loads the result with the target loader before keeping it.
//!
//! # Layout
//! - [`command`]: a start command as program and arguments.
//! - `raw`: the blueprint keys read (Render's spec has many more; the
//!   others are ignored, as they do not change what runs).
//! - `write`: the target file's text.

pub mod command;
mod raw;
mod write;

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::plan::HostingPlan;

/// What to write a target from.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The blueprint file, as the user named it (relative to where oomlab
    /// runs: the app's folder is found from it).
    pub blueprint: &'a Path,
    /// Its text.
    pub text: &'a str,
    /// The service to take (`--service`).
    pub service: Option<&'a str>,
    /// The hosting plans (`plans/render.toml`), for a plan's memory.
    pub plans: &'a [HostingPlan],
    /// Where they were read from, as the file names it.
    pub plans_path: &'a Path,
    /// The command line that asks, quoted in the file's header.
    pub invocation: String,
}

/// A target file's text and what the user must check in it.
#[derive(Debug, Clone)]
pub struct Written {
    /// The target's name (the service's).
    pub name: String,
    /// The TOML text.
    pub toml: String,
    /// The limit the plan gives, bytes, when the plan is known.
    pub limit_bytes: Option<u64>,
    /// What could not be carried over, one line each.
    pub checks: Vec<String>,
}

/// The service types that answer HTTP requests.
const HTTP_TYPES: &[&str] = &["web", "pserv"];

/// Writes the target of one service of a Render blueprint.
pub fn target_from_blueprint(req: &Request<'_>) -> Result<Written, ConfigError> {
    let path = req.blueprint;
    let bp: raw::Blueprint = yaml_serde::from_str(req.text).map_err(|e| {
        ConfigError::invalid(
            path,
            "(file)",
            format!("is not a Render blueprint: {e}"),
            "give the render.yaml of your repository (a `services:` list)",
        )
    })?;
    let services = bp.all_services();
    if services.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "services",
            "lists no service",
            "give the render.yaml that defines your web service",
        ));
    }
    let (index, service) = pick(path, &services, req.service)?;
    let key = |k: &str| format!("services[{index}].{k}");
    let name = service
        .name
        .clone()
        .unwrap_or_else(|| format!("service-{index}"));
    let kind = service.kind.clone().unwrap_or_else(|| "web".into());
    let runtime = service
        .runtime
        .clone()
        .or_else(|| service.env.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut checks = Vec::new();

    let start = match (&service.start_command, &service.docker_command) {
        (Some(s), _) if !s.trim().is_empty() => s.clone(),
        (_, Some(d)) if !d.trim().is_empty() => {
            checks.push(format!(
                "runtime {runtime}: the command is the image's `dockerCommand`, run here outside the image; install what it needs, or start the image's process another way"
            ));
            d.clone()
        }
        _ => {
            return Err(ConfigError::invalid(
                path,
                key("startCommand"),
                format!("service `{name}` has no start command (runtime {runtime})"),
                "add its startCommand to render.yaml, or write the target's run.command by hand (docs/targets.md)",
            ));
        }
    };
    let cmd = command::convert(&start).map_err(|e| {
        ConfigError::invalid(
            path,
            key("startCommand"),
            format!("`{start}`: {e}"),
            "write the target's run.command by hand (docs/targets.md)",
        )
    })?;

    let working_dir = app_folder(path, service.root_dir.as_deref());
    let mut argv = cmd.argv.clone();
    let local_program = local_program(&working_dir, &runtime, &argv[0]);
    if let Some(p) = &local_program {
        argv[0] = p.clone();
    }
    if cmd.shell {
        checks.push(
            "run.command: the start command needs a shell, so it runs as `sh -c`; the shell is measured with the app".into(),
        );
    }
    if !cmd.names_port {
        checks.push(
            "run.command: the start command does not name $PORT: the app must listen on the PORT variable, which the target sets to {port}".into(),
        );
    }

    let limit = plan_limit(service.plan.as_deref(), req.plans);
    match (&service.plan, &limit) {
        (Some(p), None) => checks.push(format!(
            "plan `{p}` is not in {}: give the limit with --limit",
            req.plans_path.display()
        )),
        (None, _) => {
            checks.push("the service names no plan; Render's default, starter, is assumed".into())
        }
        _ => {}
    }
    if service.num_instances.unwrap_or(1) > 1 || service.scaling.is_some() {
        checks
            .push("several instances: each has its own memory, and the target measures one".into());
    }
    if service.health_check_path.is_none() {
        checks.push(
            "readiness.path: render.yaml has no healthCheckPath; `/` is assumed and must answer 2xx (or use log_regex)".into(),
        );
    }
    if !matches!(
        runtime.as_str(),
        "python" | "node" | "ruby" | "go" | "rust" | "elixir"
    ) {
        checks.push(format!(
            "runtime {runtime}: the command runs on this machine as it is; make sure its program is installed here"
        ));
    }

    let env = write::env_lines(&bp, service, &mut checks);
    let text = write::Target {
        invocation: &req.invocation,
        blueprint: path,
        service_name: &name,
        kind: &kind,
        runtime: &runtime,
        plan: service.plan.as_deref(),
        limit: limit.as_ref(),
        plans_path: req.plans_path,
        working_dir: &working_dir,
        argv: &argv,
        local_program: local_program.is_some(),
        names_port: cmd.names_port,
        env: &env,
        build: service.build_command.as_deref(),
        pre_deploy: service.pre_deploy_command.as_deref(),
        health_check: service.health_check_path.as_deref(),
        grace_s: service.max_shutdown_delay_seconds,
        disk: service.disk.as_ref(),
    }
    .render();
    if let Some(d) = &service.disk {
        checks.push(format!(
            "disk `{}` at {}: the app's files go to the run's {{data_dir}} only where a variable names the mount path",
            d.name.as_deref().unwrap_or("disk"),
            d.mount_path.as_deref().unwrap_or("?")
        ));
    }
    Ok(Written {
        name,
        toml: text,
        limit_bytes: limit.map(|(_, b)| b),
        checks,
    })
}

/// The service to take, and its index among all services.
fn pick<'b>(
    path: &Path,
    services: &[&'b raw::Service],
    wanted: Option<&str>,
) -> Result<(usize, &'b raw::Service), ConfigError> {
    let listing = |filter: &dyn Fn(&raw::Service) -> bool| {
        services
            .iter()
            .filter(|s| filter(s))
            .map(|s| {
                format!(
                    "{} ({})",
                    s.name.as_deref().unwrap_or("?"),
                    s.kind.as_deref().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(w) = wanted {
        let Some((i, s)) = services
            .iter()
            .enumerate()
            .find(|(_, s)| s.name.as_deref() == Some(w))
        else {
            return Err(ConfigError::flag(
                "--service",
                format!(
                    "{} has no service `{w}`; it has {}",
                    path.display(),
                    listing(&|_| true)
                ),
                "pass one of those names",
            ));
        };
        let kind = s.kind.as_deref().unwrap_or("web");
        if !HTTP_TYPES.contains(&kind) {
            return Err(ConfigError::flag(
                "--service",
                format!(
                    "`{w}` is a {kind} service: it answers no HTTP requests, and oomlab drives an HTTP app"
                ),
                format!(
                    "pick a web or private service: {}",
                    listing(&|s| HTTP_TYPES.contains(&s.kind.as_deref().unwrap_or("web")))
                ),
            ));
        }
        return Ok((i, s));
    }
    for kind in HTTP_TYPES {
        let of_kind: Vec<(usize, &&raw::Service)> = services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind.as_deref().unwrap_or("web") == *kind)
            .collect();
        match of_kind.as_slice() {
            [] => continue,
            [(i, s)] => return Ok((*i, s)),
            _ => {
                return Err(ConfigError::flag(
                    "--service",
                    format!(
                        "{} has {} {kind} services: {}",
                        path.display(),
                        of_kind.len(),
                        listing(&|s| s.kind.as_deref().unwrap_or("web") == *kind)
                    ),
                    "pick one with --service NAME",
                ));
            }
        }
    }
    Err(ConfigError::invalid(
        path,
        "services",
        format!("has no web or private service, only {}", listing(&|_| true)),
        "oomlab drives an HTTP app: give the blueprint of your web service",
    ))
}

/// The app's folder, relative to where oomlab runs: the blueprint's
/// folder and the service's `rootDir`.
fn app_folder(blueprint: &Path, root_dir: Option<&str>) -> PathBuf {
    let base = match blueprint.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match root_dir
        .map(|r| r.trim_matches('/'))
        .filter(|r| !r.is_empty())
    {
        Some(r) if base == Path::new(".") => PathBuf::from(r),
        Some(r) => base.join(r),
        None => base,
    }
}

/// The program in the app's own virtualenv (`.venv/bin/gunicorn`) or
/// `node_modules/.bin`, when it is there: Render installs into the
/// environment, a developer into one of these.
fn local_program(dir: &Path, runtime: &str, program: &str) -> Option<String> {
    if program.contains('/') {
        return None;
    }
    let candidates: &[&str] = match runtime {
        "python" => &[".venv/bin", "venv/bin", "env/bin"],
        "node" => &["node_modules/.bin"],
        _ => &[],
    };
    candidates
        .iter()
        .map(|c| format!("{c}/{program}"))
        .find(|p| dir.join(p).is_file())
}

/// A plan's name as the plans file writes it (`pro plus`, `pro_plus` and
/// `Pro Plus` are one), and its memory, bytes. No plan: Render's default,
/// starter.
fn plan_limit(plan: Option<&str>, plans: &[HostingPlan]) -> Option<(String, u64)> {
    let norm = |s: &str| {
        s.to_ascii_lowercase()
            .replace(['_', '-'], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let wanted = norm(plan.unwrap_or("starter"));
    plans
        .iter()
        .find(|p| norm(&p.name) == wanted)
        .map(|p| (p.name.clone(), p.ram_bytes))
}

#[cfg(test)]
mod tests;
