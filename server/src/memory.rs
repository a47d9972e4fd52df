//! Live memory figures of the server: jemalloc statistics through cached MIBs,
//! per-thread allocation counters, the high-water monitor behind each job
//! stage's figure, the allocator options, and the modelled-runtime ballast.
//!
//! The library never chooses the global allocator; the binary does, and
//! declares it with [`set_allocator`]. Only when it is jemalloc are the
//! `stats.*` figures meaningful.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use memstats::AllocatorStats;
use tikv_jemalloc_ctl::{epoch, stats, thread};

use crate::settings::AllocatorSettings;

/// The global allocator the binary chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    System = 0,
    Jemalloc = 1,
    Dhat = 2,
}

static ALLOCATOR: AtomicU8 = AtomicU8::new(AllocatorKind::System as u8);

/// Declare the global allocator; called once by `main` before serving.
pub fn set_allocator(kind: AllocatorKind) {
    ALLOCATOR.store(kind as u8, Ordering::SeqCst);
}

/// The allocator declared with [`set_allocator`].
pub fn allocator() -> AllocatorKind {
    match ALLOCATOR.load(Ordering::SeqCst) {
        1 => AllocatorKind::Jemalloc,
        2 => AllocatorKind::Dhat,
        _ => AllocatorKind::System,
    }
}

impl AllocatorKind {
    pub fn name(self) -> &'static str {
        match self {
            AllocatorKind::System => "system",
            AllocatorKind::Jemalloc => "jemalloc",
            AllocatorKind::Dhat => "dhat",
        }
    }
}

/// jemalloc's MIBs, looked up once: a reading then costs about 10 us.
struct Mibs {
    epoch: tikv_jemalloc_ctl::epoch_mib,
    allocated: stats::allocated_mib,
    active: stats::active_mib,
    resident: stats::resident_mib,
    mapped: stats::mapped_mib,
    retained: stats::retained_mib,
    metadata: stats::metadata_mib,
}

fn mibs() -> Option<&'static Mibs> {
    static MIBS: OnceLock<Option<Mibs>> = OnceLock::new();
    MIBS.get_or_init(|| {
        Some(Mibs {
            epoch: epoch::mib().ok()?,
            allocated: stats::allocated::mib().ok()?,
            active: stats::active::mib().ok()?,
            resident: stats::resident::mib().ok()?,
            mapped: stats::mapped::mib().ok()?,
            retained: stats::retained::mib().ok()?,
            metadata: stats::metadata::mib().ok()?,
        })
    })
    .as_ref()
}

/// Read jemalloc's statistics; `None` unless jemalloc is the allocator.
pub fn jemalloc_stats() -> Option<AllocatorStats> {
    if allocator() != AllocatorKind::Jemalloc {
        return None;
    }
    let m = mibs()?;
    m.epoch.advance().ok()?;
    Some(AllocatorStats {
        allocated: m.allocated.read().ok()? as u64,
        active: m.active.read().ok()? as u64,
        resident: m.resident.read().ok()? as u64,
        mapped: m.mapped.read().ok()? as u64,
        retained: m.retained.read().ok()? as u64,
        metadata: m.metadata.read().ok()? as u64,
    })
}

/// Bytes allocated now: jemalloc's `stats.allocated`, or resident memory of
/// the process when jemalloc is not the allocator.
/// Reads only `stats.allocated`: the stage monitor calls this every 2 ms.
pub fn allocated_now() -> u64 {
    let jemalloc = (allocator() == AllocatorKind::Jemalloc)
        .then(mibs)
        .flatten()
        .and_then(|m| {
            m.epoch.advance().ok()?;
            m.allocated.read().ok()
        });
    match jemalloc {
        Some(a) => a as u64,
        None => memstats::read_proc_memory(std::process::id(), false)
            .map(|m| m.rss_anon)
            .unwrap_or(0),
    }
}

/// The calling thread's cumulative allocated and freed byte counters.
#[derive(Debug, Clone, Copy)]
pub struct ThreadCounters {
    pub allocated: u64,
    pub deallocated: u64,
}

/// Read the calling thread's jemalloc counters (`thread.allocatedp`,
/// `thread.deallocatedp`); exact per thread, so per-job figures hold even
/// when several jobs run at once.
pub fn thread_counters() -> Option<ThreadCounters> {
    if allocator() != AllocatorKind::Jemalloc {
        return None;
    }
    thread_local! {
        static PTRS: Option<(thread::ThreadLocal<u64>, thread::ThreadLocal<u64>)> =
            thread::allocatedp::read().ok().zip(thread::deallocatedp::read().ok());
    }
    PTRS.with(|p| {
        p.map(|(a, d)| ThreadCounters {
            allocated: a.get(),
            deallocated: d.get(),
        })
    })
}

/// Apply the profile's allocator options through jemalloc's own control
/// interface (`background_thread`, `arenas.*_decay_ms` for new arenas and
/// `arena.<all>.*_decay_ms` for existing ones). Returns what was read back.
///
/// Call it before the process starts other threads (`cli::run` does, before
/// the runtime): an arena that a thread is making while this runs takes the
/// old default and is not among the arenas set here.
pub fn apply_allocator_options(opts: &AllocatorSettings) -> serde_json::Value {
    if allocator() != AllocatorKind::Jemalloc {
        return serde_json::json!({ "applied": false, "reason": "jemalloc is not the global allocator" });
    }
    let mut errors = Vec::new();
    // jemalloc serves blocks over `opt.oversize_threshold` (8 MiB) from an
    // arena of their own that it makes on first use and, when the default
    // decay is positive then, sets to purge at once: a freed block of that
    // size goes back to the OS, as glibc unmaps a block over its mmap
    // threshold on free. Make it now, before the profile's decay becomes the
    // default, and leave it alone below, so that it keeps purging at once
    // whatever the profile sets (`dirty_decay_ms = -1`, glibc's heap that
    // keeps freed blocks, included).
    let oversize_arena = make_oversize_arena();
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(opts.background_thread) {
        errors.push(format!("background_thread: {e}"));
    }
    // The defaults for arenas made from now on...
    let defaults: [(&[u8], isize); 2] = [
        (b"arenas.dirty_decay_ms\0", opts.dirty_decay_ms as isize),
        (b"arenas.muzzy_decay_ms\0", opts.muzzy_decay_ms as isize),
    ];
    for (name, value) in defaults {
        // SAFETY: each name is a NUL-terminated jemalloc option whose type is
        // ssize_t, which is what `isize` is on every supported platform.
        #[allow(unsafe_code)]
        let r = unsafe { tikv_jemalloc_ctl::raw::write(name, value) };
        if let Err(e) = r {
            errors.push(format!(
                "{}: {e}",
                String::from_utf8_lossy(&name[..name.len() - 1])
            ));
        }
    }
    // ...and each arena that exists already, by its index. Not through
    // `arena.4096.*` (MALLCTL_ARENAS_ALL): jemalloc 5.3's decay_ms control
    // does not handle that index and reads past its table of arenas; the
    // server then crashed with SIGSEGV in `pac_decay_ms_set` about once in
    // 500 starts (issue 17: a core's backtrace from the start/stop stress
    // test showed it).
    let narenas = tikv_jemalloc_ctl::arenas::narenas::read().unwrap_or(0);
    for i in 0..narenas {
        let initialized = format!("arena.{i}.initialized\0");
        // SAFETY: a NUL-terminated name of a bool option, for an index below
        // `arenas.narenas`.
        #[allow(unsafe_code)]
        let live = unsafe { tikv_jemalloc_ctl::raw::read::<bool>(initialized.as_bytes()) };
        if live != Ok(true) || Some(i) == oversize_arena {
            continue;
        }
        for (what, value) in [
            ("dirty_decay_ms", opts.dirty_decay_ms),
            ("muzzy_decay_ms", opts.muzzy_decay_ms),
        ] {
            let name = format!("arena.{i}.{what}\0");
            // SAFETY: a NUL-terminated name of an ssize_t option of an
            // initialized arena whose index is below `arenas.narenas`.
            #[allow(unsafe_code)]
            let r = unsafe { tikv_jemalloc_ctl::raw::write(name.as_bytes(), value as isize) };
            if let Err(e) = r {
                errors.push(format!("arena.{i}.{what}: {e}"));
            }
        }
    }
    allocator_options(errors)
}

/// Create jemalloc's oversize arena (by one allocation over its threshold,
/// given back at once; its pages are never touched) and return its index,
/// `opt.narenas` (the first index after the automatic arenas), or `None`
/// when there is none (`oversize_threshold:0`).
fn make_oversize_arena() -> Option<u32> {
    // SAFETY: NUL-terminated names of a size_t and an unsigned option.
    #[allow(unsafe_code)]
    let (threshold, narenas) = unsafe {
        (
            tikv_jemalloc_ctl::raw::read::<usize>(b"opt.oversize_threshold\0").ok()?,
            tikv_jemalloc_ctl::raw::read::<u32>(b"opt.narenas\0").ok()?,
        )
    };
    if threshold == 0 {
        return None;
    }
    let block: Vec<u8> = Vec::with_capacity(threshold + 1);
    drop(std::hint::black_box(block));
    Some(narenas)
}

fn allocator_options(errors: Vec<String>) -> serde_json::Value {
    // SAFETY: NUL-terminated names of ssize_t options.
    #[allow(unsafe_code)]
    let (dirty, muzzy) = unsafe {
        (
            tikv_jemalloc_ctl::raw::read::<isize>(b"arenas.dirty_decay_ms\0").ok(),
            tikv_jemalloc_ctl::raw::read::<isize>(b"arenas.muzzy_decay_ms\0").ok(),
        )
    };
    serde_json::json!({
        "applied": errors.is_empty(),
        "background_thread": tikv_jemalloc_ctl::background_thread::read().ok(),
        "dirty_decay_ms": dirty,
        "muzzy_decay_ms": muzzy,
        "errors": errors,
    })
}

/// Samples `allocated` every 2 ms on its own thread and raises the high-water
/// mark of every stage being watched, so a stage's peak is not the value at
/// its end. Costs one jemalloc reading (about 10 us) per tick.
#[derive(Clone, Default)]
pub struct HighWaterMonitor {
    watches: Arc<Mutex<Vec<Arc<AtomicU64>>>>,
}

/// A stage being watched: its high-water mark, raised by the monitor.
pub struct StageWatch {
    monitor: HighWaterMonitor,
    mark: Arc<AtomicU64>,
    pub allocated_at_start: u64,
}

impl HighWaterMonitor {
    /// Start the sampling thread; it stops when the last clone is dropped.
    pub fn start() -> HighWaterMonitor {
        let monitor = HighWaterMonitor::default();
        let weak = Arc::downgrade(&monitor.watches);
        std::thread::Builder::new()
            .name("memory-monitor".into())
            .spawn(move || {
                while let Some(watches) = weak.upgrade() {
                    let has_watches = !watches.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
                    if has_watches {
                        let now = allocated_now();
                        for w in watches.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                            w.fetch_max(now, Ordering::Relaxed);
                        }
                    }
                    drop(watches);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .expect("spawning a thread at start");
        monitor
    }

    /// Begin watching a stage.
    pub fn watch(&self) -> StageWatch {
        let now = allocated_now();
        let mark = Arc::new(AtomicU64::new(now));
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(mark.clone());
        StageWatch {
            monitor: self.clone(),
            mark,
            allocated_at_start: now,
        }
    }
}

impl StageWatch {
    /// The stage's high-water mark so far (including now).
    pub fn high_water(&self) -> u64 {
        self.mark.fetch_max(allocated_now(), Ordering::Relaxed);
        self.mark.load(Ordering::Relaxed)
    }
}

impl Drop for StageWatch {
    fn drop(&mut self) {
        self.monitor
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| !Arc::ptr_eq(w, &self.mark));
    }
}

/// Memory held from start to stand in for the modelled interpreter: allocated
/// and written, so it is both allocated and resident, as an interpreter's
/// heap is.
pub struct RuntimeBallast {
    bytes: Vec<u8>,
}

impl RuntimeBallast {
    pub fn new(mb: u64) -> RuntimeBallast {
        let len = (mb as usize) << 20;
        let mut bytes = vec![0u8; len];
        // Touch every page: zeroed pages from the OS would not be resident.
        for page in bytes.chunks_mut(4096) {
            page[0] = 1;
        }
        RuntimeBallast { bytes }
    }

    pub fn len(&self) -> u64 {
        std::hint::black_box(&self.bytes).len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}
