//! A throwaway Redis server for the split (web + worker) configuration: the
//! queue between the two services, a real `redis-server` (or `valkey-server`)
//! process, never the harness's own code.
//!
//! Notes:
//! - Redis has no `--port 0`: a free loopback port is found by binding
//!   `127.0.0.1:0` and releasing it, then handed to the server. Another
//!   process may take it in between, so a start that exits before it answers
//!   is retried on a fresh port (a bounded number of times).
//! - The data lives in a temporary directory removed with the handle; no RDB
//!   snapshots (`--save ''`); the append-only file is on when the queue must
//!   survive a restart of Redis itself (`durable`), with `everysec` fsync.
//! - Like the target, the server runs in its own process group with
//!   `PR_SET_PDEATHSIG` (see [`crate::child`]), and the handle stops it on
//!   drop: `SHUTDOWN NOSAVE`, then SIGTERM, then SIGKILL, and reaps it, so no
//!   process is left behind whatever the harness does.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// The executables tried, in order, on `PATH` (`OOMLAB_REDIS_SERVER` names
/// one explicitly).
const BINARIES: [&str; 2] = ["redis-server", "valkey-server"];
/// Fresh ports tried when a start dies before answering.
const START_ATTEMPTS: usize = 5;
/// How long a start may take to answer `PING`.
const READY_DEADLINE: Duration = Duration::from_secs(10);
/// How long `SHUTDOWN` and then SIGTERM each get before the next step.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How to start Redis.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Keep an append-only file (fsync every second), so queued jobs survive
    /// a restart of Redis; off, a Redis restart loses the queue.
    pub durable: bool,
    /// `maxmemory` in bytes; `None`: unlimited (Redis's default).
    pub max_memory: Option<u64>,
}

/// A running Redis server on a loopback port, stopped on drop.
pub struct RedisServer {
    child: Option<Child>,
    pid: u32,
    port: u16,
    program: PathBuf,
    options: RedisOptions,
    // Removed after the server is stopped (field order: `child` is dropped
    // first, but `Drop::drop` stops the server before either).
    dir: tempfile::TempDir,
}

/// The Redis executable on this machine, if any.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OOMLAB_REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    BINARIES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl RedisServer {
    /// Start Redis on a free loopback port and wait until it answers `PING`.
    pub async fn start(options: &RedisOptions) -> anyhow::Result<RedisServer> {
        let Some(program) = find_binary() else {
            bail!(
                "no redis-server or valkey-server on PATH: install it (Debian: \
                 `apt-get install -y redis-server`) or name it in OOMLAB_REDIS_SERVER"
            );
        };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match RedisServer::start_once(&program, options).await {
                Ok(server) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt").context(format!(
            "starting {} ({START_ATTEMPTS} ports tried)",
            program.display()
        )))
    }

    async fn start_once(program: &Path, options: &RedisOptions) -> anyhow::Result<RedisServer> {
        let port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("oomlab-redis-")
            .tempdir()
            .context("creating Redis's temporary directory")?;
        let child = spawn(program, port, dir.path(), options)?;
        let pid = child.id().context("Redis exited at once")?;
        let mut server = RedisServer {
            child: Some(child),
            pid,
            port,
            program: program.to_path_buf(),
            options: options.clone(),
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Waits until Redis exits (killed, or crashed); never resolves once
    /// it was stopped.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self.child.as_mut() {
            Some(c) => {
                let status = c.wait().await;
                self.child = None;
                status
            }
            None => std::future::pending().await,
        }
    }

    /// Starts Redis again after it died, on the same port and in the same
    /// folder: with the append-only file (`durable`) the queue comes back
    /// as it was at the last fsync.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let child = spawn(&self.program, self.port, self.dir.path(), &self.options)?;
        self.pid = child.id().context("Redis exited at once")?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let log = self.dir.path().join("redis.log");
        let port = self.port;
        self.answers_ping().await.map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            e.context(format!(
                "Redis on port {port} did not answer PING; its log ends: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        })
    }

    async fn answers_ping(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("Redis exited ({status}) before answering");
            }
            let url = self.url();
            let answered = tokio::task::spawn_blocking(move || ping(&url)).await?;
            match answered {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(e.context(format!("no PING answer in {READY_DEADLINE:?}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// `redis://127.0.0.1:PORT/`, what the server's `queue.url` takes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The executable that was started.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Its data directory (removed when the handle is dropped).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop it: `SHUTDOWN NOSAVE`, then SIGTERM, then SIGKILL, each with a
    /// grace period; the process is reaped before this returns.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let url = self.url();
        // SHUTDOWN closes the connection instead of answering: an error here
        // is the normal case, the exit below is what counts.
        let _ = tokio::task::spawn_blocking(move || shutdown_nosave(&url)).await;
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // `stop` was not awaited (an error path or a panic): no time for a
        // graceful shutdown, the data is throwaway anyway.
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            // Reap it so no zombie is left; SIGKILL makes this quick.
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Starts `program` on `port` with its files in `dir`.
fn spawn(program: &Path, port: u16, dir: &Path, options: &RedisOptions) -> anyhow::Result<Child> {
    let mut command = Command::new(program);
    command
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
        .arg("--dir")
        .arg(dir)
        .args(["--save", ""])
        .args(["--appendonly", if options.durable { "yes" } else { "no" }])
        .args(["--appendfsync", "everysec", "--daemonize", "no"])
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(bytes) = options.max_memory {
        command.arg("--maxmemory").arg(bytes.to_string());
    }
    crate::child::prepare_child(&mut command, Vec::new(), None);
    command
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn connect(url: &str) -> anyhow::Result<redis::Connection> {
    let client = redis::Client::open(url)?;
    let conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(conn)
}

fn ping(url: &str) -> anyhow::Result<()> {
    let mut conn = connect(url)?;
    let pong: String = redis::cmd("PING").query(&mut conn)?;
    if pong != "PONG" {
        bail!("PING answered {pong:?}");
    }
    Ok(())
}

fn shutdown_nosave(url: &str) -> anyhow::Result<()> {
    let mut conn = connect(url)?;
    redis::cmd("SHUTDOWN").arg("NOSAVE").exec(&mut conn)?;
    Ok(())
}

/// Redis's own figure of its memory: `used_memory` of `INFO memory`, in
/// bytes (what it allocated, through its allocator).
pub fn used_memory(url: &str) -> anyhow::Result<u64> {
    let mut conn = connect(url)?;
    let info: String = redis::cmd("INFO").arg("memory").query(&mut conn)?;
    parse_used_memory(&info).context("INFO memory has no used_memory line")
}

fn parse_used_memory(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("used_memory:"))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_memory_is_read_from_its_own_line_not_the_human_or_peak_ones() {
        let info = "# Memory\r\nused_memory_human:1.02M\r\nused_memory:1069056\r\nused_memory_peak:2000000\r\n";
        assert_eq!(parse_used_memory(info), Some(1_069_056));
        assert_eq!(parse_used_memory("# Memory\r\n"), None);
    }
}
