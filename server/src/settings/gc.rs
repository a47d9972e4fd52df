//! `[model.gc]`: the object counts that drive the modelled CPython
//! collector (`jobs::generations`) under `model.release = "cyclic_gc"`.
//!
//! Counts are net container objects (allocated minus freed by reference
//! counting: what CPython's generation-0 count adds up), measured on the
//! example app with `gc.callbacks` and `gc.get_count()`
//! (`examples/flask-reportlab/measure/`; the figures in
//! docs/measurements/gc-model.md).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcSettings {
    /// `gc.get_threshold()`: generation 0's count of new objects, then the
    /// collections of the younger generation that trigger generations 1
    /// and 2. CPython's default (700, 10, 10).
    pub thresholds: [u64; 3],
    /// Objects in generation 2 when the server starts (the interpreter's
    /// modules, classes and caches: `len(gc.get_objects(2))` after a full
    /// collection at idle). A full collection waits until a quarter of this
    /// many have moved into generation 2 since the last one.
    pub long_lived_objects: u64,
    /// Cyclic garbage each HTTP request leaves (any route, status polls
    /// included).
    pub objects_per_request: u64,
    /// Cyclic garbage a job leaves besides its document (the workbook, the
    /// database sessions), counted as the job starts.
    pub objects_per_job: u64,
    /// Cyclic garbage each photo's download leaves.
    pub objects_per_photo: u64,
    /// The document's own objects (template, story, styles, tables),
    /// counted as its build starts; reachable until the job ends, then a
    /// cycle with every buffer the document held.
    pub document_objects: u64,
    /// The document's objects per photo (the image flowable, its reader),
    /// counted with the document's own as its build starts: the app makes
    /// every photo's flowable before it draws the first.
    pub document_objects_per_photo: u64,
    /// `gc.get_count()` as the server starts. Where generation 1's count
    /// stands decides whether a finished job's document is freed as the
    /// next job starts or stays under it (the phase: docs/measurements/
    /// gc-model.md); a process's phase depends on everything it allocated
    /// before, so the default is CPython's at interpreter start.
    pub start_counts: [u64; 3],
}

impl Default for GcSettings {
    /// CPython's thresholds and the example app's counts (Flask,
    /// reportlab, openpyxl under CPython 3.11), so that a `cyclic_gc`
    /// profile that gives none still collects as that app does.
    fn default() -> Self {
        GcSettings {
            thresholds: [700, 10, 10],
            long_lived_objects: 50_428,
            objects_per_request: 12,
            objects_per_job: 775,
            objects_per_photo: 6,
            document_objects: 84,
            document_objects_per_photo: 22,
            start_counts: [0, 0, 0],
        }
    }
}

impl GcSettings {
    /// The key and the reason when a value cannot be a collector's.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        if self.thresholds.contains(&0) {
            return Some((
                "model.gc.thresholds",
                "every threshold must be at least 1 (CPython's are [700, 10, 10])",
            ));
        }
        if self
            .start_counts
            .iter()
            .zip(self.thresholds)
            .any(|(count, threshold)| *count > threshold)
        {
            return Some((
                "model.gc.start_counts",
                "each count must be at most its threshold (a count over it would have collected)",
            ));
        }
        None
    }
}
