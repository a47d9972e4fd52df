//! `[http]`: how requests are taken in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Requests processed at once (the modelled app had 4 request threads);
    /// further requests wait.
    pub max_in_flight: usize,
    /// Largest photo upload accepted, in bytes (default 10 MiB).
    pub max_upload_bytes: u64,
    /// Largest submission JSON accepted, in bytes.
    pub max_submission_bytes: u64,
    /// Where a photo upload's body waits while it is checked and sent on.
    pub upload_body: UploadBody,
    /// Seconds a client has to send a request's line and headers; a
    /// connection that has not by then is answered 408 and closed. Default
    /// 20, as Apache's `mod_reqtimeout` (`header=20`).
    pub header_read_timeout_secs: f64,
    /// Seconds a request body may take before `body_min_bytes_per_sec`
    /// applies; after it the body must have come at least that fast on
    /// average since the request started, or the request is cut with 408
    /// (and its `max_in_flight` slot freed). Default 20.
    pub body_read_timeout_secs: f64,
    /// Minimum average body rate once `body_read_timeout_secs` has passed,
    /// bytes per second. Default 500, as `mod_reqtimeout`'s `MinRate=500`:
    /// a 10 MiB photo then has 20 s plus about 5.8 hours, the slowest phone
    /// link is never cut, a client trickling a byte at a time is.
    pub body_min_bytes_per_sec: u64,
}

/// Where `POST /api/photos` keeps a photo between the browser and Cloudinary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadBody {
    /// The whole body in memory, then the upstream request's copy: up to
    /// twice the photo per upload in flight, as the modelled app's SDK
    /// builds its multipart request in memory.
    Buffered,
    /// Written to a temporary file as it arrives and streamed on from it:
    /// a chunk's worth of memory per upload, whatever the photo's size.
    Spooled,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_in_flight: 4,
            max_upload_bytes: 10 << 20,
            max_submission_bytes: 4 << 20,
            upload_body: UploadBody::Buffered,
            header_read_timeout_secs: 20.0,
            body_read_timeout_secs: 20.0,
            body_min_bytes_per_sec: 500,
        }
    }
}
