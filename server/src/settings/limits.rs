//! `[limits]`: what one request, job or photo may take.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Items per submission.
    pub max_items: usize,
    /// Photos per item (the modelled app allows 100).
    pub max_photos_per_item: usize,
    /// Largest photo accepted from Cloudinary, in bytes; reading stops there.
    pub max_photo_bytes: u64,
    /// Largest decoded size accepted, in pixels (decompression-bomb guard).
    pub max_photo_pixels: u64,
    /// Longest text field, in characters.
    pub max_text_chars: usize,
    /// Seconds a job may run before it is failed.
    pub job_deadline_secs: u64,
    /// Most bytes decoding one photo may hold, judged from its JPEG header
    /// before anything is decoded (`jobs::cost`: a progressive JPEG's
    /// coefficients, the decoded output). Over it, an upload is refused
    /// (422 `photo_too_costly`) and a job shows the placeholder. Default
    /// 256 MiB: half of the 512 MB plan, so one photo's decode stays well
    /// under the limit on top of the modelled runtime (~135 MiB idle) and a
    /// job's other buffers; every photo a phone or camera makes passes (a
    /// 60 MP baseline JPEG, the pixel cap, holds about 180 MB in the
    /// `original` mode), while a few hundred bytes of progressive header
    /// (7680x7680 4:4:4: 337.5 MiB of coefficients) do not.
    pub max_decode_bytes: u64,
    /// Jobs waiting to start (stored as `pending`) beyond which a new
    /// submission is answered 503 `queue_full` with `Retry-After`, so a
    /// burst cannot pile up unbounded work. Counted in the database, so it
    /// holds for both queue backends. Default 200.
    pub max_queued_jobs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_items: 200,
            max_photos_per_item: 100,
            max_photo_bytes: 30 << 20,
            max_photo_pixels: 60_000_000,
            max_text_chars: 10_000,
            job_deadline_secs: 900,
            max_decode_bytes: 256 << 20,
            max_queued_jobs: 200,
        }
    }
}
