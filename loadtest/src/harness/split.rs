//! A split run (`oomlab run --split`): the reference server as the platform
//! deploys it when the reports move to a background worker: a Redis queue
//! (the harness's own throwaway `redis-server`), the web role (the API; the
//! load talks to it) and the worker role (builds the reports), the two roles
//! as two measured processes of the same profile with
//! `queue.backend = "redis"`.
//!
//! Each service has its own [`Supervisor`], [`Shared`] sampler state and
//! limit, so the watchdog kills and `--restart-on-oom` restarts only the
//! service that crossed its limit; the load follows the web service's URL
//! across its restarts. Redis's `used_memory` and the web service's
//! `/healthz` are polled every [`POLL_INTERVAL`] through the run: the report
//! says how much memory the queue took and whether the API answered after
//! the worker was killed.
//!
//! The report's top-level figures are the worker's (it is where the memory
//! goes); the web service's, Redis's and the jobs' are in its `split` part.
//! Both roles share the run's data folder (the SQLite file: job state is
//! there, as on one machine).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::prepare::Limits;
use super::supervise::{End, JobDetail, Signals, Supervisor};
use super::{Output, RunConfig, RunOutput, assemble, collect_load, run_dir, settle, start_fake};
use crate::child::ServerCommand;
use crate::load::{CloudinaryTarget, LoadOutcome, LoadTarget, run_load};
use crate::redis_server::{RedisOptions, RedisServer};
use crate::report::split::{
    ApiChecks, RedisReport, RedisSample, Service, ServiceInputs, ServiceReport, SplitJobs,
    SplitReport, summary,
};
use crate::report::{Files, Outcome, RunReport};
use crate::sampler::Shared;
use crate::target::Placement;

/// How often Redis's memory and the web service's `/healthz` are read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The web service's samples, next to the worker's `samples.csv`.
const WEB_SAMPLES: &str = "samples-web.csv";
/// The web service's output, next to the worker's `server.log`.
const WEB_LOG: &str = "server-web.log";

/// What a split run adds to a run's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The web service's limit, bytes (the worker's is `RunConfig::limit`).
    pub web_limit: u64,
}

/// Runs `cfg` split into web and worker, and writes its report.
pub(super) async fn run(cfg: &RunConfig, split: &Split) -> anyhow::Result<RunOutput> {
    let mut signals = Signals::register()?;
    let limits = Limits::prepare(cfg)?;
    let web_limits = limits.sibling(split.web_limit);
    let started_at = chrono::Utc::now();
    let name = format!("{}-split", cfg.target.name());
    let dir = run_dir(&cfg.out, &started_at, &name, &cfg.scenario.name)?;
    if cfg.output != Output::Silent {
        eprintln!(
            "oomlab: {} on {} as web + worker on Redis, limits web {} and worker {} ({}); writing {}",
            cfg.target.name(),
            cfg.scenario.name,
            crate::units::mb(web_limits.limit),
            crate::units::mb(limits.limit),
            limits.enforce.as_str(),
            dir.display()
        );
    }
    let _silenced = (cfg.output == Output::Silent).then(crate::silence::StdoutSilenced::new);
    let files = Files::standard();
    let shared = Shared::new(limits.limit, limits.enforce, &dir.join(&files.samples_csv))?;
    let web_shared = shared.sibling(web_limits.limit, &dir.join(WEB_SAMPLES))?;

    let redis = RedisServer::start(&RedisOptions::default())
        .await
        .context("starting Redis, the queue of the split run")?;
    let (fake, cloudinary) = start_fake(cfg, &dir).await?;
    let placement = |log: PathBuf| Placement {
        data_dir: dir.join("server-data"),
        cloudinary_base_url: cloudinary.base_url.clone(),
        cloudinary_cloud_name: cloudinary.cloud_name.clone(),
        log,
    };
    let web_cmd = role_command(cfg, &placement(dir.join(WEB_LOG)), "web", &redis)?;
    let worker_cmd = role_command(
        cfg,
        &placement(dir.join(&files.server_log)),
        "worker",
        &redis,
    )?;

    let stop_live = CancellationToken::new();
    let live = (cfg.output == Output::Terminal && crate::live::enabled()).then(|| {
        tokio::spawn(crate::live::draw_until_cancelled(
            shared.clone(),
            stop_live.clone(),
        ))
    });

    // The web service first: it creates the database the worker reads.
    let mut web =
        Supervisor::start(&web_cmd, &web_limits, web_shared.clone(), cfg.ready_timeout).await?;
    let mut worker =
        Supervisor::start(&worker_cmd, &limits, shared.clone(), cfg.ready_timeout).await?;
    let stop_polls = CancellationToken::new();
    let polls = tokio::spawn(poll_until_cancelled(
        redis.url(),
        web.urls(),
        web_shared.clone(),
        stop_polls.clone(),
    ));

    let both = Services {
        web: &mut web,
        worker: &mut worker,
    };
    let (end, load_start_ms, outcome, failure, details) =
        if both.web.is_running() && both.worker.is_running() {
            let load_start_ms = shared.now_ms();
            let watched =
                load_and_watch(cfg, both, &mut signals, fake.clone(), cloudinary, &dir).await?;
            (watched.0, load_start_ms, watched.1, watched.2, watched.3)
        } else {
            let now = shared.now_ms();
            (
                End::Crashed,
                now,
                LoadOutcome::default(),
                None,
                HashMap::new(),
            )
        };
    let settle_ms = settle(cfg, &shared, end, &outcome, &mut signals).await;
    // The polls end before the services stop: a check of a web service
    // being stopped is not an answer it failed to give.
    stop_polls.cancel();
    let polled = polls.await.unwrap_or_default();
    worker.stop(cfg.stop_grace).await?;
    web.stop(cfg.stop_grace).await?;
    let redis_program = redis.program().display().to_string();
    redis.stop().await;
    let end_ms = shared.now_ms();
    shared.finish(end_ms);
    web_shared.finish(end_ms);
    stop_live.cancel();
    if let Some(l) = live {
        let _ = l.await;
    }
    drop(fake);

    let attempts: HashMap<String, u32> = details
        .iter()
        .filter_map(|(id, d)| Some((id.clone(), d.attempts?)))
        .collect();
    let mut notes: Vec<String> = std::mem::take(&mut worker.notes)
        .into_iter()
        .map(|n| format!("worker: {n}"))
        .collect();
    notes.extend(web.notes.drain(..).map(|n| format!("web: {n}")));
    let mut report = assemble::report(assemble::Inputs {
        cfg,
        limits: &limits,
        started_at,
        end,
        end_ms,
        load_start_ms,
        outcome,
        details,
        exits: std::mem::take(&mut worker.exits),
        notes,
        scope_cgroup: None,
        shared: &shared,
        settle_ms,
        command: worker_cmd.display(),
        files,
        run_dir: dir.clone(),
    });
    let web_report = {
        let st = web_shared.state();
        let have_je = st.samples.iter().any(|s| s.jemalloc.is_some());
        ServiceReport::new(ServiceInputs {
            service: Service::Web,
            limit: web_limits.limit,
            samples: &st.samples,
            jemalloc_allocated: have_je.then_some(st.jemalloc_peak.allocated),
            exits: std::mem::take(&mut web.exits),
            oom_events: st.oom_events.clone(),
            command: web_cmd.display(),
            samples_csv: WEB_SAMPLES.into(),
            log: WEB_LOG.into(),
        })
    };
    let worker_report = {
        let st = shared.state();
        ServiceReport::new(ServiceInputs {
            service: Service::Worker,
            limit: limits.limit,
            samples: &st.samples,
            jemalloc_allocated: report.peaks.jemalloc_allocated_bytes,
            exits: report.server.exits.clone(),
            oom_events: report.oom_events.clone(),
            command: report.server.command.clone(),
            samples_csv: report.files.samples_csv.clone(),
            log: report.files.server_log.clone(),
        })
    };
    let worker_kill_s = worker_report.first_kill_s();
    let split_report = SplitReport {
        api: polled.api_checks(worker_kill_s),
        jobs: SplitJobs::count(&report.jobs, |id| attempts.get(id).copied()),
        redis: polled.redis_report(redis_program),
        services: vec![web_report, worker_report],
        summary: String::new(),
    };
    let split_report = SplitReport {
        summary: summary(
            &split_report.services,
            &split_report.api,
            &split_report.jobs,
            &split_report.redis,
        ),
        ..split_report
    };
    combine_verdict(&mut report, split_report);

    let samples = shared.state().samples.clone();
    let web_samples = web_shared.state().samples.clone();
    report.write_all(&dir, &samples, &web_samples)?;
    if cfg.output != Output::Silent {
        println!("{}", report.verdict.summary);
        println!("report: {}", dir.join(&report.files.report_md).display());
    }
    let failure = failure.map(|e| {
        e.context(format!(
            "the load failed (the report is in {})",
            dir.display()
        ))
    });
    Ok(RunOutput {
        report,
        dir,
        failure,
    })
}

/// The command of one role: the target's, with the Redis queue.
fn role_command(
    cfg: &RunConfig,
    at: &Placement,
    role: &str,
    redis: &RedisServer,
) -> anyhow::Result<ServerCommand> {
    let mut cmd = cfg.target.command_in_role(at, Some(role))?;
    cmd.env
        .push(("REPORT_SERVER__QUEUE__BACKEND".into(), "redis".into()));
    cmd.env
        .push(("REPORT_SERVER__QUEUE__URL".into(), redis.url()));
    Ok(cmd)
}

/// The run's verdict: the worker's outcome, made worse by the web
/// service's (a kill of either is a kill), and the split summary line.
fn combine_verdict(report: &mut RunReport, split: SplitReport) {
    let web = split.services.iter().find(|s| s.service == Service::Web);
    let mut outcome = report.verdict.outcome;
    if let Some(w) = web
        && !outcome.over_limit()
        && matches!(
            outcome,
            Outcome::WithinLimit | Outcome::TimedOut | Outcome::LoadFailed
        )
    {
        if w.killed() {
            outcome = Outcome::Killed;
        } else if w.crossed() {
            outcome = Outcome::Crossed;
        }
    }
    report.verdict.summary = match outcome {
        Outcome::Crashed | Outcome::Interrupted | Outcome::TimedOut | Outcome::LoadFailed => {
            format!("{} ({})", report.verdict.summary, split.summary)
        }
        _ => split.summary.clone(),
    };
    report.verdict.outcome = outcome;
    report.verdict.exit_code = outcome.exit() as u8;
    report.split = Some(split);
}

/// The two supervisors of a split run.
struct Services<'s, 'a> {
    web: &'s mut Supervisor<'a>,
    worker: &'s mut Supervisor<'a>,
}

type Watched = (
    End,
    LoadOutcome,
    Option<anyhow::Error>,
    HashMap<String, JobDetail>,
);

/// The load against the web service, both services watched until it ends:
/// a service killed at its limit is restarted on its own (while its
/// restarts last); one that is not restarted, or exits on its own, ends the
/// run.
async fn load_and_watch(
    cfg: &RunConfig,
    s: Services<'_, '_>,
    signals: &mut Signals,
    fake: Arc<mock_cloudinary::FakeCloudinary>,
    cloudinary: CloudinaryTarget,
    dir: &Path,
) -> anyhow::Result<Watched> {
    let Services { web, worker } = s;
    let load_target = LoadTarget::new(
        web.base_url(),
        cloudinary,
        Arc::new(move |id: &str| fake.photo_bytes(id)),
        dir.to_path_buf(),
    )
    .with_server_url_updates(web.urls());
    let load_cancel = CancellationToken::new();
    let (scenario, cancel) = (cfg.scenario.clone(), load_cancel.clone());
    let mut load = tokio::spawn(async move { run_load(&scenario, load_target, cancel).await });
    let deadline = tokio::time::sleep(cfg.max_duration);
    tokio::pin!(deadline);
    let (end, done) = loop {
        tokio::select! {
            r = &mut load => break (End::LoadDone, Some(r)),
            status = web.wait() => {
                if let Some(end) = web.after_exit(status, cfg.max_restarts).await? {
                    break (end, None);
                }
            }
            status = worker.wait() => {
                if let Some(end) = worker.after_exit(status, cfg.max_restarts).await? {
                    break (end, None);
                }
            }
            _ = &mut deadline => {
                worker.notes.push(format!(
                    "stopped at --max-duration ({} s)",
                    cfg.max_duration.as_secs_f64()
                ));
                break (End::TimedOut, None);
            }
            _ = signals.recv() => break (End::Interrupted, None),
        }
    };
    load_cancel.cancel();
    let (outcome, failure) = collect_load(done, load, &mut worker.notes).await;
    let details = web.job_details(&outcome).await;
    Ok((end, outcome, failure, details))
}

/// What the pollers saw.
#[derive(Debug, Default)]
struct Polls {
    redis: Vec<RedisSample>,
    redis_errors: u64,
    /// Each `/healthz` check: when (seconds), and whether it answered 2xx.
    api: Vec<(f64, bool)>,
}

impl Polls {
    fn redis_report(&self, program: String) -> RedisReport {
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
        }
    }

    /// The API's answers, overall and after the worker's first kill.
    fn api_checks(&self, worker_kill_s: Option<f64>) -> ApiChecks {
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
async fn poll_until_cancelled(
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
