//! `oomlab target init`: a target file from a Render blueprint.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::ConfigError;

/// `oomlab target ...`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// What to do with target files.
    #[command(subcommand)]
    pub command: TargetCommand,
}

/// The target subcommands.
#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Write a target file from what the app already has: a Render
    /// blueprint (render.yaml).
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
}

const INIT_HELP: &str = "\
Examples:
  # The only web service of the blueprint, written to targets/NAME.toml:
  oomlab target init --from render.yaml
  # One of several services, to a file of your choice:
  oomlab target init --from ../my-app/render.yaml --service api --out targets/api.toml

What it carries over: startCommand ($PORT as {port}, 0.0.0.0 as {host}), rootDir,
healthCheckPath, maxShutdownDelaySeconds, envVars (CLOUDINARY_* pointed at the fake,
generateValue given a local value, sync: false, fromDatabase and fromService left as
commented CHECK lines), the plan's memory (the --limit to use), and buildCommand and
preDeployCommand as commented [[prepare]] steps. What needs you is printed on stderr
and marked CHECK in the file. The file is loaded before it is kept.

Exit codes: 0 written, 2 a bad file or flag (nothing written).";

/// `oomlab target init`'s flags.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The Render blueprint to read (the app's render.yaml). The app's
    /// folder is the blueprint's folder (and the service's rootDir), as seen
    /// from where oomlab runs.
    #[arg(long = "from", value_name = "FILE")]
    pub from: PathBuf,
    /// The service to take, by name; needed when the blueprint has several
    /// web services.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Where to write the target file. Default: targets/SERVICE.toml.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite the output file when it exists.
    #[arg(long)]
    pub force: bool,
    /// The hosting plans, for the plan's memory.
    #[arg(long, default_value = "plans/render.toml", value_name = "FILE")]
    pub plans: PathBuf,
}

impl InitArgs {
    /// Writes the target file; prints where, and what to check.
    pub fn run(&self) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&self.from).map_err(|source| ConfigError::Read {
            path: self.from.clone(),
            source,
        })?;
        let (_, plans) = crate::plan::load_plans(&self.plans)?;
        let mut invocation = format!("oomlab target init --from {}", self.from.display());
        if let Some(s) = &self.service {
            invocation.push_str(&format!(" --service {s}"));
        }
        let written = crate::blueprint::target_from_blueprint(&crate::blueprint::Request {
            blueprint: &self.from,
            text: &text,
            service: self.service.as_deref(),
            plans: &plans,
            plans_path: &self.plans,
            invocation,
        })?;
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| Path::new("targets").join(format!("{}.toml", written.name)));
        keep_checked(&out, &written.toml, self.force, |p| {
            crate::app_target::app::AppTarget::load(p).map(|_| ())
        })?;
        println!("wrote {}", out.display());
        print_checks(&out, &written.checks);
        eprintln!(
            "next: oomlab run --target {} --scenario tiny",
            out.display()
        );
        Ok(())
    }
}

/// Writes `text` to `out` only when `load` accepts it (checked in a
/// temporary file beside `out`, then moved into place), and only over an
/// existing file with `force`.
pub fn keep_checked(
    out: &Path,
    text: &str,
    force: bool,
    load: impl Fn(&Path) -> Result<(), ConfigError>,
) -> anyhow::Result<()> {
    if out.exists() && !force {
        return Err(ConfigError::flag(
            "--out",
            format!("{} exists", out.display()),
            "pass --force to overwrite it, or --out another file",
        )
        .into());
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| ConfigError::Read {
        path: dir.clone(),
        source,
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(".oomlab-")
        .suffix(".toml")
        .tempfile_in(&dir)?;
    std::fs::write(tmp.path(), text)?;
    if let Err(e) = load(tmp.path()) {
        anyhow::bail!(ConfigError::flag(
            "--out",
            format!("the file written does not load ({e}); nothing was kept"),
            "report it, with the input file; meanwhile write the file by hand (docs/targets.md)",
        ));
    }
    tmp.persist(out)?;
    Ok(())
}

/// What the user must check, on stderr.
pub fn print_checks(out: &Path, checks: &[String]) {
    if checks.is_empty() {
        return;
    }
    eprintln!("check in {}:", out.display());
    for c in checks {
        eprintln!("  - {c}");
    }
}
