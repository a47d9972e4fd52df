//! What a job's document holds of its photos, and when that memory is given
//! back (`model.release`).
//!
//! The modelled app (reportlab 4.4.6 + Pillow) decodes every photo handed
//! over as an in-memory file: Pillow's decoded core (RGBX, 4 bytes per
//! pixel) stays until the document's build ends, through the save, and the
//! RGB string `getRGBData()` made (3 bytes per pixel) is left as cyclic
//! garbage once the photo is drawn (below). After the job those objects sit
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
//!   still allocated, and freed by the collection that finds the job's
//!   document unreachable.
//!
//! # When a collection runs
//! As CPython decides it, from counts of container objects
//! (`jobs::generations` has the rule): the server counts, where the app
//! makes them, the objects of every API request, of a job's start (the
//! workbook), of each photo's download, and of the document (all of it as
//! its build starts: the app makes every flowable before it draws the
//! first photo), as `[model.gc]` gives them; every 701st new object
//! runs a collection of generation 0, every 12th of those one of
//! generation 1, and a full one only once a quarter of the long-lived
//! objects are new. A job's document is freed, whole, by the first
//! collection after the job ends that covers the oldest generation any of
//! its objects reached: if a collection ran while the document existed,
//! part of it is in generation 1, and it waits for the next collection of
//! generation 1 (every 12th), so the next jobs run on top of it; if none
//! did, the next collection frees it, usually as the next job starts, and
//! that job's buffers reuse the memory (the `[allocator]` keeps freed
//! blocks resident, as glibc's heap does). An idle server counts nothing, so
//! nothing is collected however long it waits (the measured "still 630
//! after the thread returned").
//!
//! The evidence, measured on the example app (`examples/flask-reportlab`,
//! CPython 3.11, with `measure/gctrace`: every collection's generation,
//! thread, objects freed and the bytes glibc's heap gave back;
//! docs/measurements/gc-model.md): in four 10-photo jobs in sequence, 10
//! collections of generation 0 and none of generation 1 ran after the
//! first job's start; the first job's document (559 MB) was freed by the
//! first young collection after it (a request's), and the second job
//! reused that memory (RSS 654 to 658 MB); the second job's document
//! survived the young collections after it (one had run during its build),
//! and so did the third's (no collection ran during its build: why it was
//! held is not known); the full collection at exit freed the rest (1413 MB,
//! 2926 objects). The counts are the example app's
//! (`measure/gc_counts.py`, `gc_requests.py`).
//!
//! A drawn photo's RGB string is garbage as soon as the photo is drawn,
//! while its core stays with the document: a young collection that runs
//! during a build freed 142 to 166 MiB in the example app, 6 or 7 strings
//! of 3 bytes per pixel (24.9 MB each for 2160x3840), never the cores. So
//! under `cyclic_gc` the build lets each string go to the collector
//! ([`Collector::loosen`]): the next collection frees it, whatever its
//! generation; the strings still there when the build ends stay with the
//! document (after the build, young collections freed none of them).
//!
//! Not modelled: CPython's counts vary with request timing (the app's jobs
//! ran 8 to 16 s under load, the model's about 1 s, so the app sees more
//! status polls per job), so which young collection lands in which build
//! varies in the app from run to run; the model's sequence is one of the
//! app's possible ones. What held the third job's document in the four-job
//! trace is not known.
//!
//! A collection frees the buffers on the thread that runs it; that job's
//! per-thread "live bytes" are credited with what it freed for others, so the
//! per-job figures still add up (see [`Collected::bytes`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::generations::{Generations, Owner};
use super::pdf::SavedDocument;
use super::photos::HeldPixels;
use crate::memory::thread_counters;
use crate::settings::GcSettings;

/// What one job's document holds: the photos' decoded buffers (`original`
/// mode), and, once it is saved, the document itself (its image streams)
/// and the buffer the file was written to.
#[derive(Default)]
pub struct Held {
    photos: Vec<HeldPixels>,
    /// Photos' RGB strings let go during the build and not collected by
    /// its end: they stay with the document.
    loose: Vec<Vec<u8>>,
    document: Option<SavedDocument>,
    output: Option<Bytes>,
}

impl Held {
    pub fn push(&mut self, pixels: HeldPixels) {
        self.photos.push(pixels);
    }

    /// The last photo's RGB string, if it still holds it (`cyclic_gc`: the
    /// app's build leaves it as garbage once the photo is drawn).
    pub fn take_last_rgb(&mut self) -> Option<Vec<u8>> {
        let rgb = self.photos.last_mut()?.take_rgb();
        (!rgb.is_empty()).then_some(rgb)
    }

    /// Keep strings let go during the build that no collection freed.
    pub fn keep_loose(&mut self, loose: Vec<Vec<u8>>) {
        self.loose.extend(loose);
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
        self.photos.iter().map(|p| p.bytes).sum::<u64>()
            + self.loose.iter().map(|b| b.capacity() as u64).sum::<u64>()
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
        self.photos.is_empty()
            && self.loose.is_empty()
            && self.document.is_none()
            && self.output.is_none()
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
/// until a collection of the generations their documents reached frees
/// them. One per server, as CPython has one per interpreter.
pub struct Collector {
    parked: Mutex<Vec<(i64, Held)>>,
    /// Running jobs' RGB strings let go during their builds: freed by the
    /// next collection, whatever its generation.
    loose: Mutex<Vec<(i64, Vec<u8>)>>,
    generations: Mutex<Generations>,
    /// `None`: `model.release = "immediate"`, nothing is counted.
    counts: Option<GcSettings>,
    bytes: AtomicU64,
    collections: AtomicU64,
}

impl Default for Collector {
    /// A collector that counts nothing: jobs' buffers are freed only by
    /// [`Collector::collect`].
    fn default() -> Self {
        Collector::new(None)
    }
}

impl Collector {
    /// The collector of `model.release = "cyclic_gc"` with `[model.gc]`'s
    /// counts; `None` counts nothing.
    pub fn new(counts: Option<&GcSettings>) -> Collector {
        let (thresholds, long_lived, start) = counts.map_or(([700, 10, 10], 0, [0; 3]), |c| {
            (c.thresholds, c.long_lived_objects, c.start_counts)
        });
        Collector {
            parked: Mutex::default(),
            loose: Mutex::default(),
            generations: Mutex::new(Generations::new(thresholds, long_lived).with_counts(start)),
            counts: counts.cloned(),
            bytes: AtomicU64::new(0),
            collections: AtomicU64::new(0),
        }
    }

    /// Park job `job_id`'s buffers: still allocated, freed by the first
    /// collection that covers its document's objects.
    pub fn park(&self, job_id: i64, held: Held) {
        if held.is_empty() {
            return;
        }
        self.bytes.fetch_add(held.bytes(), Ordering::Relaxed);
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((job_id, held));
        // After it is parked, so that a collection that finds the job
        // unreachable finds its buffers.
        self.lock_generations().finish(job_id);
    }

    /// Job `job_id`'s build drew a photo and let its RGB string go: garbage
    /// until the next collection, or to the end of the build
    /// ([`Collector::reclaim`]). Not in [`Collector::uncollected_bytes`]:
    /// that is what finished jobs left.
    pub fn loosen(&self, job_id: i64, rgb: Vec<u8>) {
        self.lock_loose().push((job_id, rgb));
    }

    /// Job `job_id`'s build ended: its strings no collection freed, handed
    /// back to stay with its document.
    pub fn reclaim(&self, job_id: i64) -> Vec<Vec<u8>> {
        let mut loose = self.lock_loose();
        let (mine, others) = std::mem::take(&mut *loose)
            .into_iter()
            .partition::<Vec<_>, _>(|(id, _)| *id == job_id);
        *loose = others;
        mine.into_iter().map(|(_, b)| b).collect()
    }

    /// An HTTP request was answered: its cyclic garbage counted.
    pub fn count_request(&self) -> Collected {
        self.count(Owner::Garbage, |c| c.objects_per_request)
    }

    /// A job started: what it leaves besides its document counted.
    pub fn count_job(&self) -> Collected {
        self.count(Owner::Garbage, |c| c.objects_per_job)
    }

    /// A photo was downloaded.
    pub fn count_photo_download(&self) -> Collected {
        self.count(Owner::Garbage, |c| c.objects_per_photo)
    }

    /// Job `job_id`'s document build starts with `photos` photos: its
    /// objects counted at once, as the app makes the whole story (every
    /// photo's flowable) before it draws the first photo.
    pub fn count_document(&self, job_id: i64, photos: u64) -> Collected {
        self.count(Owner::Job(job_id), |c| {
            c.document_objects + photos * c.document_objects_per_photo
        })
    }

    /// Count `owner`'s new objects; free, on the calling thread, the
    /// buffers of every job a collection they trigger finds unreachable.
    fn count(&self, owner: Owner, objects: impl Fn(&GcSettings) -> u64) -> Collected {
        let Some(n) = self.counts.as_ref().map(objects).filter(|n| *n > 0) else {
            return Collected::default();
        };
        let ran = self.lock_generations().allocate(owner, n);
        if ran.is_empty() {
            return Collected::default();
        }
        let jobs: Vec<i64> = ran.into_iter().flat_map(|c| c.jobs).collect();
        self.free(|id| jobs.contains(&id))
    }

    /// `gc.collect()`: free every parked buffer on the calling thread.
    pub fn collect(&self) -> Collected {
        self.lock_generations().collect();
        self.free(|_| true)
    }

    fn lock_generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_loose(&self) -> std::sync::MutexGuard<'_, Vec<(i64, Vec<u8>)>> {
        self.loose.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A collection ran: free the loose strings and the parked jobs it
    /// found unreachable.
    fn free(&self, unreachable: impl Fn(i64) -> bool) -> Collected {
        // Take them out under the lock, free them outside it: freeing
        // hundreds of MB must not hold up `/debug/memory`.
        let loose = std::mem::take(&mut *self.lock_loose());
        let freed: Vec<(i64, Held)> = {
            let mut guard = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let (freed, kept) = std::mem::take(&mut *guard)
                .into_iter()
                .partition(|(id, _)| unreachable(*id));
            *guard = kept;
            freed
        };
        if freed.is_empty() && loose.is_empty() {
            return Collected::default();
        }
        let parked: u64 = freed.iter().map(|(_, h)| h.bytes()).sum();
        let nominal = parked + loose.iter().map(|(_, b)| b.capacity() as u64).sum::<u64>();
        let jobs = freed.len();
        let before = thread_counters();
        drop(freed);
        drop(loose);
        let after = thread_counters();
        self.bytes.fetch_sub(parked, Ordering::Relaxed);
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

    /// Modelled collections run so far, per generation (all of them,
    /// whether they freed a job's buffers or not).
    pub fn generation_collections(&self) -> [u64; 3] {
        self.lock_generations().collections()
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

    fn counted(gc: GcSettings) -> Collector {
        Collector::new(Some(&gc))
    }

    #[test]
    fn a_finished_job_is_freed_when_the_counts_collect_its_generation() {
        // A document of 800 objects: a young collection runs while it is
        // built (on the 701st), so part of it reaches generation 1, and it
        // is freed by the first generation-1 collection after the job ends.
        let c = counted(GcSettings {
            long_lived_objects: 1_000_000,
            objects_per_request: 701,
            document_objects: 800,
            ..GcSettings::default()
        });
        assert_eq!(c.count_document(1, 0).jobs, 0);
        c.park(1, held(100));
        let mut requests = 0;
        while c.uncollected_bytes() > 0 {
            requests += 1;
            assert!(requests < 100, "never collected");
            let freed = c.count_request();
            if freed.jobs > 0 {
                assert_eq!(freed.bytes, 700);
            }
        }
        assert_eq!(c.generation_collections()[1], 1, "freed by generation 1");
        assert_eq!(
            requests, 11,
            "11 young collections, the 12th is generation 1"
        );
    }

    #[test]
    fn immediate_counts_nothing_and_a_running_job_is_never_freed() {
        let off = Collector::default();
        off.park(1, held(10));
        assert_eq!(off.count_request(), Collected::default());
        assert_eq!(off.generation_collections(), [0, 0, 0]);
        let c = counted(GcSettings {
            objects_per_request: 5000,
            document_objects: 10,
            ..GcSettings::default()
        });
        c.count_document(2, 0);
        assert_eq!(c.count_request().jobs, 0);
        assert!(c.generation_collections()[0] > 0);
        c.park(2, held(10));
        assert_eq!(
            c.uncollected_bytes(),
            70,
            "it ran through those collections"
        );
        assert_eq!(c.collect().jobs, 1);
        assert_eq!(c.uncollected_bytes(), 0);
    }

    #[test]
    fn a_drawn_photos_rgb_string_goes_with_a_collection_in_the_build_or_stays_with_the_document() {
        // Every request runs a collection.
        let c = counted(GcSettings {
            objects_per_request: 701,
            ..GcSettings::default()
        });
        let mut h = Held::default();
        h.push(HeldPixels::filled(10, 10));
        let rgb = h.take_last_rgb().unwrap();
        assert_eq!((rgb.len(), h.pixel_bytes()), (300, 400));
        assert!(h.take_last_rgb().is_none(), "let go once");
        c.loosen(1, rgb);
        assert_eq!(c.uncollected_bytes(), 0, "a running job's: not counted");
        let freed = c.count_request();
        assert_eq!((freed.jobs, freed.bytes), (0, 300));
        // No collection before the build ends: the string stays.
        h.push(HeldPixels::filled(10, 10));
        c.loosen(1, h.take_last_rgb().unwrap());
        h.keep_loose(c.reclaim(1));
        assert_eq!(h.pixel_bytes(), 400 + 400 + 300);
        assert_eq!(c.uncollected_bytes(), 0);
    }

    #[test]
    fn gc_counts_default_to_cpython_thresholds_and_refuse_a_zero_threshold() {
        use crate::settings::Settings;
        assert_eq!(Settings::default().model.gc.thresholds, [700, 10, 10]);
        let s = Settings::from_toml("[model.gc]\nobjects_per_request = 40").unwrap();
        assert_eq!(s.model.gc.objects_per_request, 40);
        let err = Settings::from_toml("[model.gc]\nthresholds = [700, 0, 10]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.gc.thresholds"), "{err}");
        let err = Settings::from_toml("[model]\ngc_after_jobs = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gc_after_jobs"), "{err}");
    }
}
