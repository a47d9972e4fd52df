//! What a job's document holds of its photos, and when that memory is given
//! back (`model.release`).
//!
//! The modelled app (reportlab 4.4.6 + Pillow) keeps, for every photo handed
//! over as an in-memory file, Pillow's decoded core (RGBX, 4 bytes per pixel)
//! and the RGB string `getRGBData()` made (3 bytes per pixel) until the
//! document's build ends, through the save. After the job those objects sit
//! in reference cycles: CPython frees them only when its cyclic garbage
//! collector runs (measured after a 10-photo job: 630 MiB, still 630 after
//! the thread returned, 200 after `gc.collect()`).
//!
//! The same cycles hold the document itself: the flowables reference the
//! document template, which keeps the canvas with every image stream (the
//! ASCII85 copy of each photo), and the in-memory file it wrote to. Measured
//! with `tracemalloc` on the example app's `build_pdf` with photos handed
//! over as file paths (4 photos of 4.3 MB; docs/measurements/): 43.2 MB still
//! allocated after it returned, 2.5 times the photos' bytes (their ASCII85
//! copies and the 21.5 MB file), all of it freed by `gc.collect()`.
//!
//! - `immediate`: the buffers and the document are freed right after the
//!   save (what Rust, or a Python app that breaks the cycles, does).
//! - `cyclic_gc`: the saved document and its file's buffer stay through the
//!   upload, and when the job ends all of it is parked in the [`Collector`],
//!   still allocated, and freed by the next collection.
//!
//! # When a collection runs
//! CPython collects generation 0 after 700 net new container objects,
//! generation 1 after 10 of those, and generation 2 (where a finished job's
//! flowables end up: they survived the collections of their own build) only
//! after 10 generation-1 collections, and then only when the objects created
//! since the last full collection exceed a quarter of the long-lived ones.
//! An idle server allocates no containers, so nothing is collected however
//! long it waits (the measured "still 630 after the thread returned"). A new
//! document build allocates containers by the thousand (a flowable, a table
//! cell, an image reader per photo), so that is where the model puts the full
//! collection: **at the start of a PDF stage** (any worker's), once at least
//! `model.gc_after_jobs` finished jobs are parked. The rule is deterministic
//! on purpose: CPython's exact moment depends on object counts the model does
//! not have.
//!
//! The threshold comes from the example app (`examples/flask-reportlab`, 1
//! user filing four 10-phone-photo reports 3 s apart, `oomlab run --target
//! flask-reportlab --scenario four-in-sequence --enforce off --limit 8GiB`,
//! the peaks read per job from samples.csv; docs/measurements/): the tree's RSS
//! peaked at 703, 1301 and 1894 MB in jobs 1 to 3 (each job on top of all the
//! earlier ones' leftovers), and job 4 peaked at 1909 MB, no higher than its
//! start: the collection ran during job 4, before its photos were decoded.
//! So the Python profiles set `gc_after_jobs = 3`. (glibc then kept most of
//! the freed memory, 1806 MB after job 4, where jemalloc returns it after its
//! decay time: the model's memory after a collection is lower than the
//! app's.)
//!
//! A collection frees the buffers on the thread that runs it; that job's
//! per-thread "live bytes" are credited with what it freed for others, so the
//! per-job figures still add up (see [`Collected::bytes`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::pdf::SavedDocument;
use super::photos::HeldPixels;
use crate::memory::thread_counters;

/// What one job's document holds: the photos' decoded buffers (`original`
/// mode), and, once it is saved, the document itself (its image streams)
/// and the buffer the file was written to.
#[derive(Default)]
pub struct Held {
    photos: Vec<HeldPixels>,
    document: Option<SavedDocument>,
    output: Option<Bytes>,
}

impl Held {
    pub fn push(&mut self, pixels: HeldPixels) {
        self.photos.push(pixels);
    }

    /// Keep the saved document (its image streams) with the job's buffers.
    pub fn keep_document(&mut self, doc: SavedDocument) {
        self.document = Some(doc);
    }

    /// Keep the file's buffer: the modelled app's document keeps the
    /// in-memory file it wrote to (`io.BytesIO`), and the bytes the job
    /// uploads are that buffer (CPython's `getvalue()` hands out the
    /// buffer itself, not a copy).
    pub fn keep_output(&mut self, output: Bytes) {
        self.output = Some(output);
    }

    /// Bytes held: the decoded buffers as the allocator counts them, the
    /// document's streams and the file's buffer by their lengths.
    pub fn bytes(&self) -> u64 {
        self.pixel_bytes() + self.document_bytes()
    }

    /// The decoded photo buffers' share of [`Held::bytes`].
    pub fn pixel_bytes(&self) -> u64 {
        self.photos.iter().map(|p| p.bytes).sum()
    }

    /// The saved document's and the file buffer's share of [`Held::bytes`].
    pub fn document_bytes(&self) -> u64 {
        self.document
            .as_ref()
            .map_or(0, SavedDocument::stream_bytes)
            + self.output.as_ref().map_or(0, |b| b.len() as u64)
    }

    /// Decoded photos held.
    pub fn len(&self) -> usize {
        self.photos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.photos.is_empty() && self.document.is_none() && self.output.is_none()
    }
}

/// What one collection freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Jobs whose leftovers were freed.
    pub jobs: usize,
    /// Bytes freed on the calling thread: measured with jemalloc's
    /// per-thread counters when jemalloc is the allocator, the buffers'
    /// sizes otherwise.
    pub bytes: u64,
}

/// The modelled cyclic garbage collector: finished jobs' buffers, parked
/// until a collection. One per server, as CPython has one per interpreter.
#[derive(Default)]
pub struct Collector {
    parked: Mutex<Vec<(i64, Held)>>,
    bytes: AtomicU64,
    collections: AtomicU64,
}

impl Collector {
    /// Park job `job_id`'s buffers: still allocated, freed by the next
    /// collection.
    pub fn park(&self, job_id: i64, held: Held) {
        if held.is_empty() {
            return;
        }
        self.bytes.fetch_add(held.bytes(), Ordering::Relaxed);
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((job_id, held));
    }

    /// Run a collection: free every parked buffer on the calling thread.
    pub fn collect(&self) -> Collected {
        self.collect_once(1)
    }

    /// Run a collection when at least `min_jobs` finished jobs are parked
    /// (the modelled generation-2 threshold); otherwise free nothing.
    pub fn collect_once(&self, min_jobs: usize) -> Collected {
        // Take them out under the lock, free them outside it: freeing
        // hundreds of MB must not hold up `/debug/memory`.
        let parked = {
            let mut guard = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_empty() || guard.len() < min_jobs {
                return Collected::default();
            }
            std::mem::take(&mut *guard)
        };
        let nominal: u64 = parked.iter().map(|(_, h)| h.bytes()).sum();
        let jobs = parked.len();
        let before = thread_counters();
        drop(parked);
        let after = thread_counters();
        self.bytes.fetch_sub(nominal, Ordering::Relaxed);
        self.collections.fetch_add(1, Ordering::Relaxed);
        let bytes = before
            .zip(after)
            .map_or(nominal, |(b, a)| a.deallocated - b.deallocated);
        tracing::info!(
            jobs,
            bytes,
            "modelled cyclic collection freed finished jobs' buffers"
        );
        Collected { jobs, bytes }
    }

    /// Bytes parked and not yet collected.
    pub fn uncollected_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Collections that freed something, since start.
    pub fn collections(&self) -> u64 {
        self.collections.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(pixels: u32) -> Held {
        let mut h = Held::default();
        h.push(HeldPixels::filled(pixels, 1));
        h
    }

    #[test]
    fn release_is_a_setting_with_two_values_and_a_clear_refusal() {
        use crate::settings::{Release, Settings};
        assert_eq!(Settings::default().model.release, Release::Immediate);
        let s = Settings::from_toml("[model]\nrelease = \"cyclic_gc\"").unwrap();
        assert_eq!(s.model.release, Release::CyclicGc);
        let err = Settings::from_toml("[model]\nrelease = \"later\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("later") && err.contains("cyclic_gc") && err.contains("release"),
            "{err}"
        );
    }

    #[test]
    fn a_kept_document_and_its_file_count_and_are_parked_with_the_job() {
        let mut h = Held::default();
        assert!(h.is_empty());
        h.keep_output(Bytes::from(vec![0u8; 300]));
        assert!(!h.is_empty(), "a file buffer alone is worth parking");
        assert_eq!((h.len(), h.pixel_bytes(), h.document_bytes()), (0, 0, 300));
        h.push(HeldPixels::filled(10, 10));
        assert_eq!(h.bytes(), 300 + 100 * 7);
        let c = Collector::default();
        c.park(7, h);
        assert_eq!(c.uncollected_bytes(), 1000);
        assert_eq!(c.collect().jobs, 1);
        assert_eq!(c.uncollected_bytes(), 0);
    }

    #[test]
    fn parked_buffers_stay_until_a_collection_frees_them_all() {
        let c = Collector::default();
        c.park(1, held(1000));
        c.park(2, held(500));
        c.park(3, Held::default());
        assert_eq!(c.uncollected_bytes(), 1500 * 7);
        let freed = c.collect();
        assert_eq!(freed.jobs, 2);
        assert_eq!(freed.bytes, 1500 * 7, "system allocator: nominal sizes");
        assert_eq!(c.uncollected_bytes(), 0);
        assert_eq!(c.collections(), 1);
        assert_eq!(c.collect(), Collected::default());
        assert_eq!(c.collections(), 1, "an empty collection is not counted");
    }

    #[test]
    fn a_collection_waits_until_enough_jobs_are_parked_then_frees_them_all() {
        let c = Collector::default();
        c.park(1, held(100));
        c.park(2, held(100));
        assert_eq!(c.collect_once(3), Collected::default());
        assert_eq!(c.uncollected_bytes(), 200 * 7, "two jobs stay parked");
        c.park(3, held(100));
        let freed = c.collect_once(3);
        assert_eq!((freed.jobs, freed.bytes), (3, 300 * 7));
        assert_eq!(c.uncollected_bytes(), 0);
    }

    #[test]
    fn gc_after_jobs_defaults_to_the_next_job_and_refuses_zero() {
        use crate::settings::Settings;
        assert_eq!(Settings::default().model.gc_after_jobs, 1);
        let s = Settings::from_toml("[model]\ngc_after_jobs = 3").unwrap();
        assert_eq!(s.model.gc_after_jobs, 3);
        let err = Settings::from_toml("[model]\ngc_after_jobs = 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gc_after_jobs"), "{err}");
    }
}
