//! The services of a run and the sidecars they need.
//!
//! A run measures one or more services, each with its own command, limit
//! (and cgroup), samples, log, supervisor and restart policy: the target
//! alone, or, split (`--split`), the reference server's web and worker
//! roles on a Redis queue. Sidecars are what the services need but the run
//! does not measure against a limit: the fake Cloudinary (in this process)
//! and Redis (a child process, watched like a service: its death is
//! noticed at once and ends the run or, with `--restart always`, is
//! followed by a restart on the same port from its append-only file).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::prepare::Limits;
use super::{RunConfig, Split};
use crate::app_target::Placement;
use crate::child::ServerCommand;
use crate::redis_server::{RedisOptions, RedisServer};
use crate::report::Files;
use crate::report::services::Service;
use crate::report::split::{ApiChecks, RedisReport, RedisSample, SidecarExit};
use crate::sampler::Shared;

/// How often Redis's memory and the web service's `/healthz` are read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One measured service of a run, before it starts.
pub struct ServiceSpec {
    /// Which.
    pub service: Service,
    /// Its limit, bytes.
    pub limit: u64,
    /// Its samples, relative to the run's folder.
    pub samples_csv: PathBuf,
    /// Its output, relative to the run's folder.
    pub log: PathBuf,
}

/// The services of `cfg`, in start order: the one the load talks to first
/// (the web service creates the database the worker reads); the last is
/// the one the report's top-level figures are of (where the reports are
/// built).
pub fn specs(cfg: &RunConfig, files: &Files) -> Vec<ServiceSpec> {
    match &cfg.split {
        None => vec![ServiceSpec {
            service: Service::Server,
            limit: cfg.limit,
            samples_csv: files.samples_csv.clone(),
            log: files.server_log.clone(),
        }],
        Some(Split { web_limit }) => vec![
            ServiceSpec {
                service: Service::Web,
                limit: *web_limit,
                samples_csv: "samples-web.csv".into(),
                log: "server-web.log".into(),
            },
            ServiceSpec {
                service: Service::Worker,
                limit: cfg.limit,
                samples_csv: files.samples_csv.clone(),
                log: files.server_log.clone(),
            },
        ],
    }
}

/// The limits of each service: the first prepared as the run asks, each
/// other with its own limit and cgroup.
pub fn limits(cfg: &RunConfig, specs: &[ServiceSpec]) -> anyhow::Result<Vec<Limits>> {
    specs
        .iter()
        .map(|s| {
            let suffix = match s.service {
                Service::Server => String::new(),
                other => format!("-{}", other.as_str()),
            };
            Limits::prepare_for(cfg, s.limit, &suffix)
        })
        .collect()
}

/// The command of `spec`: the target's, in its role, on the Redis queue
/// when there is one.
pub fn command(
    cfg: &RunConfig,
    spec: &ServiceSpec,
    at: &Placement,
    redis: Option<&RedisServer>,
) -> anyhow::Result<ServerCommand> {
    let role = match spec.service {
        Service::Server => None,
        other => Some(other.as_str()),
    };
    let mut cmd = cfg.target.command_in_role(at, role)?;
    if let Some(redis) = redis {
        cmd.env
            .push(("REPORT_SERVER__QUEUE__BACKEND".into(), "redis".into()));
        cmd.env
            .push(("REPORT_SERVER__QUEUE__URL".into(), redis.url()));
    }
    Ok(cmd)
}

/// Redis as a sidecar of a split run: started with an append-only file
/// (fsync every second), watched, restarted per the run's policy.
pub struct Redis {
    pub server: RedisServer,
    /// Every death, in order.
    pub exits: Vec<SidecarExit>,
}

impl Redis {
    /// Starts Redis for `cfg`'s split run; `None` for a run without one.
    pub async fn start(cfg: &RunConfig) -> anyhow::Result<Option<Redis>> {
        if cfg.split.is_none() {
            return Ok(None);
        }
        let server = RedisServer::start(&RedisOptions {
            durable: true,
            max_memory: None,
        })
        .await
        .context("starting Redis, the queue of the split run")?;
        Ok(Some(Redis {
            server,
            exits: Vec::new(),
        }))
    }

    /// Waits until Redis dies; never resolves when there is none.
    pub async fn died(redis: &mut Option<Redis>) -> std::io::Result<std::process::ExitStatus> {
        match redis.as_mut() {
            Some(r) => r.server.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Records its death at `at_s` and restarts it when `restart` is
    /// true; whether it runs again.
    pub async fn after_death(
        &mut self,
        status: std::io::Result<std::process::ExitStatus>,
        at_s: f64,
        restart: bool,
    ) -> bool {
        let status = status.map_or_else(|e| format!("unknown ({e})"), |s| s.to_string());
        let mut exit = SidecarExit {
            name: "redis".into(),
            at_s,
            status,
            restarted: false,
            restart_error: None,
        };
        if restart {
            match self.server.restart().await {
                Ok(()) => exit.restarted = true,
                Err(e) => exit.restart_error = Some(format!("{e:#}")),
            }
        }
        let up = exit.restarted;
        self.exits.push(exit);
        up
    }
}

/// What the pollers saw.
#[derive(Debug, Default)]
pub struct Polls {
    redis: Vec<RedisSample>,
    redis_errors: u64,
    /// Each `/healthz` check: when (seconds), and whether it answered 2xx.
    api: Vec<(f64, bool)>,
}

impl Polls {
    /// Redis's memory through the run, and its deaths.
    pub fn redis_report(&self, program: String, exits: Vec<SidecarExit>) -> RedisReport {
        let peak = self
            .redis
            .iter()
            .max_by_key(|s| s.used_memory_bytes)
            .copied();
        RedisReport {
            program,
            peak_used_memory_bytes: peak.map(|p| p.used_memory_bytes),
            peak_at_s: peak.map(|p| p.t_s),
            samples: self.redis.clone(),
            errors: self.redis_errors,
            exits,
        }
    }

    /// The API's answers, overall and after the worker's first kill.
    pub fn api_checks(&self, worker_kill_s: Option<f64>) -> ApiChecks {
        let mut a = ApiChecks::default();
        for &(t, ok) in &self.api {
            a.checks += 1;
            a.answered += u64::from(ok);
            if worker_kill_s.is_some_and(|k| t >= k) {
                a.checks_since_worker_kill += 1;
                a.answered_since_worker_kill += u64::from(ok);
            }
        }
        a
    }
}

/// Reads Redis's `used_memory` and checks the web service's `/healthz`
/// every [`POLL_INTERVAL`] until `cancel`. Bounded by the run's
/// `--max-duration`: two small records per 250 ms.
pub async fn poll_until_cancelled(
    redis_url: String,
    web: watch::Receiver<String>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> Polls {
    let mut polls = Polls::default();
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .build()
    else {
        return polls;
    };
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return polls,
            _ = tick.tick() => {}
        }
        let t_s = shared.now_ms() as f64 / 1000.0;
        let url = redis_url.clone();
        let used = tokio::task::spawn_blocking(move || crate::redis_server::used_memory(&url));
        let health = client
            .get(format!("{}/healthz", web.borrow().trim_end_matches('/')))
            .send();
        let (used, health) = tokio::join!(used, health);
        match used {
            Ok(Ok(bytes)) => polls.redis.push(RedisSample {
                t_s,
                used_memory_bytes: bytes,
            }),
            _ => polls.redis_errors += 1,
        }
        polls
            .api
            .push((t_s, health.is_ok_and(|r| r.status().is_success())));
    }
}
