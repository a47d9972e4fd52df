//! One run from start to verdict: [`RunConfig`] in, [`RunOutput`] out.
//!
//! The phases, in order: prepare the limits ([`prepare`]: cgroups, or why
//! not); make the run folder and `samples.csv`; start the fake Cloudinary in
//! this process; start the target and watch it while the load runs
//! ([`supervise`]: sampler, watchdog, restarts, signals); stop everything;
//! assemble the [`RunReport`] ([`assemble`]) and write it. Every mistake of
//! the user's is found before anything starts: the config is typed, the
//! target validated and the scenario loaded when it is built (in `cli`).

mod assemble;
mod finish;
mod log_stages;
mod prepare;
mod services;
mod supervise;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app_target::{Placement, Target};
use crate::load::{CloudinaryTarget, LoadOutcome};
use crate::report::services::Service;
use crate::report::{Files, RunReport};
use crate::sampler::Shared;
use crate::scenario::Scenario;
pub use crate::watchdog::Restart;
use crate::watchdog::{Enforce, OomKill};
use supervise::{End, Signals, Supervisor};

/// How long the load may take to return after it was told to stop.
const LOAD_STOP_GRACE: Duration = Duration::from_secs(20);

/// The settle step's default length: jemalloc's purging (`dirty_decay_ms`
/// 1000 in `lean`) has run a few times by then.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

/// What a split run adds to a run's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The web service's limit, bytes (the worker's is `RunConfig::limit`).
    pub web_limit: u64,
}

/// Everything one run needs, typed and checked.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What is measured.
    pub target: Target,
    /// The load.
    pub scenario: Scenario,
    /// The memory limit, bytes (of a split run: the worker's).
    pub limit: u64,
    /// Web and worker as two measured processes on a Redis queue
    /// (`--split`); `None`: the single process.
    pub split: Option<Split>,
    /// What a kill at the limit ends (`--oom-kill`).
    pub oom_kill: OomKill,
    /// When a service (or Redis) that ended during the run is started
    /// again (`--restart`).
    pub restart: Restart,
    /// How it is enforced.
    pub enforce: Enforce,
    /// With `Enforce::Cgroup`: fall back to the watchdog when no memory
    /// cgroup can be made.
    pub cgroup_fallback: bool,
    /// With `Enforce::Cgroup` on a delegated cgroup v2: allow the harness to
    /// move itself into a leaf child of its own cgroup and enable `+memory`
    /// there (`--cgroup-move-self`; see `cgroup::v2`).
    pub cgroup_move_self: bool,
    /// Restarts per service at most, whatever `restart` says.
    pub max_restarts: u32,
    /// How long the load waits, after a process of a service died, for any
    /// job to move before it calls the jobs acknowledged before the death
    /// lost (`--lost-after`).
    pub lost_after: Duration,
    /// The folder that receives the run's folder.
    pub out: PathBuf,
    /// The run stops after this long whatever happens.
    pub max_duration: Duration,
    /// How long the target may take to be ready.
    pub ready_timeout: Duration,
    /// How long the target gets after SIGTERM at the end.
    pub stop_grace: Duration,
    /// Idle time after the load, before the target is stopped, when the
    /// run has a trend (at least `trend::MIN_JOBS` completed jobs): memory
    /// held until a purge or a collection comes back in it (`--settle`).
    pub settle: Duration,
    /// CPU share the target is held to, cores; `None`: not limited.
    pub cpus: Option<f64>,
    /// Seed of the fake Cloudinary's photos.
    pub seed: u64,
    /// What the run prints of its own.
    pub output: Output,
    /// The heap tracer an app runs under (`--heap`).
    pub heap: crate::heap::HeapMode,
}

impl RunConfig {
    /// A run of `target` on `scenario` with the defaults of `oomlab run`:
    /// 512 MiB, watchdog, the kernel's choice of victim, no restarts,
    /// `reports/`, 15 minutes at most, 60 s to be ready and 5 s to stop.
    /// An app target's file gives its own ready timeout and stop grace.
    pub fn new(target: Target, scenario: Scenario) -> RunConfig {
        let (ready_timeout, stop_grace) = target
            .timeouts()
            .unwrap_or((Duration::from_secs(60), Duration::from_secs(5)));
        RunConfig {
            target,
            scenario,
            limit: 512 << 20,
            split: None,
            oom_kill: OomKill::Kernel,
            restart: Restart::Never,
            enforce: Enforce::Watchdog,
            cgroup_fallback: false,
            cgroup_move_self: false,
            max_restarts: 3,
            lost_after: crate::load::lost::DEFAULT_LOST_AFTER,
            out: PathBuf::from("reports"),
            max_duration: Duration::from_secs(15 * 60),
            ready_timeout,
            stop_grace,
            settle: DEFAULT_SETTLE,
            cpus: None,
            seed: 1,
            output: Output::Terminal,
            heap: crate::heap::HeapMode::Off,
        }
    }
}

/// What a run prints of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The start line, the live line (on a terminal), the verdict and the
    /// report's path (and goose's own output with `--verbose`).
    Terminal,
    /// The same without the live line.
    NoLiveLine,
    /// Nothing: `compare`, `plan` and `gate` show their own progress.
    Silent,
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutput {
    /// Its report, as written to `run.json`.
    pub report: RunReport,
    /// Its folder.
    pub dir: PathBuf,
    /// A failure of the harness after the report was written (the load
    /// failed); the report's figures stand, but the run is not complete.
    pub failure: Option<anyhow::Error>,
}

/// Runs `cfg` and writes its report: the services (one, or web and
/// worker) and their sidecars started, the load run against the first
/// while every service and sidecar is watched, everything stopped, the
/// report assembled from the last service (where the reports are built)
/// with every service in `services`.
pub async fn run(cfg: &RunConfig) -> anyhow::Result<RunOutput> {
    let own;
    let cfg = match own_scenario(cfg)? {
        Some(c) => {
            own = c;
            &own
        }
        None => cfg,
    };
    let mut signals = Signals::register()?;
    let files = Files::standard();
    let specs = services::specs(cfg, &files);
    let limits = services::limits(cfg, &specs)?;
    let started_at = chrono::Utc::now();
    let name = match cfg.split {
        Some(_) => format!("{}-split", cfg.target.name()),
        None => cfg.target.name().to_string(),
    };
    let dir = run_dir(&cfg.out, &started_at, &name, &cfg.scenario.name)?;
    if cfg.output != Output::Silent {
        let each: Vec<String> = specs
            .iter()
            .map(|s| match s.service {
                Service::Server => crate::units::mb(s.limit),
                other => format!("{} {}", other.as_str(), crate::units::mb(s.limit)),
            })
            .collect();
        eprintln!(
            "oomlab: {} on {}{}, limit {} ({}, --oom-kill {}, --restart {}); writing {}",
            cfg.target.name(),
            cfg.scenario.name,
            if cfg.split.is_some() {
                " as web + worker on Redis"
            } else {
                ""
            },
            each.join(", "),
            limits[0].enforce.as_str(),
            cfg.oom_kill.as_str(),
            cfg.restart.as_str(),
            dir.display()
        );
    }
    // goose prints on stdout whatever its settings: off for compare and plan.
    let _silenced = (cfg.output == Output::Silent).then(crate::silence::StdoutSilenced::new);
    let primary = specs.len() - 1;
    let main_shared = Shared::with_kill(
        limits[primary].limit,
        limits[primary].enforce,
        cfg.oom_kill,
        &dir.join(&specs[primary].samples_csv),
    )?;
    let shared: Vec<Arc<Shared>> = specs
        .iter()
        .zip(&limits)
        .enumerate()
        .map(|(n, (s, l))| {
            if n == primary {
                Ok(main_shared.clone())
            } else {
                main_shared.sibling(l.limit, &dir.join(&s.samples_csv))
            }
        })
        .collect::<anyhow::Result<_>>()?;

    let mut redis = services::Redis::start(cfg).await?;
    let (fake, cloudinary) = start_fake(cfg, &dir).await?;
    let mut cmds: Vec<_> = specs
        .iter()
        .map(|s| {
            let at = Placement {
                data_dir: dir.join("server-data"),
                cloudinary_base_url: cloudinary.base_url.clone(),
                cloudinary_cloud_name: cloudinary.cloud_name.clone(),
                log: dir.join(&s.log),
            };
            services::command(cfg, s, &at, redis.as_ref().map(|r| &r.server))
        })
        .collect::<anyhow::Result<_>>()?;
    let tracer = heap_tracer(cfg, &mut cmds, &dir)?;

    let stop_live = CancellationToken::new();
    let live = (cfg.output == Output::Terminal && crate::live::enabled()).then(|| {
        tokio::spawn(crate::live::draw_until_cancelled(
            main_shared.clone(),
            stop_live.clone(),
        ))
    });

    let mut sups = Vec::with_capacity(specs.len());
    for ((cmd, l), sh) in cmds.iter().zip(&limits).zip(&shared) {
        sups.push(Supervisor::start(cmd, l, sh.clone(), cfg.ready_timeout).await?);
    }
    if let Some(t) = &tracer {
        t.app_ready();
    }
    // An app's stages, from its own log (`[log] stage`).
    let stop_logs = CancellationToken::new();
    let log_stages = tokio::spawn(log_stages::follow(
        dir.join(&specs[primary].log),
        cfg.target.stage_patterns().to_vec(),
        main_shared.clone(),
        stop_logs.clone(),
    ));
    let stop_polls = CancellationToken::new();
    let polls = redis.as_ref().map(|r| {
        tokio::spawn(services::poll_until_cancelled(
            r.server.url(),
            sups[0].urls(),
            shared[0].clone(),
            stop_polls.clone(),
        ))
    });

    let (end, load_start_ms, outcome, failure, details) = if sups.iter().all(|s| s.is_running()) {
        let load_start_ms = main_shared.now_ms();
        let w = watch::load_and_watch(
            cfg,
            &mut sups,
            &mut redis,
            &mut signals,
            fake.clone(),
            cloudinary,
            &dir,
        )
        .await?;
        (w.end, load_start_ms, w.outcome, w.failure, w.details)
    } else {
        // A service crashed before it was ready: no load, the report says
        // how.
        let now = main_shared.now_ms();
        (
            End::Crashed,
            now,
            LoadOutcome::default(),
            None,
            HashMap::new(),
        )
    };
    let settle_ms = settle(cfg, &main_shared, end, &outcome, &mut signals).await;
    // The polls end before the services stop: a check of a web service
    // being stopped is not an answer it failed to give.
    stop_polls.cancel();
    let polled = match polls {
        Some(p) => Some(p.await.unwrap_or_default()),
        None => None,
    };
    for s in sups.iter_mut().rev() {
        s.stop(cfg.stop_grace).await?;
    }
    let redis = match redis {
        Some(r) => {
            let program = r.server.program().display().to_string();
            r.server.stop().await;
            Some((program, r.exits))
        }
        None => None,
    };
    stop_logs.cancel();
    let log_stages = log_stages.await.unwrap_or_default();
    let heap = match (&tracer, cfg.target.working_dir()) {
        (Some(t), Some(app_dir)) => {
            let (t, app_dir) = (t.clone(), app_dir.to_path_buf());
            Some(tokio::task::spawn_blocking(move || t.read(&app_dir)).await?)
        }
        _ => None,
    };
    let end_ms = main_shared.now_ms();
    for s in &shared {
        s.finish(end_ms);
    }
    stop_live.cancel();
    if let Some(l) = live {
        let _ = l.await;
    }
    drop(fake);

    let mut report = finish::run_report(finish::RunParts {
        cfg,
        specs: &specs,
        limits: &limits,
        shared: &shared,
        sups: &mut sups,
        cmds: &cmds,
        started_at,
        end,
        end_ms,
        load_start_ms,
        outcome,
        details,
        settle_ms,
        files,
        dir: &dir,
        split: redis.zip(polled),
        log_stages,
    });
    report.heap = heap;
    let samples: Vec<Vec<crate::sampler::Sample>> =
        shared.iter().map(|s| s.state().samples.clone()).collect();
    let web_samples = if samples.len() > 1 {
        samples[0].as_slice()
    } else {
        &[]
    };
    report.write_all(&dir, &samples[primary], web_samples)?;
    if cfg.output != Output::Silent {
        println!("{}", report.verdict.summary);
        if let Some(t) = &report.trend {
            println!("memory trend: {}", t.summary);
        }
        if let Some(h) = &report.heap {
            println!("{}", h.summary());
        }
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

/// The heap tracer `--heap` asks for, with the app's command wrapped in
/// it; `None` when off. Only an app target is traced: the reference server
/// says its stages and stacks itself (`/debug/memory`, the dhat build).
fn heap_tracer(
    cfg: &RunConfig,
    cmds: &mut [crate::child::ServerCommand],
    dir: &Path,
) -> anyhow::Result<Option<crate::heap::Tracer>> {
    if cfg.heap == crate::heap::HeapMode::Off {
        return Ok(None);
    }
    crate::heap::check_target(cfg.heap, cfg.target.kind)?;
    let quiet = cfg.output == Output::Silent;
    let say = |m: &str| {
        if !quiet {
            eprintln!("oomlab: {m}");
        }
    };
    let tracer = crate::heap::Tracer::prepare(cfg.heap, &cmds[0], dir, &say)?;
    if let Some(t) = &tracer {
        t.wrap(&mut cmds[0]);
        say(&format!(
            "heap: the app runs under {} (a traced peak is not the untraced one)",
            t.describe()
        ));
    }
    Ok(tracer)
}

/// `cfg` with the app's own scenario file when its target maps the
/// scenario's name (`[scenarios]`): the app's HTTP flow for that load, under
/// the shipped scenario's name (so that calibrate pairs the two sides by
/// it), with the photo folder `--photos` gave; `None` when it maps none.
fn own_scenario(cfg: &RunConfig) -> anyhow::Result<Option<RunConfig>> {
    let Some(file) = cfg.target.own_scenario(&cfg.scenario.name) else {
        return Ok(None);
    };
    // Already the app's own (calibrate maps it itself, with its pause).
    if cfg.scenario.path == file {
        return Ok(None);
    }
    let mut scenario = Scenario::load(file)?;
    scenario.name = cfg.scenario.name.clone();
    if scenario.submission.photo_dir.is_none() {
        scenario.submission.photo_dir = cfg.scenario.submission.photo_dir.clone();
    }
    Ok(Some(RunConfig {
        scenario,
        ..cfg.clone()
    }))
}

/// The fake Cloudinary, in this process (the measured process is the target
/// alone), holding the scenario's photos.
async fn start_fake(
    cfg: &RunConfig,
    dir: &Path,
) -> anyhow::Result<(Arc<mock_cloudinary::FakeCloudinary>, CloudinaryTarget)> {
    let mut builder = mock_cloudinary::FakeCloudinary::builder()
        .seed(cfg.seed)
        .upload_dir(dir.join("cloudinary"));
    match &cfg.scenario.submission.photo_dir {
        // The user's files, served as they are (read per request, not held).
        Some(photos) => {
            for file in &photos.files {
                builder = builder.photo_file(file.public_id.clone(), file.path.clone());
            }
        }
        None => {
            let ids = cfg.scenario.photo_ids();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            builder = builder.preload(&id_refs);
        }
    }
    let fake = builder
        .start()
        .await
        .context("starting the fake Cloudinary")?;
    let cloudinary = CloudinaryTarget {
        base_url: fake.base_url(),
        cloud_name: fake.cloud_name().to_string(),
    };
    Ok((Arc::new(fake), cloudinary))
}

/// The settle step: the target left idle for `cfg.settle` (still sampled)
/// when the load is done with enough completed jobs for a trend; a signal
/// cuts it short. Its start and end, milliseconds.
async fn settle(
    cfg: &RunConfig,
    shared: &Shared,
    end: supervise::End,
    outcome: &LoadOutcome,
    signals: &mut Signals,
) -> Option<(u64, u64)> {
    let enough = outcome.jobs_completed >= crate::trend::MIN_JOBS as u64;
    if end != supervise::End::LoadDone || outcome.interrupted || !enough || cfg.settle.is_zero() {
        return None;
    }
    let start = shared.now_ms();
    tokio::select! {
        _ = tokio::time::sleep(cfg.settle) => {},
        _ = signals.recv() => {},
    }
    Some((start, shared.now_ms()))
}

type LoadTask = tokio::task::JoinHandle<anyhow::Result<LoadOutcome>>;

/// What the load did, once it was told to stop: its outcome, or why there
/// is none. A load that does not stop within [`LOAD_STOP_GRACE`] is aborted.
async fn collect_load(
    done: Option<Result<anyhow::Result<LoadOutcome>, tokio::task::JoinError>>,
    mut load: LoadTask,
    notes: &mut Vec<String>,
) -> (LoadOutcome, Option<anyhow::Error>) {
    let done = match done {
        Some(r) => Some(r),
        None => tokio::time::timeout(LOAD_STOP_GRACE, &mut load).await.ok(),
    };
    match done {
        Some(Ok(Ok(o))) => (o, None),
        Some(Ok(Err(e))) => (LoadOutcome::default(), Some(e)),
        Some(Err(join)) => (
            LoadOutcome::default(),
            Some(anyhow::anyhow!("the load panicked: {join}")),
        ),
        None => {
            load.abort();
            notes.push("the load did not stop in time; its figures are missing".into());
            (LoadOutcome::default(), None)
        }
    }
}

/// A fresh folder `<out>/<timestamp>-<target>-<scenario>[-N]`.
fn run_dir(
    out: &Path,
    at: &chrono::DateTime<chrono::Utc>,
    target: &str,
    scenario: &str,
) -> anyhow::Result<PathBuf> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let stamp = at.format("%Y%m%d-%H%M%S");
    crate::folders::fresh_dir(
        out,
        &format!("{stamp}-{}-{}", clean(target), clean(scenario)),
    )
}
