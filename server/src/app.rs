//! Building and running the service: `Application::build(settings)` binds,
//! opens the database, starts the workers and takes up unfinished jobs;
//! `run_until_stopped` serves until the shutdown future resolves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cloudinary::CloudinaryClient;
use crate::db::{self, Pool, PoolOptions};
use crate::jobs::{Collector, InFlight, JobContext, Queue, excel, spawn_workers};
use crate::memory::{self, HighWaterMonitor, RuntimeBallast};
use crate::metrics::Metrics;
use crate::routes::{router, worker_router};
use crate::settings::{QueueBackend, Release, Settings};

/// Shared state of the handlers.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    pub cloudinary: CloudinaryClient,
    pub queue: Arc<Queue>,
    pub in_flight: Arc<InFlight>,
    pub metrics: Arc<Metrics>,
    pub allocator_options: serde_json::Value,
    pub ballast: RuntimeBallast,
    /// Finished jobs' buffers awaiting the modelled cyclic collection.
    pub collector: Arc<Collector>,
    /// `<data_dir>/tmp`: spooled uploads and incremental PDFs.
    pub tmp_dir: PathBuf,
    pub started: Instant,
}

/// What a process of the server does. One binary, three roles: the
/// single-process server (the default, the modelled app), or one half of
/// the split configuration on a shared queue (`queue.backend = "redis"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API and the workers in one process.
    #[default]
    All,
    /// The HTTP API: stores submissions and queues their jobs.
    Web,
    /// The workers: take jobs from the queue and build the reports; serves
    /// only `/healthz`, `/metrics` and `/debug/memory`.
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Web => "web",
            Role::Worker => "worker",
        }
    }
}

/// The built service, bound and ready to serve.
pub struct Application {
    role: Role,
    listener: TcpListener,
    state: Arc<AppState>,
    workers: Vec<std::thread::JoinHandle<()>>,
    recovered: usize,
}

/// Every `queue.requeue_interval_secs`, queue again the jobs stored as
/// pending that Redis holds neither waiting nor in processing
/// (`Queue::push_recovered`, a no-op for a job Redis has): a submission
/// acknowledged while Redis was down, or every waiting job of a Redis that
/// restarted empty, runs once Redis answers again, not at the web's next
/// start. A job queued twice by a race with a worker is completed once
/// (`db::finish_claimed`). Errors are logged and the next pass tries again.
async fn requeue_pending_until_stopped(state: Arc<AppState>) {
    let every = std::time::Duration::from_secs_f64(state.settings.queue.requeue_interval_secs);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; start recovered them
    loop {
        ticks.tick().await;
        let (pool, queue) = (state.pool.clone(), state.queue.clone());
        let pass = tokio::task::spawn_blocking(move || {
            let mut queued = 0usize;
            for id in db::pending_jobs(&*pool.get()?)? {
                if queue.is_stopping() {
                    break;
                }
                queued += usize::from(queue.requeue(id)?);
            }
            anyhow::Ok(queued)
        })
        .await;
        match pass {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::warn!(jobs = n, "pending jobs missing from Redis queued again"),
            Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "cannot re-queue pending jobs"),
            Err(e) => tracing::error!(error = %e, "the re-queue pass failed"),
        }
    }
}

/// Where the server keeps its files.
#[derive(Debug, Clone)]
pub struct Placement {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
}

impl Application {
    /// Bind, open the database, start workers, take up unfinished jobs.
    /// Must be called on a tokio runtime.
    pub async fn build(settings: Settings, placement: Placement) -> anyhow::Result<Application> {
        Application::build_role(settings, placement, Role::All).await
    }

    /// [`Application::build`] for one role. `web` takes up unfinished jobs
    /// (queues those that are not in Redis already) and starts no workers;
    /// `worker` starts the workers and serves no API.
    pub async fn build_role(
        settings: Settings,
        placement: Placement,
        role: Role,
    ) -> anyhow::Result<Application> {
        if role != Role::All && settings.queue.backend != QueueBackend::Redis {
            anyhow::bail!(
                "the {} role needs a queue shared between processes: set queue.backend = \"redis\" \
                 and queue.url in the profile (or REPORT_SERVER__QUEUE__BACKEND=redis and \
                 REPORT_SERVER__QUEUE__URL=redis://127.0.0.1:6379/)",
                role.name()
            );
        }
        let allocator_options = memory::apply_allocator_options(&settings.allocator);
        if settings.model.test_leak_per_job_mb > 0 {
            tracing::warn!(
                mib_per_job = settings.model.test_leak_per_job_mb,
                "model.test_leak_per_job_mb is set: this server leaks memory on purpose (for tests only)"
            );
        }
        // The modelled interpreter's memory, held from start.
        let ballast = RuntimeBallast::new(settings.model.runtime_mb);
        let db_path = if settings.db.url.is_empty() {
            placement.data_dir.join("oomlab.sqlite3")
        } else {
            PathBuf::from(settings.db.url.trim_start_matches("sqlite://"))
        };
        let pool = {
            let s = settings.db.clone();
            let path = db_path.clone();
            tokio::task::spawn_blocking(move || {
                Pool::open_with(&path, PoolOptions::from_settings(&s))
            })
            .await??
        };
        let cloudinary = CloudinaryClient::new(&settings.cloudinary)?;
        let tmp_dir = placement.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("creating {}", tmp_dir.display()))?;
        let settings = Arc::new(settings);
        let queue = {
            let s = settings.clone();
            Arc::new(tokio::task::spawn_blocking(move || Queue::from_settings(&s)).await??)
        };
        let in_flight = Arc::new(InFlight::default());
        let metrics = Arc::new(Metrics::new());
        let addr = format!("{}:{}", placement.host, placement.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;

        // `cyclic_gc`: a finished job's buffers wait for the modelled
        // collector, which `[model.gc]`'s counts drive.
        let cyclic = settings.model.release == Release::CyclicGc;
        let collector = Arc::new(Collector::new(cyclic.then_some(&settings.model.gc)));
        let ctx = Arc::new(JobContext {
            settings: settings.clone(),
            pool: pool.clone(),
            cloudinary: cloudinary.clone(),
            monitor: HighWaterMonitor::start(),
            queue: queue.clone(),
            in_flight: in_flight.clone(),
            metrics: metrics.clone(),
            logo_png: Arc::new(excel::logo_png()),
            collector: collector.clone(),
            tmp_dir: tmp_dir.clone(),
            test_leak: Default::default(),
        });
        // Acknowledged work is never lost: jobs that were pending, or
        // processing when the last process died, are queued again.
        // A worker of the split leaves that to the web process and the
        // reaper (jobs it was processing are in Redis's processing set).
        let unfinished = if role == Role::Worker {
            Vec::new()
        } else {
            let pool = pool.clone();
            let queue = queue.clone();
            tokio::task::spawn_blocking(move || {
                let unfinished = db::unfinished_jobs(&*pool.get()?)?;
                for (id, _attempts) in &unfinished {
                    queue.push_recovered(*id)?;
                }
                anyhow::Ok(unfinished)
            })
            .await??
        };
        let workers = if role == Role::Web {
            Vec::new()
        } else {
            spawn_workers(ctx, settings.workers)
        };
        let state = Arc::new(AppState {
            settings,
            pool,
            cloudinary,
            queue,
            in_flight,
            metrics,
            allocator_options,
            ballast,
            collector,
            tmp_dir,
            started: Instant::now(),
        });
        Ok(Application {
            role,
            listener,
            state,
            workers,
            recovered: unfinished.len(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Jobs taken up again at start.
    pub fn recovered_jobs(&self) -> usize {
        self.recovered
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serve until `shutdown` resolves; then stop the workers (jobs in
    /// progress finish; queued ones stay pending for the next start).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = match self.role {
            Role::Worker => worker_router(self.state.clone()),
            Role::All | Role::Web => router(self.state.clone()),
        };
        let requeue = (self.role != Role::Worker && self.state.queue.needs_requeue())
            .then(|| tokio::spawn(requeue_pending_until_stopped(self.state.clone())));
        let http = self.state.settings.http.clone();
        let served = crate::serve::serve(self.listener, app, &http, shutdown).await;
        if let Some(task) = requeue {
            task.abort();
        }
        served?;
        self.state.queue.stop();
        let workers = self.workers;
        tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await?;
        Ok(())
    }
}
