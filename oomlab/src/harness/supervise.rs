//! Starting the target, watching it while the load runs, restarting it after
//! a kill, and stopping it at the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::prepare::Limits;
use crate::child::{ExitedBeforeReady, ServerCommand, ServerProcess};
use crate::crash::Crash;
use crate::load::LoadOutcome;
use crate::report::{ExitCause, JobTimes, ServerExit};
use crate::sampler::{self, Sampler, Shared, Watched};
use crate::watchdog::{Restart, Trigger};

/// Why the supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The load finished.
    LoadDone,
    /// The target was killed at the limit and not restarted.
    Killed,
    /// The target exited on its own.
    Crashed,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// `--max-duration` passed.
    TimedOut,
    /// A sidecar the services need (Redis) died and was not restarted.
    SidecarDied,
}

/// Ctrl-C and SIGTERM, registered before anything starts so that a signal
/// during start-up is not lost (nor fatal: without a handler SIGTERM would
/// kill the harness before it could stop the target and write the report).
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Takes over SIGINT and SIGTERM for this process.
    pub fn register() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("handling Ctrl-C")?,
            term: signal(SignalKind::terminate()).context("handling SIGTERM")?,
        })
    }

    /// Resolves on Ctrl-C or SIGTERM.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
    }
}

/// One start of the target, with its sampler and `/debug/memory` poller.
struct Running {
    server: ServerProcess,
    /// The memory cgroup the sampler reads (the systemd scope's, when the
    /// start runs in one).
    cgroup: Option<Arc<crate::cgroup::MemoryCgroup>>,
    sampler: Sampler,
    poller: CancellationToken,
    generation: u32,
    started_at_s: f64,
    ready_after_s: f64,
}

/// What a job's status answer says beyond what the load saw.
#[derive(Debug, Clone, Default)]
pub struct JobDetail {
    /// Memory per stage, as the target measured it.
    pub stages: Vec<memstats::StageMemory>,
    /// Its timestamps, when the target gives them.
    pub times: Option<JobTimes>,
    /// Deliveries of the job to a worker (`attempts`), when the target
    /// says: more than 1 after a worker died with it.
    pub attempts: Option<u32>,
}

/// The target across its starts.
pub struct Supervisor<'a> {
    cmd: &'a ServerCommand,
    limits: &'a Limits,
    shared: Arc<Shared>,
    ready_timeout: Duration,
    running: Option<Running>,
    url: watch::Sender<String>,
    /// How every start ended, in order.
    pub exits: Vec<ServerExit>,
    /// What happened that the report must say.
    pub notes: Vec<String>,
    /// In a systemd scope: the cgroup of the latest start's scope (gone
    /// with it), for `run.json` `limit.cgroup`.
    pub scope_cgroup: Option<std::path::PathBuf>,
}

impl<'a> Supervisor<'a> {
    /// Starts the target once and waits until it is ready. A target that
    /// ends before it is ready is not an error here: the supervisor is
    /// returned without a running target ([`Supervisor::is_running`]) and
    /// the crash in [`Supervisor::exits`], so the run still writes its
    /// report.
    pub async fn start(
        cmd: &'a ServerCommand,
        limits: &'a Limits,
        shared: Arc<Shared>,
        ready_timeout: Duration,
    ) -> anyhow::Result<Supervisor<'a>> {
        let mut this = Supervisor {
            cmd,
            limits,
            shared,
            ready_timeout,
            running: None,
            url: watch::channel(String::new()).0,
            exits: Vec::new(),
            notes: limits.notes.clone(),
            scope_cgroup: None,
        };
        this.start_generation(0).await?;
        Ok(this)
    }

    /// Whether the target is up (it is not after a crash before it was
    /// ready, or a kill that was not followed by a restart).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts generation `generation`; `Ok(false)` when it ended before it
    /// was ready (recorded as a crash), an error when it could not start.
    async fn start_generation(&mut self, generation: u32) -> anyhow::Result<bool> {
        // A target's `[[prepare]]` steps, before every start; a failure
        // stops the run (a harness error, exit 3) naming the step.
        crate::child::prepare::run_all(&self.cmd.prepare, &self.cmd.log).await?;
        let started_at_s = self.shared.now_ms() as f64 / 1000.0;
        match start_once(
            self.cmd,
            self.limits,
            &self.shared,
            self.ready_timeout,
            generation,
        )
        .await
        {
            Ok(r) => {
                self.url.send_replace(r.server.base_url());
                if self.limits.scope.is_some()
                    && let Some(cg) = &r.cgroup
                {
                    self.scope_cgroup = Some(cg.path().to_path_buf());
                }
                self.running = Some(r);
                Ok(true)
            }
            Err(e) => {
                let x = e.downcast::<ExitedBeforeReady>()?;
                let exited_at_s = self.shared.now_ms() as f64 / 1000.0;
                self.notes.push(format!(
                    "start {generation} of the server crashed before it was ready ({}); see the crash section",
                    x.crash.how()
                ));
                self.exits.push(ServerExit {
                    generation,
                    started_at_s,
                    ready_after_s: exited_at_s - started_at_s,
                    exited_at_s,
                    status: x.status.to_string(),
                    cause: ExitCause::Crashed,
                    crash: Some(x.crash),
                });
                Ok(false)
            }
        }
    }

    /// The target's base URL, following restarts.
    pub fn urls(&self) -> watch::Receiver<String> {
        self.url.subscribe()
    }

    /// When a process of any service of the run last died.
    pub fn deaths(&self) -> tokio::sync::watch::Receiver<Option<std::time::Instant>> {
        self.shared.deaths()
    }

    /// Seconds since the run started.
    pub fn now_s(&self) -> f64 {
        self.shared.now_ms() as f64 / 1000.0
    }

    /// The current base URL.
    pub fn base_url(&self) -> String {
        self.url.borrow().clone()
    }

    /// Waits until the current start exits; never resolves when none runs.
    pub(super) async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self.running.as_mut() {
            Some(r) => r.server.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Records an exit and restarts the target when `restart` says so,
    /// while fewer than `max_restarts` restarts were made; how the run ends
    /// when it does not go on (`None`: restarted).
    pub(super) async fn after_exit(
        &mut self,
        status: std::io::Result<std::process::ExitStatus>,
        restart: Restart,
        max_restarts: u32,
    ) -> anyhow::Result<Option<End>> {
        let status = status.context("waiting for the server")?;
        // An app's jobs die with it (what it does on a restart is unknown:
        // the load's lost-job rule decides); the reference server (it
        // publishes `/debug/memory`) recovers its jobs itself (SQLite at
        // start, the Redis queue's leases), so they are waited for until
        // their deadline.
        if !self.cmd.debug_memory {
            self.shared.death();
        }
        // Its last stdout lines into its log before the crash section
        // reads them.
        if let Some(r) = &self.running {
            r.server.output_written().await;
        }
        let cause = self.record_exit(status);
        if cause == ExitCause::Crashed {
            self.notes.push(format!(
                "the server exited on its own ({status}); see the crash section"
            ));
        }
        if !restart.after(cause.is_kill()) {
            return Ok(Some(if cause == ExitCause::Crashed {
                End::Crashed
            } else {
                End::Killed
            }));
        }
        if !self.restart(max_restarts).await {
            // A restart that crashed before it was ready ends the run as a
            // crash, not as the kill before it.
            let crashed = self
                .exits
                .last()
                .is_some_and(|x| x.cause == ExitCause::Crashed);
            return Ok(Some(if crashed { End::Crashed } else { End::Killed }));
        }
        Ok(None)
    }

    /// Records how the current start ended; it is gone afterwards.
    fn record_exit(&mut self, status: std::process::ExitStatus) -> ExitCause {
        let Some(mut running) = self.running.take() else {
            return ExitCause::Crashed;
        };
        running.poller.cancel();
        let by_watchdog = running.sampler.killed();
        // Stopping the sampler lets it see the kernel's OOM counter move.
        std::mem::replace(&mut running.sampler, Sampler::idle()).stop();
        let mut by_cgroup = self.shared.state().oom_events.iter().any(|e| {
            // The kernel's kill of the whole service, or of a worker
            // first and the root after it (SIGKILL in a cgroup whose
            // OOM counter moved).
            e.generation == running.generation
                && e.trigger == Trigger::Cgroup
                && (e.victim.is_none()
                    || std::os::unix::process::ExitStatusExt::signal(&status) == Some(9))
        });
        // A systemd scope is gone once its process died, and its
        // memory.events with it: systemd's record of the unit says.
        if let Some(scope) = &self.limits.scope
            && !by_watchdog
            && !by_cgroup
            && std::os::unix::process::ExitStatusExt::signal(&status) == Some(9)
            && scope.oom_killed(running.generation) == Some(true)
        {
            by_cgroup = true;
            sampler::record_event(
                &self.shared,
                &Watched {
                    pid: running.server.pid(),
                    generation: running.generation,
                    cgroup: running.cgroup.clone(),
                },
                self.shared.now_ms(),
                Trigger::Cgroup,
                true,
                &memstats::ProcMemory::default(),
                None,
            );
        }
        let cause = if by_watchdog {
            ExitCause::Watchdog
        } else if by_cgroup {
            ExitCause::Cgroup
        } else {
            ExitCause::Crashed
        };
        // Before the generation is closed: closing forgets its latest
        // `/debug/memory` reading, which says what the crash interrupted.
        let crash = (cause == ExitCause::Crashed).then(|| self.crash_of(&running, status));
        self.shared.close_generation();
        self.push_exit(&running, status, cause, crash);
        cause
    }

    /// What is known of a start that ended on its own after it was ready:
    /// with the jobs of the latest `/debug/memory` reading of this start.
    fn crash_of(&self, r: &Running, status: std::process::ExitStatus) -> Crash {
        let mut crash = r.server.crash(status, false);
        let st = self.shared.state();
        if let Some(d) = st
            .debug
            .as_ref()
            .filter(|d| d.at_ms as f64 / 1000.0 >= r.started_at_s + r.ready_after_s)
        {
            crash.jobs_in_flight = d.doc.jobs_in_flight.clone();
            crash.jobs_seen_at_s = Some(d.at_ms as f64 / 1000.0);
        }
        crash
    }

    fn push_exit(
        &mut self,
        r: &Running,
        status: std::process::ExitStatus,
        cause: ExitCause,
        crash: Option<Crash>,
    ) {
        self.exits.push(ServerExit {
            generation: r.generation,
            started_at_s: r.started_at_s,
            ready_after_s: r.ready_after_s,
            exited_at_s: self.shared.now_ms() as f64 / 1000.0,
            status: status.to_string(),
            cause,
            crash,
        });
    }

    /// Starts the target again after a kill; `false` when it is not to be
    /// (no restarts left) or could not be.
    async fn restart(&mut self, max_restarts: u32) -> bool {
        let generation = self.exits.last().map_or(0, |x| x.generation) + 1;
        if generation > max_restarts {
            if max_restarts > 0 {
                self.notes.push(format!(
                    "gave up after {max_restarts} restarts (--max-restarts)"
                ));
            }
            return false;
        }
        match self.start_generation(generation).await {
            Ok(up) => up,
            Err(e) => {
                self.notes
                    .push(format!("restarting the server failed: {e:#}"));
                false
            }
        }
    }

    /// Asks the target, while it is still up, what each job cost and when
    /// it ran (`GET /api/jobs/{id}`).
    pub async fn job_details(&self, outcome: &LoadOutcome) -> HashMap<String, JobDetail> {
        let mut out = HashMap::new();
        if self.running.is_none() {
            return out;
        }
        let Ok(client) = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
        else {
            return out;
        };
        let base = self.base_url();
        for j in &outcome.jobs {
            let url = format!("{base}/api/jobs/{}", j.job_id);
            let Ok(r) = client.get(&url).send().await else {
                continue;
            };
            let Ok(v) = r.json::<serde_json::Value>().await else {
                continue;
            };
            let stages = v
                .get("stages")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default();
            let times: Option<JobTimes> = serde_json::from_value(v.clone())
                .ok()
                .filter(|t: &JobTimes| t.created_at.is_some());
            let attempts = v
                .get("attempts")
                .and_then(serde_json::Value::as_u64)
                .and_then(|a| u32::try_from(a).ok());
            out.insert(
                j.job_id.clone(),
                JobDetail {
                    stages,
                    times,
                    attempts,
                },
            );
        }
        out
    }

    /// Stops the target (SIGTERM, then SIGKILL after `grace`) and records
    /// how it ended.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<()> {
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        running.poller.cancel();
        std::mem::replace(&mut running.sampler, Sampler::idle()).stop();
        // The watchdog may have killed it after the load ended (a kill of
        // one process of its tree is not a kill of the service).
        let killed = self
            .shared
            .state()
            .oom_events
            .iter()
            .any(|e| e.generation == running.generation && e.killed && e.victim.is_none());
        let status = running.server.stop(grace).await?;
        let cause = if killed {
            ExitCause::Watchdog
        } else {
            ExitCause::Stopped
        };
        self.push_exit(&running, status, cause, None);
        Ok(())
    }
}

async fn start_once(
    cmd: &ServerCommand,
    limits: &Limits,
    shared: &Arc<Shared>,
    ready_timeout: Duration,
    generation: u32,
) -> anyhow::Result<Running> {
    let t = Instant::now();
    let started_at_s = shared.now_ms() as f64 / 1000.0;
    let scoped;
    let cmd = match &limits.scope {
        Some(scope) => {
            let (program, args) = scope.wrap(&cmd.program, &cmd.args, generation);
            scoped = ServerCommand {
                program,
                args,
                ..cmd.clone()
            };
            &scoped
        }
        None => cmd,
    };
    let server = ServerProcess::start_in(cmd, ready_timeout, limits.cgroup_procs()?).await?;
    // In a systemd scope, the server's cgroup is the scope's: `systemd-run
    // --scope` executed the server in the process oomlab spawned.
    let cgroup = match &limits.scope {
        Some(scope) => scope
            .cgroup_of(server.pid())
            .map(|p| Arc::new(crate::cgroup::MemoryCgroup::observed(p))),
        None => limits.cgroup.clone(),
    };
    let sampler = Sampler::start(
        shared.clone(),
        Watched {
            pid: server.pid(),
            generation,
            cgroup: cgroup.clone(),
        },
    );
    let poller = CancellationToken::new();
    // Only the reference server publishes /debug/memory; polling another
    // app would count an error every 100 ms.
    if cmd.debug_memory {
        tokio::spawn(sampler::poll_debug(
            shared.clone(),
            server.base_url(),
            generation,
            poller.clone(),
        ));
    }
    Ok(Running {
        server,
        cgroup,
        sampler,
        poller,
        generation,
        started_at_s,
        ready_after_s: t.elapsed().as_secs_f64(),
    })
}
