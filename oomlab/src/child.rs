//! The server child process, owned by a handle that kills it on drop.
//!
//! The child runs in its own process group (so a kill reaches anything it
//! started), asks the kernel to SIGKILL it when the harness's thread that
//! spawned it dies (`PR_SET_PDEATHSIG`: this covers the harness being killed
//! or calling `exit` without running destructors, as goose does on a second
//! Ctrl-C), and is ready when it prints its ready line
//! `{"event":"ready","addr":"127.0.0.1:PORT","pid":N}` on stdout.
//!
//! So that a crash can be diagnosed, the child starts with
//! `RUST_BACKTRACE=1` (unless set already) and with its core size limit
//! raised to the hard limit; a start that ends before it is ready is an
//! [`ExitedBeforeReady`] error carrying the [`Crash`].

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use crate::crash::{Crash, Started};

pub mod prepare;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Where its stdout (after the ready line) and stderr go, appended.
    pub log: PathBuf,
    /// Its working directory; `None`: the harness's.
    pub cwd: Option<PathBuf>,
    /// Variables added to the harness's environment.
    pub env: Vec<(String, String)>,
    /// How it is seen to be ready.
    pub readiness: Readiness,
    /// The signal that asks it to stop at the end of a run.
    pub stop_signal: Signal,
    /// Whether it publishes `GET /debug/memory` (the reference server does).
    pub debug_memory: bool,
    /// Run before every start (a target's `[[prepare]]`).
    pub prepare: Vec<prepare::PrepareStep>,
}

/// How a started process is seen to be ready.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// It prints the ready line (`memstats::ReadyLine`) on stdout, with the
    /// address it listens on.
    ReadyLine,
    /// `GET url` answers 2xx; it listens on `addr`.
    Http {
        /// Where it listens.
        addr: SocketAddr,
        /// The URL polled every 100 ms.
        url: String,
    },
    /// A line of its output (stdout or stderr) matches; it listens on
    /// `addr`.
    LogLine {
        /// Where it listens.
        addr: SocketAddr,
        /// The pattern.
        pattern: regex::Regex,
    },
}

impl ServerCommand {
    /// A reference-server-like command: ready when it prints its ready
    /// line, stopped with SIGTERM, publishing `/debug/memory`.
    pub fn new(program: PathBuf, args: Vec<OsString>, log: PathBuf) -> ServerCommand {
        ServerCommand {
            program,
            args,
            log,
            cwd: None,
            env: Vec::new(),
            readiness: Readiness::ReadyLine,
            stop_signal: Signal::SIGTERM,
            debug_memory: true,
            prepare: Vec::new(),
        }
    }

    /// The command line, for reports.
    pub fn display(&self) -> Vec<String> {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect()
    }
}

/// A running server child. Dropping it kills its process group.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
    exited: Option<ExitStatus>,
    stop_signal: Signal,
    cwd: PathBuf,
    started: SystemTime,
    core_limit: Option<u64>,
    /// True once everything it wrote on stdout is in its log.
    stdout_done: watch::Receiver<bool>,
}

/// The target ended before it was ready; the error of
/// [`ServerProcess::start`] that says how (`anyhow::Error::downcast_ref`).
#[derive(Debug)]
pub struct ExitedBeforeReady {
    /// What is known of the crash.
    pub crash: Crash,
    /// The exit status, as the OS reported it.
    pub status: ExitStatus,
}

impl std::fmt::Display for ExitedBeforeReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines = if self.crash.last_lines.is_empty() {
            "(nothing in its output)".to_string()
        } else {
            self.crash.last_lines.join("\n")
        };
        write!(
            f,
            "the server exited before it was ready ({}; {}); its last lines:\n{lines}",
            self.crash.how(),
            self.crash.core_sentence()
        )
    }
}

impl std::error::Error for ExitedBeforeReady {}

impl ServerProcess {
    /// Starts the server and waits at most `ready_timeout` for its ready line.
    /// With `cgroup_procs` (an open `cgroup.procs` of a cgroup the harness
    /// created), the child joins that cgroup before it executes the server.
    pub async fn start(
        cmd: &ServerCommand,
        ready_timeout: Duration,
        cgroup_procs: Option<File>,
    ) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_in(cmd, ready_timeout, cgroup_procs.into_iter().collect()).await
    }

    /// [`ServerProcess::start`] joining every cgroup in `cgroup_procs` (open
    /// `cgroup.procs` files of cgroups the harness created, e.g. a memory
    /// and a CPU cgroup) before it executes the server.
    pub async fn start_in(
        cmd: &ServerCommand,
        ready_timeout: Duration,
        cgroup_procs: Vec<File>,
    ) -> anyhow::Result<ServerProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cmd.log)
            .with_context(|| format!("opening the server log {}", cmd.log.display()))?;
        let mut command = Command::new(&cmd.program);
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        command.envs(cmd.env.iter().map(|(k, v)| (k, v)));
        // A panic's backtrace in server.log, unless the user chose otherwise.
        if std::env::var_os("RUST_BACKTRACE").is_none()
            && !cmd.env.iter().any(|(k, _)| k == "RUST_BACKTRACE")
        {
            command.env("RUST_BACKTRACE", "1");
        }
        let core_limit = core_limit();
        command
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone()?))
            .process_group(0)
            .kill_on_drop(true);
        prepare_child(&mut command, cgroup_procs, core_limit);
        let started = SystemTime::now();
        let mut child = command.spawn().with_context(|| {
            format!(
                "starting the server `{}`: check that it exists and is executable (--server-bin)",
                cmd.program.display()
            )
        })?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, stdout_done) = watch::channel(false);
        tokio::spawn(forward_stdout(stdout, log, ready_tx, done_tx));
        let ready_rx = wait_ready(cmd.readiness.clone(), ready_rx, cmd.log.clone());

        let mut this = ServerProcess {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: cmd.log.clone(),
            exited: None,
            stop_signal: Signal::SIGTERM,
            cwd: match &cmd.cwd {
                Some(d) => d.clone(),
                None => std::env::current_dir().unwrap_or_default(),
            },
            started,
            core_limit,
            stdout_done,
        };
        let outcome = tokio::select! {
            r = tokio::time::timeout(ready_timeout, ready_rx) => r,
            status = this.child.wait() => {
                let status = status?;
                this.exited = Some(status);
                this.output_written().await;
                return Err(ExitedBeforeReady { crash: this.crash(status, true), status }.into());
            }
        };
        match outcome {
            Ok(Ok(Ready::Line(line))) => {
                let ready = memstats::ReadyLine::parse(&line).context("the server's ready line")?;
                this.addr = ready.addr;
                this.stop_signal = cmd.stop_signal;
                Ok(this)
            }
            Ok(Ok(Ready::At(addr))) => {
                this.addr = addr;
                this.stop_signal = cmd.stop_signal;
                Ok(this)
            }
            Ok(Err(_)) => {
                // stdout closed without a ready line: the server is exiting.
                let status = tokio::time::timeout(Duration::from_secs(5), this.child.wait()).await;
                if let Ok(Ok(status)) = status {
                    this.exited = Some(status);
                    this.output_written().await;
                    return Err(ExitedBeforeReady {
                        crash: this.crash(status, true),
                        status,
                    }
                    .into());
                }
                bail!(
                    "the server closed its output before it was ready ({}); its last lines:\n{}",
                    status
                        .map(|s| s.map(|s| s.to_string()).unwrap_or_default())
                        .unwrap_or_else(|_| "still running".into()),
                    tail(&this.log, 20)
                );
            }
            Err(_) => bail!(
                "the server was not ready within {:?} ({}); its last lines:\n{}",
                ready_timeout,
                match &cmd.readiness {
                    Readiness::ReadyLine => "no ready line on stdout".to_string(),
                    Readiness::Http { url, .. } => format!("GET {url} never answered 2xx"),
                    Readiness::LogLine { pattern, .. } =>
                        format!("no line of its output matched `{pattern}`"),
                },
                tail(&this.log, 20)
            ),
        }
    }

    /// Waits, at most 1 s, until everything it wrote on stdout is in its
    /// log. A task copies stdout there and can lag behind the process's end
    /// (a line printed just before a crash); read the log's last lines
    /// after this. The wait ends early when its stdout closes.
    pub async fn output_written(&self) {
        let mut done = self.stdout_done.clone();
        let _ = tokio::time::timeout(Duration::from_secs(1), done.wait_for(|d| *d)).await;
    }

    /// What is known of its end by `status` (its own, not the harness's
    /// kill): the signal, its last lines, its core file (moved into the
    /// folder of its log when written into its working directory). Await
    /// [`ServerProcess::output_written`] first.
    pub fn crash(&self, status: ExitStatus, before_ready: bool) -> Crash {
        Crash::examine(
            status,
            &Started {
                pid: self.pid,
                cwd: self.cwd.clone(),
                at: self.started,
                log: &self.log,
                keep_in: self.log.parent(),
                core_limit: self.core_limit,
            },
            before_ready,
        )
    }

    /// The server's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The address from its ready line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server exits; returns at once if it already has.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(s) = self.exited {
            return Ok(s);
        }
        let s = self.child.wait().await?;
        self.exited = Some(s);
        Ok(s)
    }

    /// SIGKILL to the whole tree and process group (a no-op once reaped).
    pub fn kill(&self) {
        if self.exited.is_none() {
            kill_tree(self.pid);
        }
    }

    /// Its stop signal (SIGTERM unless the target says otherwise), then
    /// SIGKILL to the whole tree after `grace`; returns the exit status.
    pub async fn stop(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        if self.exited.is_none() {
            let _ = killpg(Pid::from_raw(self.pid as i32), self.stop_signal);
            if let Ok(s) = tokio::time::timeout(grace, self.wait()).await {
                return s;
            }
            self.kill();
        }
        self.wait().await
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        // Reap it if it is gone already, so no zombie stays behind;
        // otherwise tokio's orphan queue reaps it (kill_on_drop).
        let _ = self.child.try_wait();
    }
}

/// SIGKILL to process group `pgid`. The group id is the server's pid, which
/// cannot be reused before the harness reaps the server.
pub fn kill_group(pgid: u32) {
    let _ = killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL);
}

/// SIGKILL to the whole tree of `root` (the measured unit): every
/// descendant, including any that left the process group (`setsid`, a
/// daemonising worker), then the group. The sampler thread calls this when
/// the limit is crossed. The tree is walked before anything is killed, as a
/// killed parent's children are handed to another parent.
pub fn kill_tree(root: u32) {
    let pids = memstats::process_tree(root);
    for pid in pids.iter().rev() {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    kill_group(root);
}

/// The core size limit the child is given: the harness's hard limit (an
/// unprivileged process may raise its soft limit up to it). `None` when it
/// cannot be read; `u64::MAX` is unlimited.
fn core_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit};
    getrlimit(Resource::RLIMIT_CORE).ok().map(|(_, hard)| hard)
}

/// Death signal, core size limit and cgroup placement, run in the child
/// between `fork` and `exec`.
///
/// The core limit is set here rather than with `prlimit` on the child's pid
/// after the spawn: a target that crashes at once (the crash of issue 17
/// came before the ready line) would otherwise die before its limit was
/// raised and leave no core. This adds no `unsafe` block of its own: it is
/// one more system call in the closure that already places the child.
#[allow(unsafe_code)]
pub(crate) fn prepare_child(
    command: &mut Command,
    cgroup_procs: Vec<File>,
    core_limit: Option<u64>,
) {
    // SAFETY: the closure runs in the forked child before exec and calls only
    // functions that are single system calls (prctl, setrlimit, write) on
    // values and a file descriptor made before the fork; it allocates
    // nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if let Some(hard) = core_limit {
                // Refused (a container's seccomp profile, say): no core,
                // and the start goes on; the crash report says none was
                // written.
                let _ = nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_CORE,
                    hard,
                    hard,
                );
            }
            for f in &cgroup_procs {
                // `0` is the writing process: the child moves itself, nothing
                // else moves.
                nix::unistd::write(f, b"0")?;
            }
            Ok(())
        });
    }
}

/// How a start became ready.
enum Ready {
    /// Its ready line.
    Line(String),
    /// Seen ready from outside; it listens there.
    At(SocketAddr),
}

/// Resolves when the process is ready by `readiness`; an error when its
/// stdout closed before a ready line.
async fn wait_ready(
    readiness: Readiness,
    line: oneshot::Receiver<String>,
    log: PathBuf,
) -> Result<Ready, oneshot::error::RecvError> {
    match readiness {
        Readiness::ReadyLine => line.await.map(Ready::Line),
        Readiness::Http { addr, url } => {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default();
            loop {
                if let Ok(r) = client.get(&url).send().await
                    && r.status().is_success()
                {
                    return Ok(Ready::At(addr));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Readiness::LogLine { addr, pattern } => loop {
            // The log holds stdout and stderr; it is small while starting.
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().any(|l| pattern.is_match(l)) {
                return Ok(Ready::At(addr));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        },
    }
}

/// Sends the first stdout line to `ready`, then appends every line to `log`
/// so the pipe never fills; says `done` when stdout is closed.
async fn forward_stdout(
    stdout: tokio::process::ChildStdout,
    mut log: File,
    ready: oneshot::Sender<String>,
    done: watch::Sender<bool>,
) {
    let mut lines = BufReader::new(stdout).lines();
    let mut ready = Some(ready);
    while let Ok(Some(line)) = lines.next_line().await {
        if ready.is_some() && memstats::ReadyLine::parse(&line).is_ok() {
            let _ = ready.take().map(|r| r.send(line.clone()));
        }
        // One write per line: the server's stderr appends to the same file,
        // and `writeln!` on a `File` may write the line and its newline
        // apart, letting a log line land between them (a ready line read
        // back from server.log then had a log line on its end).
        let _ = log.write_all(format!("{line}\n").as_bytes());
    }
    let _ = done.send(true);
}

/// The last `n` lines of `path`, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let out = lines[start..].join("\n");
    if out.is_empty() {
        format!("(nothing in {})", path.display())
    } else {
        out
    }
}
