//! The memory sampler: `/proc` every 10 ms on its own thread (which is also
//! the watchdog), `/debug/memory` every 100 ms from an async task, and
//! `samples.csv` written row by row as samples are taken.
//!
//! The `/proc` sampler runs on a plain thread rather than a tokio task so that
//! a load that keeps the runtime busy cannot delay a sample or a kill.
//! Its memory is bounded by the run's `--max-duration`: one [`Sample`]
//! (about 150 bytes) per 10 ms, 9 MB for 15 minutes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memstats::{AllocatorStats, DebugMemory, JobInFlight, ProcMemory};
use serde::{Deserialize, Serialize};

use crate::cgroup::MemoryCgroup;
use crate::watchdog::{Enforce, OomEvent, OomKill, Trigger};

mod poll;
mod sample;
mod thread;
use thread::sample_until_stopped;
pub mod tree;
pub use poll::poll_debug;
pub use sample::Sample;
use tree::ProcessEvent;

/// When a process of a measured tree last died (any service of the run):
/// the load's clock for jobs that can no longer finish.
pub type DeathClock = tokio::sync::watch::Sender<Option<Instant>>;

/// How often `/proc` is read.
pub const PROC_INTERVAL: Duration = Duration::from_millis(10);
/// How often `/debug/memory` is fetched.
pub const DEBUG_INTERVAL: Duration = Duration::from_millis(100);

/// One job's stage as seen by the `/debug/memory` poller: a band on the
/// timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageSpan {
    /// The job's id.
    pub job_id: i64,
    /// The stage (`load`, `excel`, `photos`, `pdf`, ...).
    pub stage: String,
    /// First seen in this stage, seconds since the run started.
    pub start_s: f64,
    /// Last seen in this stage (or the end of the run), seconds.
    pub end_s: f64,
    /// Server start number.
    pub generation: u32,
}

/// A `/debug/memory` reading and when it was taken.
#[derive(Debug, Clone)]
pub struct DebugReading {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Increases with every reading.
    pub seq: u64,
    /// The document.
    pub doc: DebugMemory,
}

/// The `/debug/memory` reading at the jemalloc peak.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakReading {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// Server start number.
    pub generation: u32,
    /// jemalloc `stats.allocated` at that reading, bytes.
    pub allocated: u64,
    /// jemalloc `stats.allocated` at the latest earlier reading of the same
    /// server start with no job in flight, bytes; when that start had none
    /// (a restarted server taking up its jobs at once), the first job-free
    /// reading of the run; `None` if there was none at all.
    pub idle_allocated: Option<u64>,
    /// Whether `idle_allocated` comes from an earlier server start.
    pub idle_from_earlier_start: bool,
    /// The jobs in flight at that reading, with their live bytes.
    pub jobs: Vec<JobInFlight>,
    /// Memory finished jobs left for a collection (`uncollected_bytes`, the
    /// `model.release = "cyclic_gc"` setting) at that reading, bytes.
    pub uncollected: u64,
    /// The same at the idle reading, bytes (part of `idle_allocated`).
    pub idle_uncollected: u64,
}

/// Everything the sampler, the poller, the live line and the report share.
#[derive(Debug)]
pub struct Shared {
    /// When the run started (t = 0 of every figure).
    pub t0: Instant,
    /// The limit in bytes.
    pub limit: u64,
    /// How it is enforced.
    pub enforce: Enforce,
    /// What a kill at the limit ends.
    pub oom_kill: OomKill,
    /// Shared by the services of a run.
    deaths: Arc<DeathClock>,
    state: Mutex<State>,
}

/// The mutable part of [`Shared`].
#[derive(Debug, Default)]
pub struct State {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// The latest `/debug/memory` reading.
    pub debug: Option<DebugReading>,
    /// Highest jemalloc figures seen (allocated, active, resident), bytes.
    pub jemalloc_peak: AllocatorStats,
    /// Modelled runtime bytes, from the first `/debug/memory` reading.
    pub modelled_runtime_bytes: Option<u64>,
    /// The `/debug/memory` reading with the highest jemalloc `allocated`,
    /// with what each job held then (the attribution check of the peak).
    pub jemalloc_peak_reading: Option<PeakReading>,
    /// jemalloc `allocated` at the latest reading of the current server
    /// start with no job in flight, bytes.
    idle_allocated: Option<u64>,
    /// `uncollected_bytes` at the reading of `idle_allocated`.
    idle_uncollected: u64,
    /// jemalloc `allocated` at the first reading of the run with no job in
    /// flight, bytes: the idle figure of a restarted server that took up
    /// its jobs at once (no job-free reading of its own).
    first_idle_allocated: Option<u64>,
    /// Limit crossings.
    pub oom_events: Vec<OomEvent>,
    /// Processes of the tree that appeared or ended (at most
    /// [`tree::MAX_EVENTS`]).
    pub process_events: Vec<ProcessEvent>,
    /// Those not kept beyond the cap.
    pub process_events_dropped: u64,
    /// For a tree of processes: the highest sum of each process's own
    /// `VmHWM`, bytes (an upper bound of the tree's peak).
    pub tree_hwm_sum_peak: Option<u64>,
    /// Closed stage bands.
    pub spans: Vec<StageSpan>,
    /// Open stage bands by job id.
    open: BTreeMap<i64, StageSpan>,
    /// `/debug/memory` readings that failed.
    pub debug_errors: u64,
    csv: Option<BufWriter<File>>,
    /// Why `samples.csv` stopped being written, if it did.
    pub csv_error: Option<String>,
}

impl Shared {
    /// Shared state of a run, writing samples to `csv_path`.
    /// A kill at the limit ends the whole tree.
    pub fn new(limit: u64, enforce: Enforce, csv_path: &Path) -> anyhow::Result<Arc<Shared>> {
        Shared::with_kill(limit, enforce, OomKill::Tree, csv_path)
    }

    /// Shared state of a run whose kills at the limit end what `oom_kill`
    /// says.
    pub fn with_kill(
        limit: u64,
        enforce: Enforce,
        oom_kill: OomKill,
        csv_path: &Path,
    ) -> anyhow::Result<Arc<Shared>> {
        let deaths = Arc::new(tokio::sync::watch::channel(None).0);
        Shared::starting_at(Instant::now(), limit, (enforce, oom_kill), deaths, csv_path)
    }

    /// The shared state of another measured service of the same run (the
    /// web service of a split run): its own limit and samples, the same
    /// t = 0, so every timeline shares one axis, and the same death clock.
    pub fn sibling(&self, limit: u64, csv_path: &Path) -> anyhow::Result<Arc<Shared>> {
        Shared::starting_at(
            self.t0,
            limit,
            (self.enforce, self.oom_kill),
            self.deaths.clone(),
            csv_path,
        )
    }

    /// When a process of a measured tree of the run last died.
    pub fn deaths(&self) -> tokio::sync::watch::Receiver<Option<Instant>> {
        self.deaths.subscribe()
    }

    /// A process of a measured tree died now.
    pub fn death(&self) {
        self.deaths.send_replace(Some(Instant::now()));
    }

    fn starting_at(
        t0: Instant,
        limit: u64,
        (enforce, oom_kill): (Enforce, OomKill),
        deaths: Arc<DeathClock>,
        csv_path: &Path,
    ) -> anyhow::Result<Arc<Shared>> {
        let mut csv = BufWriter::new(
            File::create(csv_path)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", csv_path.display()))?,
        );
        writeln!(csv, "{}", Sample::CSV_HEADER)?;
        csv.flush()?;
        Ok(Arc::new(Shared {
            t0,
            limit,
            enforce,
            oom_kill,
            deaths,
            state: Mutex::new(State {
                csv: Some(csv),
                ..State::default()
            }),
        }))
    }

    /// The state, even if a thread panicked while holding it (it holds plain
    /// figures, still worth reporting).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds since the run started.
    pub fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Closes every open stage band at `end_ms` and flushes the CSV.
    pub fn finish(&self, end_ms: u64) {
        let mut st = self.state();
        let open = std::mem::take(&mut st.open);
        for (_, mut span) in open {
            span.end_s = end_ms as f64 / 1000.0;
            st.spans.push(span);
        }
        if let Some(csv) = st.csv.as_mut() {
            let _ = csv.flush();
        }
    }

    /// Records a `/debug/memory` reading: latest figures, peaks, stage bands.
    pub fn record_debug(&self, doc: DebugMemory, generation: u32) {
        let at_ms = self.now_ms();
        let t = at_ms as f64 / 1000.0;
        let mut st = self.state();
        let seq = st.debug.as_ref().map_or(0, |d| d.seq + 1);
        if let Some(j) = doc.jemalloc {
            let p = &mut st.jemalloc_peak;
            p.allocated = p.allocated.max(j.allocated);
            p.active = p.active.max(j.active);
            p.resident = p.resident.max(j.resident);
            p.mapped = p.mapped.max(j.mapped);
            p.retained = p.retained.max(j.retained);
            p.metadata = p.metadata.max(j.metadata);
            if doc.jobs_in_flight.is_empty() {
                st.idle_allocated = Some(j.allocated);
                st.idle_uncollected = doc.uncollected_bytes;
                st.first_idle_allocated.get_or_insert(j.allocated);
            }
            if st
                .jemalloc_peak_reading
                .as_ref()
                .is_none_or(|r| j.allocated > r.allocated)
            {
                st.jemalloc_peak_reading = Some(PeakReading {
                    at_ms,
                    generation,
                    allocated: j.allocated,
                    idle_allocated: st.idle_allocated.or(st.first_idle_allocated),
                    idle_from_earlier_start: st.idle_allocated.is_none()
                        && st.first_idle_allocated.is_some(),
                    jobs: doc.jobs_in_flight.clone(),
                    uncollected: doc.uncollected_bytes,
                    idle_uncollected: st.idle_uncollected,
                });
            }
        }
        st.modelled_runtime_bytes
            .get_or_insert(doc.modelled_runtime_bytes);
        // Stage bands: a job's band changes when its stage does, and closes
        // when it leaves the in-flight list.
        let seen: BTreeMap<i64, &str> = doc
            .jobs_in_flight
            .iter()
            .map(|j| (j.job_id, j.stage.as_str()))
            .collect();
        let ids: Vec<i64> = st.open.keys().copied().collect();
        for id in ids {
            let same = seen.get(&id).is_some_and(|s| st.open[&id].stage == *s);
            if same {
                st.open.get_mut(&id).expect("open span").end_s = t;
            } else if let Some(mut span) = st.open.remove(&id) {
                span.end_s = t;
                st.spans.push(span);
            }
        }
        for (id, stage) in seen {
            st.open.entry(id).or_insert_with(|| StageSpan {
                job_id: id,
                stage: stage.to_string(),
                start_s: t,
                end_s: t,
                generation,
            });
        }
        st.debug = Some(DebugReading { at_ms, seq, doc });
    }

    /// The server stopped: close its bands.
    pub fn close_generation(&self) {
        let t = self.now_ms() as f64 / 1000.0;
        let mut st = self.state();
        let open = std::mem::take(&mut st.open);
        for (_, mut span) in open {
            span.end_s = t;
            st.spans.push(span);
        }
        st.debug = None;
        st.idle_allocated = None;
    }

    fn tree_hwm_sum(&self, bytes: u64) {
        let mut st = self.state();
        st.tree_hwm_sum_peak = Some(st.tree_hwm_sum_peak.unwrap_or(0).max(bytes));
    }

    fn push_process_events(&self, events: Vec<ProcessEvent>) {
        if events.is_empty() {
            return;
        }
        if events
            .iter()
            .any(|e| e.change == tree::ProcessChange::Ended)
        {
            self.death();
        }
        let mut st = self.state();
        for e in events {
            if st.process_events.len() < tree::MAX_EVENTS {
                st.process_events.push(e);
            } else {
                st.process_events_dropped += 1;
            }
        }
    }

    fn push(&self, sample: Sample) {
        let mut st = self.state();
        let row = sample.csv_row();
        if let Some(csv) = st.csv.as_mut() {
            // Flushed at every row: a run killed from outside still leaves
            // every sample up to that moment on disk.
            if let Err(e) = writeln!(csv, "{row}").and_then(|_| csv.flush()) {
                st.csv_error = Some(e.to_string());
                st.csv = None;
            }
        }
        st.samples.push(sample);
    }
}

/// What one sampler thread watches.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The server's pid (and process group).
    pub pid: u32,
    /// Server start number.
    pub generation: u32,
    /// The cgroup the server runs in (`--enforce cgroup`).
    pub cgroup: Option<Arc<MemoryCgroup>>,
}

/// The `/proc` sampler and watchdog thread of one server start.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `target` every [`PROC_INTERVAL`].
    pub fn start(shared: Arc<Shared>, target: Watched) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let (s, k) = (stop.clone(), killed.clone());
        let thread = std::thread::Builder::new()
            .name("oomlab-sampler".into())
            .spawn(move || sample_until_stopped(&shared, &target, &s, &k))
            .expect("spawning the sampler thread");
        Sampler {
            stop,
            killed,
            thread: Some(thread),
        }
    }

    /// A sampler that samples nothing (a placeholder once one is stopped).
    pub fn idle() -> Sampler {
        Sampler {
            stop: Arc::new(AtomicBool::new(true)),
            killed: Arc::new(AtomicBool::new(false)),
            thread: None,
        }
    }

    /// Whether this sampler's watchdog killed the server.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Records a limit event of `target` (the harness also records a kernel kill
/// that only systemd saw).
pub fn record_event(
    shared: &Shared,
    target: &Watched,
    t_ms: u64,
    trigger: Trigger,
    killed: bool,
    m: &ProcMemory,
    cgroup_peak: Option<u64>,
) {
    let mut st = shared.state();
    let (jobs, queue, age) = match &st.debug {
        Some(d) => (
            d.doc.jobs_in_flight.clone(),
            Some(d.doc.queue_depth),
            Some(t_ms.saturating_sub(d.at_ms)),
        ),
        None => (Vec::new(), None, None),
    };
    st.oom_events.push(OomEvent {
        at_s: t_ms as f64 / 1000.0,
        generation: target.generation,
        trigger,
        killed,
        rss_bytes: m.rss,
        vmhwm_bytes: m.hwm,
        cgroup_peak_bytes: cgroup_peak,
        jobs_in_flight: jobs,
        queue_depth: queue,
        debug_age_ms: age,
        victim: None,
    });
}
