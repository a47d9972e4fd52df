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
mod prepare;
mod split;
mod supervise;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::load::{CloudinaryTarget, LoadOutcome, LoadTarget, run_load};
use crate::report::{Files, RunReport};
use crate::sampler::Shared;
use crate::scenario::Scenario;
use crate::target::{Placement, Target};
use crate::watchdog::Enforce;
use prepare::Limits;
pub use split::Split;
use supervise::{End, JobDetail, Signals, Supervisor};

/// How long the load may take to return after it was told to stop.
const LOAD_STOP_GRACE: Duration = Duration::from_secs(20);

/// The settle step's default length: jemalloc's purging (`dirty_decay_ms`
/// 1000 in `lean`) has run a few times by then.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

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
    /// How it is enforced.
    pub enforce: Enforce,
    /// With `Enforce::Cgroup`: fall back to the watchdog when no memory
    /// cgroup can be made.
    pub cgroup_fallback: bool,
    /// With `Enforce::Cgroup` on a delegated cgroup v2: allow the harness to
    /// move itself into a leaf child of its own cgroup and enable `+memory`
    /// there (`--cgroup-move-self`; see `cgroup::v2`).
    pub cgroup_move_self: bool,
    /// Restarts after a kill at most (0: a kill ends the run).
    pub max_restarts: u32,
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
}

impl RunConfig {
    /// A run of `target` on `scenario` with the defaults of `oomlab run`:
    /// 512 MiB, watchdog, no restarts, `reports/`, 15 minutes at most, 60 s
    /// to be ready and 5 s to stop.
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
            enforce: Enforce::Watchdog,
            cgroup_fallback: false,
            cgroup_move_self: false,
            max_restarts: 0,
            out: PathBuf::from("reports"),
            max_duration: Duration::from_secs(15 * 60),
            ready_timeout,
            stop_grace,
            settle: DEFAULT_SETTLE,
            cpus: None,
            seed: 1,
            output: Output::Terminal,
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

/// Runs `cfg` and writes its report.
pub async fn run(cfg: &RunConfig) -> anyhow::Result<RunOutput> {
    if let Some(split) = &cfg.split {
        return split::run(cfg, split).await;
    }
    let mut signals = Signals::register()?;
    let limits = Limits::prepare(cfg)?;
    let started_at = chrono::Utc::now();
    let dir = run_dir(&cfg.out, &started_at, cfg.target.name(), &cfg.scenario.name)?;
    if cfg.output != Output::Silent {
        eprintln!(
            "oomlab: {} on {}, limit {} ({}); writing {}",
            cfg.target.name(),
            cfg.scenario.name,
            crate::units::mb(cfg.limit),
            limits.enforce.as_str(),
            dir.display()
        );
    }
    // goose prints on stdout whatever its settings: off for compare and plan.
    let _silenced = (cfg.output == Output::Silent).then(crate::silence::StdoutSilenced::new);
    let files = Files::standard();
    let shared = Shared::new(limits.limit, limits.enforce, &dir.join(&files.samples_csv))?;

    let (fake, cloudinary) = start_fake(cfg, &dir).await?;
    let cmd = cfg.target.command(&Placement {
        data_dir: dir.join("server-data"),
        cloudinary_base_url: cloudinary.base_url.clone(),
        cloudinary_cloud_name: cloudinary.cloud_name.clone(),
        log: dir.join(&files.server_log),
    })?;

    let stop_live = CancellationToken::new();
    let live = (cfg.output == Output::Terminal && crate::live::enabled()).then(|| {
        tokio::spawn(crate::live::draw_until_cancelled(
            shared.clone(),
            stop_live.clone(),
        ))
    });

    let mut target = Supervisor::start(&cmd, &limits, shared.clone(), cfg.ready_timeout).await?;
    let (end, load_start_ms, outcome, failure, details) = if target.is_running() {
        let load_start_ms = shared.now_ms();
        let (end, outcome, failure, details) = load_and_watch(
            cfg,
            &mut target,
            &mut signals,
            fake.clone(),
            cloudinary,
            &dir,
        )
        .await?;
        (end, load_start_ms, outcome, failure, details)
    } else {
        // It crashed before it was ready: no load, the report says how.
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
    target.stop(cfg.stop_grace).await?;
    let end_ms = shared.now_ms();
    shared.finish(end_ms);
    stop_live.cancel();
    if let Some(l) = live {
        let _ = l.await;
    }
    drop(fake);

    let report = assemble::report(assemble::Inputs {
        cfg,
        limits: &limits,
        started_at,
        end,
        end_ms,
        load_start_ms,
        outcome,
        details,
        exits: std::mem::take(&mut target.exits),
        notes: std::mem::take(&mut target.notes),
        scope_cgroup: target.scope_cgroup.take(),
        shared: &shared,
        settle_ms,
        command: cmd.display(),
        files,
        run_dir: dir.clone(),
    });
    let samples = shared.state().samples.clone();
    report.write_all(&dir, &samples, &[])?;
    if cfg.output != Output::Silent {
        println!("{}", report.verdict.summary);
        if let Some(t) = &report.trend {
            println!("memory trend: {}", t.summary);
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

/// The load against the running target, watched until it ends: how the
/// run ended, what the load did (or why it failed) and each job's detail.
async fn load_and_watch(
    cfg: &RunConfig,
    target: &mut Supervisor<'_>,
    signals: &mut Signals,
    fake: Arc<mock_cloudinary::FakeCloudinary>,
    cloudinary: CloudinaryTarget,
    dir: &Path,
) -> anyhow::Result<(
    End,
    LoadOutcome,
    Option<anyhow::Error>,
    HashMap<String, JobDetail>,
)> {
    let load_target = LoadTarget::new(
        target.base_url(),
        cloudinary,
        Arc::new(move |id: &str| fake.photo_bytes(id)),
        dir.to_path_buf(),
    )
    .with_server_url_updates(target.urls());
    let load_cancel = CancellationToken::new();
    let (scenario, cancel) = (cfg.scenario.clone(), load_cancel.clone());
    let mut load = tokio::spawn(async move { run_load(&scenario, load_target, cancel).await });
    let (end, done) = target
        .until_end(&mut load, signals, cfg.max_duration, cfg.max_restarts)
        .await?;
    load_cancel.cancel();
    let (outcome, failure) = collect_load(done, load, &mut target.notes).await;
    let details = target.job_details(&outcome).await;
    Ok((end, outcome, failure, details))
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
    crate::matrix::fresh_dir(
        out,
        &format!("{stamp}-{}-{}", clean(target), clean(scenario)),
    )
}
