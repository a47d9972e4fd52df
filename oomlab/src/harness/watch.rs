//! The load against the first service, every service and sidecar watched
//! until it ends: the one loop of every run, whatever its services.
//!
//! Each service's end goes to its supervisor, which restarts it or not
//! per `--restart`; Redis's death is seen the moment its process ends
//! (it is the harness's child) and restarts it or ends the run. The first
//! end that is not followed by a restart ends the run.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures::future::{FutureExt, select_all};
use tokio_util::sync::CancellationToken;

use super::services::Redis;
use super::supervise::{End, JobDetail, Signals, Supervisor};
use super::{RunConfig, collect_load};
use crate::load::{CloudinaryTarget, LoadOutcome, LoadTarget, run_load};
use crate::watchdog::Restart;

type LoadResult = Result<anyhow::Result<LoadOutcome>, tokio::task::JoinError>;

/// What woke the watch.
enum Next {
    LoadDone(Box<LoadResult>),
    Exit(std::io::Result<std::process::ExitStatus>, usize),
    RedisDied(std::io::Result<std::process::ExitStatus>),
    Deadline,
    Signal,
}

/// How the watch ended and what the load did.
pub struct Watched {
    pub end: End,
    pub outcome: LoadOutcome,
    /// Why the load has no outcome, when it failed.
    pub failure: Option<anyhow::Error>,
    /// Each job's detail, from the first service's status answers.
    pub details: HashMap<String, JobDetail>,
}

/// Runs the scenario against `sups[0]` (following its restarts) and
/// watches every service and `redis` until the load ends, a service or
/// Redis ends without a restart, a signal comes, or `--max-duration`
/// passes.
pub async fn load_and_watch(
    cfg: &RunConfig,
    sups: &mut [Supervisor<'_>],
    redis: &mut Option<Redis>,
    signals: &mut Signals,
    fake: Arc<mock_cloudinary::FakeCloudinary>,
    cloudinary: CloudinaryTarget,
    dir: &Path,
) -> anyhow::Result<Watched> {
    let (first, last) = (0, sups.len() - 1);
    let load_target = LoadTarget::new(
        sups[first].base_url(),
        cloudinary,
        Arc::new(move |id: &str| fake.photo_bytes(id)),
        dir.to_path_buf(),
    )
    .with_server_url_updates(sups[first].urls())
    .with_deaths(sups[first].deaths(), cfg.lost_after);
    let load_cancel = CancellationToken::new();
    let (scenario, cancel) = (cfg.scenario.clone(), load_cancel.clone());
    let mut load = tokio::spawn(async move { run_load(&scenario, load_target, cancel).await });
    let deadline = tokio::time::sleep(cfg.max_duration);
    tokio::pin!(deadline);
    let (end, done) = loop {
        // Each wait borrows the services; the select ends (and drops
        // them) before the one that resolved is handled.
        let next = tokio::select! {
            r = &mut load => Next::LoadDone(Box::new(r)),
            (status, i, _) = select_all(sups.iter_mut().map(|s| s.wait().boxed())) => Next::Exit(status, i),
            status = Redis::died(redis) => Next::RedisDied(status),
            _ = &mut deadline => Next::Deadline,
            _ = signals.recv() => Next::Signal,
        };
        match next {
            Next::LoadDone(r) => break (End::LoadDone, Some(*r)),
            Next::Exit(status, i) => {
                if let Some(end) = sups[i]
                    .after_exit(status, cfg.restart, cfg.max_restarts)
                    .await?
                {
                    break (end, None);
                }
            }
            Next::RedisDied(status) => {
                let at_s = sups[last].now_s();
                let r = redis.as_mut().expect("only a running Redis dies");
                if !r
                    .after_death(status, at_s, cfg.restart == Restart::Always)
                    .await
                {
                    break (End::SidecarDied, None);
                }
            }
            Next::Deadline => {
                sups[last].notes.push(format!(
                    "stopped at --max-duration ({} s)",
                    cfg.max_duration.as_secs_f64()
                ));
                break (End::TimedOut, None);
            }
            Next::Signal => break (End::Interrupted, None),
        }
    };
    load_cancel.cancel();
    let (outcome, failure) = collect_load(done, load, &mut sups[last].notes).await;
    // Only the reference server has a job API oomlab knows
    // (`GET /api/jobs/{id}`, with per-stage memory); an app's paths are its
    // own, and what is known of its jobs is the load's view.
    let details = match cfg.target.kind {
        crate::app_target::TargetKind::App => Default::default(),
        _ => sups[first].job_details(&outcome).await,
    };
    Ok(Watched {
        end,
        outcome,
        failure,
        details,
    })
}
