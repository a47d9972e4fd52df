//! `oomlab run --heap`: which lines of the app hold its memory at the peak.
//!
//! Every Python process of the app runs a heap tracer, started by a
//! `sitecustomize` put first on the app's `PYTHONPATH` (forked and spawned
//! workers included): memray (native allocations with their Python stacks,
//! a capture that survives SIGKILL) or, when memray cannot be had,
//! tracemalloc (Python's own allocations only). When the run has ended
//! (or the app was killed at the limit), the captures are read with the
//! app's own interpreter: each process's sites at its high-water mark, the
//! app's own frames told apart from library frames ([`sites`]), matched
//! against known memory hogs ([`patterns`]). The reference server has its
//! own answer (`/debug/memory` per stage, the dhat build) and is not traced.
//!
//! # Layout
//! - [`python`]: is the command Python, and a pinned memray for it.
//! - [`sites`]: the reader's records grouped into report.md's sites.
//! - [`patterns`]: the known memory hogs.
//! - [`your_code`]: where the app's own code sets one up.

pub mod patterns;
pub mod python;
pub mod sites;
pub mod your_code;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use clap::ValueEnum;

use crate::child::ServerCommand;
use crate::error::ConfigError;
use crate::report::heap::HeapReport;
use python::Memray;

const SITECUSTOMIZE: &str = include_str!("heap/sitecustomize.py");
const MEMRAY_SITES: &str = include_str!("heap/memray_sites.py");
const TRACEMALLOC_SITES: &str = include_str!("heap/tracemalloc_sites.py");

/// Records kept per process by the reader, before grouping.
const RECORDS_READ: usize = 400;
/// Processes that get a flame graph (the largest peaks).
const FLAMEGRAPHS: usize = 2;

/// Which heap tracer wraps an app (`--heap`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum HeapMode {
    /// No tracer: the app as it runs.
    #[default]
    Off,
    /// memray for a Python command when it can be had, else tracemalloc.
    Auto,
    /// memray: native allocations (Pillow's image buffers too) with their
    /// Python stacks.
    Memray,
    /// Python's tracemalloc: Python's own allocations only.
    Tracemalloc,
}

/// `mode` for a target of `kind`: every tracer but `off` traces an app
/// (`--target`); the reference server says where its memory is itself.
pub fn check_target(
    mode: HeapMode,
    kind: crate::app_target::TargetKind,
) -> Result<(), ConfigError> {
    if mode == HeapMode::Off || kind == crate::app_target::TargetKind::App {
        return Ok(());
    }
    Err(ConfigError::flag(
        "--heap",
        "traces your own app (--target), and this run is the reference server",
        "the reference server says where its memory is itself: report.md's stages \
         (/debug/memory) and its dhat build (docs/run.md); or pass --target",
    ))
}

/// The tracer of one run.
#[derive(Debug, Clone)]
pub struct Tracer {
    tool: Tool,
    /// The app's Python interpreter: memray is installed for it and the
    /// captures are read with it.
    interpreter: PathBuf,
    /// `<run>/heap`, where the captures go.
    dir: PathBuf,
}

#[derive(Debug, Clone)]
enum Tool {
    Memray(Memray),
    Tracemalloc,
}

impl Tracer {
    /// The tracer `mode` asks for, for `cmd` (an app's command), with its
    /// captures in `run_dir/heap`; `None` for [`HeapMode::Off`]. memray is
    /// installed when the app has none (`say` is told); `auto` falls back
    /// to tracemalloc when that fails.
    pub fn prepare(
        mode: HeapMode,
        cmd: &ServerCommand,
        run_dir: &Path,
        say: &dyn Fn(&str),
    ) -> anyhow::Result<Option<Tracer>> {
        if mode == HeapMode::Off {
            return Ok(None);
        }
        let path = cmd
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str());
        let program = match (&cmd.cwd, cmd.program.is_relative()) {
            (Some(cwd), true) if cmd.program.components().count() > 1 => cwd.join(&cmd.program),
            _ => cmd.program.clone(),
        };
        let interpreter = python::interpreter_of(&program, path).map_err(|e| {
            ConfigError::flag(
                "--heap",
                format!(
                    "traces Python apps, and this target's command runs {} (not supported yet)",
                    e.runtime
                ),
                "leave --heap out for this target",
            )
        })?;
        let tool = match mode {
            HeapMode::Off => unreachable!("returned above"),
            HeapMode::Tracemalloc => Tool::Tracemalloc,
            HeapMode::Memray | HeapMode::Auto => match python::memray_for(&interpreter, say) {
                Ok(m) => Tool::Memray(m),
                Err(e) if mode == HeapMode::Auto => {
                    say(&format!(
                        "{e}; tracing with tracemalloc instead (it does not see C allocations such as Pillow's images)"
                    ));
                    Tool::Tracemalloc
                }
                Err(e) => {
                    return Err(ConfigError::flag(
                            "--heap",
                            format!("memray cannot be had: {e}"),
                            format!(
                                "install it in the app's environment ({} -m pip install memray=={}), or use --heap tracemalloc",
                                interpreter.display(),
                                python::MEMRAY_VERSION
                            ),
                        )
                        .into());
                }
            },
        };
        let dir = run_dir.join("heap");
        let site = dir.join("site");
        std::fs::create_dir_all(&site).with_context(|| format!("creating {}", site.display()))?;
        std::fs::write(site.join("sitecustomize.py"), SITECUSTOMIZE)
            .with_context(|| format!("writing {}", site.display()))?;
        let dir = dir.canonicalize().unwrap_or(dir);
        Ok(Some(Tracer {
            tool,
            interpreter,
            dir,
        }))
    }

    /// The tracer in words for the start line.
    pub fn describe(&self) -> String {
        match &self.tool {
            Tool::Memray(m) => m.source.clone(),
            Tool::Tracemalloc => "tracemalloc (Python allocations only)".into(),
        }
    }

    /// `cmd` with the tracer in every Python process it starts: a
    /// `sitecustomize` first on its `PYTHONPATH` (`heap/sitecustomize.py`)
    /// starts memray (following forks) or arms tracemalloc at each
    /// interpreter's startup, spawned workers included. The command itself
    /// is unchanged.
    pub fn wrap(&self, cmd: &mut ServerCommand) {
        let site = self.dir.join("site").display().to_string();
        let theirs = cmd
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PYTHONPATH")
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var("PYTHONPATH").ok())
            .filter(|v| !v.is_empty());
        let path = match theirs {
            Some(t) => format!("{site}:{t}"),
            None => site,
        };
        let tool = match &self.tool {
            Tool::Memray(m) => {
                if let Some(p) = &m.path {
                    cmd.env
                        .push(("OOMLAB_MEMRAY_PATH".into(), p.display().to_string()));
                }
                "memray"
            }
            Tool::Tracemalloc => "tracemalloc",
        };
        cmd.env.push(("PYTHONPATH".into(), path));
        cmd.env.push(("OOMLAB_HEAP_TOOL".into(), tool.into()));
        cmd.env
            .push(("OOMLAB_HEAP_DIR".into(), self.dir.display().to_string()));
    }

    /// Tells the tracer the app has answered its readiness check:
    /// tracemalloc starts tracing then (see heap/sitecustomize.py), memray traces
    /// from the start.
    pub fn app_ready(&self) {
        let _ = std::fs::write(self.dir.join("ready"), b"");
    }

    /// Reads the captures once the app has stopped: each process's sites,
    /// with `app_dir` (its working directory) telling its own code apart.
    pub fn read(&self, app_dir: &Path) -> HeapReport {
        let (tool, source, when, blind_spot, script) = match &self.tool {
            Tool::Memray(m) => (
                format!("memray {}", m.version),
                m.source.clone(),
                "each process's high-water mark as memray recorded it, up to the process's end: \
                 for a process killed at the limit, up to the kill (a capture survives SIGKILL)",
                None,
                MEMRAY_SITES,
            ),
            Tool::Tracemalloc => (
                "tracemalloc".to_string(),
                "Python's own tracemalloc (no install)".to_string(),
                "each process's largest snapshot, traced from the app's readiness on (one is \
                 taken whenever its traced memory grows 10% past the last, so a killed process \
                 keeps its last one)",
                Some(
                    "tracemalloc sees Python's own allocations only: C buffers such as Pillow's \
                     decoded images are not counted, so the sites can miss the largest holder \
                     (memray sees them: --heap memray)"
                        .to_string(),
                ),
                TRACEMALLOC_SITES,
            ),
        };
        let mut report = HeapReport {
            tool,
            source,
            when: when.to_string(),
            blind_spot,
            processes: Vec::new(),
            errors: Vec::new(),
        };
        match self.run_reader(script) {
            Ok(captures) => {
                if let Tool::Memray(_) = self.tool {
                    report.tool = format!("memray {}", captures.version);
                }
                let app_dir = app_dir.canonicalize().unwrap_or_else(|_| app_dir.into());
                let sources = your_code::sources(&app_dir);
                report.errors = captures.errors;
                report.processes = captures
                    .processes
                    .into_iter()
                    .map(|p| sites::process(p, &app_dir, &sources))
                    .collect();
                if report.processes.is_empty() && report.errors.is_empty() {
                    report
                        .errors
                        .push(format!("no capture in {}", self.dir.display()));
                }
            }
            Err(e) => report.errors.push(format!("{e:#}")),
        }
        report
    }

    fn run_reader(&self, script: &str) -> anyhow::Result<sites::Captures> {
        let file = self.dir.join("read-sites.py");
        std::fs::write(&file, script)?;
        let out_json = self.dir.join("sites.json");
        let mut c = Command::new(&self.interpreter);
        c.arg(&file)
            .arg(&self.dir)
            .arg(&out_json)
            .arg(RECORDS_READ.to_string());
        if let Tool::Memray(m) = &self.tool {
            c.arg(FLAMEGRAPHS.to_string());
            if let Some(p) = &m.path {
                c.env("OOMLAB_MEMRAY_PATH", p);
            }
        }
        let out = c
            .output()
            .with_context(|| format!("running {}", self.interpreter.display()))?;
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            anyhow::bail!(
                "reading the captures failed: {}",
                err.lines().last().unwrap_or("no message").trim()
            );
        }
        let text = std::fs::read_to_string(&out_json)
            .with_context(|| format!("reading {}", out_json.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", out_json.display()))
    }
}
