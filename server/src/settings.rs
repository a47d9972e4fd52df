//! The server's settings: one typed struct read from a profile TOML, then
//! environment overrides. Unknown keys are an error, never ignored: a typo in a
//! memory knob would silently measure the wrong thing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod cpu;
mod env;
mod gc;
mod http;
mod limits;
mod queue;

pub use cpu::CpuSettings;
pub use env::{apply_env_overrides, deserialize_with_overrides};
pub use gc::GcSettings;
pub use http::{HttpSettings, UploadBody};
pub use limits::LimitSettings;
pub use queue::{QueueBackend, QueueSettings};

/// Every memory-relevant choice of the modelled app, as one struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// A short name shown in reports (defaults to the profile's file stem).
    pub name: String,
    /// One line on what the profile models.
    pub description: String,
    /// Background jobs processed at once, each on its own worker thread.
    pub workers: usize,
    /// Jobs that may wait in the queue; `None` is unbounded, as the modelled
    /// app. When bounded and full, submissions get 503 with Retry-After.
    pub queue_capacity: Option<usize>,
    /// The queue between the HTTP side and the workers (`[queue]`).
    pub queue: QueueSettings,
    pub db: DbSettings,
    pub photos: PhotoSettings,
    pub reports: ReportSettings,
    pub pdf: PdfSettings,
    pub http: HttpSettings,
    pub model: ModelSettings,
    pub allocator: AllocatorSettings,
    pub cloudinary: CloudinarySettings,
    pub limits: LimitSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbSettings {
    /// `sqlite://PATH`; empty means `<data_dir>/oomlab.sqlite3`.
    pub url: String,
    /// Connections kept open in the pool (SQLAlchemy `pool_size`).
    pub pool_size: usize,
    /// Extra connections opened under load and closed when returned
    /// (SQLAlchemy `max_overflow`).
    pub max_overflow: usize,
    /// Seconds to wait for a connection before giving up (`pool_timeout`).
    pub pool_timeout_secs: f64,
    /// Hand out the most recently returned idle connection first
    /// (SQLAlchemy `use_lifo=True`); the default, false, is SQLAlchemy's:
    /// the connection idle the longest first, so every kept connection is
    /// used in turn.
    pub use_lifo: bool,
    /// The most bytes the database file may grow to (SQLite's
    /// `max_page_count`, in whole pages); none by default. A write that
    /// would grow it further fails as on a full disk: the request is
    /// answered 507 `insufficient_storage` and nothing of it is kept. For
    /// an operator whose database shares a small disk with the spooled
    /// uploads and the log, and the full-disk test's model of one.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchMode {
    /// Every photo of the job in memory before the document is built (the
    /// modelled app).
    AllUpfront,
    /// One photo downloaded, prepared and embedded at a time.
    OneAtATime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedMode {
    /// As the modelled app: JPEG bytes passed through, while each photo is
    /// also decoded to full-size pixels that live until the document is built.
    Original,
    /// JPEG bytes passed through, never decoded.
    Passthrough,
    /// Decoded at reduced scale, resized to `max_px`, re-encoded at
    /// `jpeg_quality`.
    Resize,
    /// A `w_<max_px>,c_limit,q_<jpeg_quality>` derivative asked of Cloudinary.
    CdnTransform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhotoSettings {
    pub fetch: FetchMode,
    pub embed: EmbedMode,
    /// Longest side in pixels for `resize` and `cdn_transform`.
    pub max_px: u32,
    /// JPEG quality (1..=100) for `resize` and `cdn_transform`.
    pub jpeg_quality: u8,
    /// Which library decodes photos for `resize` (see `jobs::photos`).
    pub decoder: JpegDecoder,
    /// Which library re-encodes photos for `resize` (see `jobs::encode`).
    pub encoder: PhotoEncoder,
    /// Per-attempt download timeout in seconds.
    pub timeout_secs: f64,
    /// Download attempts per photo (first try included).
    pub attempts: u32,
    /// First backoff between attempts, in milliseconds; doubles each time.
    pub backoff_initial_ms: u64,
    /// Longest backoff between attempts, in milliseconds.
    pub backoff_max_ms: u64,
}

/// The JPEG encoder of the `resize` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PhotoEncoder {
    /// The `image` crate's pure-Rust encoder.
    #[serde(rename = "image")]
    Image,
    /// libjpeg-turbo's encoder (as vendored by mozjpeg, SIMD, its fastest
    /// defaults). Its few MCU rows of scratch come from glibc malloc.
    #[serde(rename = "libjpeg-turbo")]
    LibjpegTurbo,
}

/// The JPEG decoder of the `resize` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JpegDecoder {
    /// jpeg-decoder (pure Rust): every buffer on jemalloc, so the per-job
    /// counters see it all; holds the full-scale component planes.
    #[serde(rename = "jpeg-decoder")]
    JpegDecoder,
    /// libjpeg-turbo (as vendored by mozjpeg, SIMD): scaled IDCT straight to
    /// scanlines. Its buffers come from glibc malloc, which the per-job
    /// jemalloc counters do not see (RSS does).
    #[serde(rename = "libjpeg-turbo")]
    LibjpegTurbo,
    /// reduced-jpeg (pure Rust, this workspace) for progressive photos: it
    /// holds only what the scaled IDCT needs (at 1/4 about a fifth of the
    /// coefficients libjpeg-turbo holds until the last scan), on jemalloc,
    /// so the per-job counters see it. Sequential photos go to
    /// libjpeg-turbo, which holds no coefficients for them either and is
    /// 2.6 to 6 times faster there (SIMD; docs/measurements/reduced-jpeg.md).
    #[serde(rename = "reduced")]
    Reduced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadMode {
    /// Fetch the whole report from Cloudinary into one buffer, then answer.
    Buffered,
    /// As Python's `requests` reads `response.content` (the modelled app's
    /// download route): the body arrives as a list of chunks, each a buffer
    /// of its own, which are joined into one while the list is still held,
    /// so the join holds twice the file. Measured in the example app's venv:
    /// a 75 MB download peaks 2.01x the file above the start.
    Joined,
    /// Stream it through as it arrives.
    Streamed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    pub download: DownloadMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assembly {
    /// printpdf: the whole document in memory until saved (the modelled app).
    InMemory,
    /// Each image and page written to a file as it is placed; the file is
    /// uploaded from disk.
    Incremental,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdfSettings {
    pub assembly: Assembly,
    /// How JPEG streams are written into the document (and so held by it).
    pub image_encoding: ImageEncoding,
    /// The fonts text is shown in.
    pub font: PdfFont,
}

/// The fonts of the report's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdfFont {
    /// The PDF base-14 Helvetica fonts, never embedded, WinAnsi text only
    /// (other characters are `?`): reportlab's default, the modelled app's.
    Builtin,
    /// The bundled fonts (`server/fonts/`: Latin, Arabic shaped and
    /// right-to-left, CJK), a subset of the glyphs used embedded in each
    /// document. Incremental assembly only.
    Unicode,
}

/// How an embedded JPEG's bytes are written into the PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageEncoding {
    /// The JPEG's bytes as they are (`/Filter /DCTDecode`).
    Binary,
    /// ASCII85-encoded (`/Filter [/ASCII85Decode /DCTDecode]`), 1.25 times
    /// the bytes, as reportlab writes image streams by default
    /// (`rl_config.useA85 = 1`): the document holds, and the file carries,
    /// the encoded copy. Measured on the example app: its PDF of one
    /// 5,355,877-byte JPEG is 6,697,262 bytes.
    Ascii85,
}

impl Default for PdfSettings {
    fn default() -> Self {
        PdfSettings {
            assembly: Assembly::InMemory,
            image_encoding: ImageEncoding::Binary,
            font: PdfFont::Builtin,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// MB allocated and touched at start to stand in for the modelled
    /// interpreter (0 to measure Rust as it is; the profiles of the Python
    /// app set it so that the modelled idle equals the example app's).
    pub runtime_mb: u64,
    /// When the photo buffers a job's document held are given back once the
    /// job is done (`jobs::retention`).
    pub release: Release,
    /// With `release = "cyclic_gc"`: the object counts that make the
    /// modelled CPython collector run (`jobs::generations`).
    pub gc: GcSettings,
    /// The CPU time the modelled app spends per stage, photo and byte,
    /// spent by the job's thread (`jobs::cpu`); all 0: off.
    pub cpu: CpuSettings,
    /// **For tests only**: MiB every completed job leaks on purpose
    /// (allocated, touched, never freed; `jobs::test_leak`), so the
    /// harness's leak verdict can be tested against a known slope. 0 (the
    /// default, and every shipped profile) leaks nothing.
    pub test_leak_per_job_mb: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// Freed right after the document is saved.
    #[default]
    Immediate,
    /// As CPython: parked when the job ends, freed by the first modelled
    /// collection that covers the generation its document reached (driven
    /// by `[model.gc]`'s object counts).
    CyclicGc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllocatorSettings {
    /// jemalloc's background purging thread: without it an idle process keeps
    /// its peak RSS.
    pub background_thread: bool,
    /// jemalloc `dirty_decay_ms` (-1 never purges, 0 purges at once).
    pub dirty_decay_ms: i64,
    /// jemalloc `muzzy_decay_ms`.
    pub muzzy_decay_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudinarySettings {
    /// Base URL, e.g. `https://res.cloudinary.com` or the fake's address.
    /// Photo URLs in submissions must be on this scheme, host and port.
    pub base_url: String,
    pub cloud_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name: "default".into(),
            description: String::new(),
            workers: 2,
            queue_capacity: None,
            queue: QueueSettings::default(),
            db: DbSettings::default(),
            photos: PhotoSettings::default(),
            reports: ReportSettings::default(),
            pdf: PdfSettings::default(),
            http: HttpSettings::default(),
            model: ModelSettings::default(),
            allocator: AllocatorSettings::default(),
            cloudinary: CloudinarySettings::default(),
            limits: LimitSettings::default(),
        }
    }
}

impl Default for DbSettings {
    fn default() -> Self {
        DbSettings {
            url: String::new(),
            pool_size: 10,
            max_overflow: 20,
            pool_timeout_secs: 30.0,
            use_lifo: false,
            max_bytes: None,
        }
    }
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            fetch: FetchMode::AllUpfront,
            embed: EmbedMode::Original,
            max_px: 1600,
            jpeg_quality: 80,
            decoder: JpegDecoder::JpegDecoder,
            encoder: PhotoEncoder::Image,
            timeout_secs: 10.0,
            attempts: 3,
            backoff_initial_ms: 2_000,
            backoff_max_ms: 10_000,
        }
    }
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            download: DownloadMode::Buffered,
        }
    }
}

impl Default for AllocatorSettings {
    fn default() -> Self {
        // jemalloc's own defaults.
        AllocatorSettings {
            background_thread: false,
            dirty_decay_ms: 10_000,
            muzzy_decay_ms: 0,
        }
    }
}

impl Default for CloudinarySettings {
    fn default() -> Self {
        CloudinarySettings {
            base_url: "https://res.cloudinary.com".into(),
            cloud_name: "demo".into(),
        }
    }
}

/// A settings file or override that cannot be used; the message names the
/// file, the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{origin}: `{key}` {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Prefix of environment overrides: `REPORT_SERVER__WORKERS=1`,
/// `REPORT_SERVER__PHOTOS__EMBED=resize`, `REPORT_SERVER__DB__POOL_SIZE=5`.
pub const ENV_PREFIX: &str = "REPORT_SERVER__";

impl Settings {
    /// Read a profile file, apply environment overrides, validate.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        let (mut value, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| SettingsError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                let v: toml::Table = toml::from_str(&text).map_err(|e| SettingsError::Parse {
                    path: p.to_path_buf(),
                    message: e.to_string(),
                })?;
                (v, p.display().to_string())
            }
            None => (toml::Table::new(), "built-in defaults".to_string()),
        };
        let guessed = apply_env_overrides(&mut value, std::env::vars())?;
        let mut settings: Settings =
            deserialize_with_overrides(value, &guessed).map_err(|e| SettingsError::Parse {
                path: PathBuf::from(&origin),
                message: format!("{} (see profiles/original.toml for every key)", e.message()),
            })?;
        if settings.name == "default"
            && let Some(stem) = path.and_then(|p| p.file_stem()).and_then(|s| s.to_str())
        {
            settings.name = stem.to_string();
        }
        settings.validate(&origin)?;
        Ok(settings)
    }

    /// Parse a profile from TOML text (tests and embedded defaults).
    pub fn from_toml(text: &str) -> Result<Settings, SettingsError> {
        let s: Settings = toml::from_str(text).map_err(|e| SettingsError::Parse {
            path: PathBuf::from("<inline>"),
            message: e.to_string(),
        })?;
        s.validate("<inline>")?;
        Ok(s)
    }

    /// Refuse impossible values.
    pub fn validate(&self, origin: &str) -> Result<(), SettingsError> {
        let bad = |key: &str, message: &str| {
            Err(SettingsError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if self.workers == 0 || self.workers > 64 {
            return bad("workers", "must be between 1 and 64");
        }
        if self.queue_capacity == Some(0) {
            return bad(
                "queue_capacity",
                "must be at least 1; leave it out for an unbounded queue",
            );
        }
        if let Some((key, message)) = self.queue.problem() {
            return bad(key, message);
        }
        if self.db.pool_size == 0 {
            return bad("db.pool_size", "must be at least 1");
        }
        if self.db.pool_timeout_secs.is_nan() || self.db.pool_timeout_secs <= 0.0 {
            return bad(
                "db.pool_timeout_secs",
                "must be a positive number of seconds",
            );
        }
        if self.db.max_bytes.is_some_and(|b| b < 64 * 1024) {
            return bad(
                "db.max_bytes",
                "must be at least 65536 (16 pages; leave it out for no cap)",
            );
        }
        if !self.db.url.is_empty() && !self.db.url.starts_with("sqlite://") {
            return bad(
                "db.url",
                "must be a sqlite://PATH URL (SQLite is the embedded database); leave it empty for <data_dir>/oomlab.sqlite3",
            );
        }
        if self.photos.max_px < 16 || self.photos.max_px > 20_000 {
            return bad("photos.max_px", "must be between 16 and 20000 pixels");
        }
        if self.photos.jpeg_quality == 0 || self.photos.jpeg_quality > 100 {
            return bad("photos.jpeg_quality", "must be between 1 and 100");
        }
        if self.photos.attempts == 0 || self.photos.attempts > 20 {
            return bad("photos.attempts", "must be between 1 and 20");
        }
        if self.photos.timeout_secs.is_nan() || self.photos.timeout_secs <= 0.0 {
            return bad(
                "photos.timeout_secs",
                "must be a positive number of seconds",
            );
        }
        if let Some((key, why)) = self.model.gc.invalid() {
            return bad(key, why);
        }
        if let Some((key, why)) = self.model.cpu.invalid() {
            return bad(key, why);
        }
        if self.http.max_in_flight == 0 {
            return bad("http.max_in_flight", "must be at least 1");
        }
        for (key, secs) in [
            (
                "http.header_read_timeout_secs",
                self.http.header_read_timeout_secs,
            ),
            (
                "http.body_read_timeout_secs",
                self.http.body_read_timeout_secs,
            ),
        ] {
            if !(secs > 0.0 && secs <= 86_400.0) {
                return bad(key, "must be a positive number of seconds (at most 86400)");
            }
        }
        if self.limits.max_decode_bytes < (1 << 20) {
            return bad(
                "limits.max_decode_bytes",
                "must be at least 1048576 (1 MiB)",
            );
        }
        if self.pdf.font == PdfFont::Unicode && self.pdf.assembly != Assembly::Incremental {
            return bad(
                "pdf.font",
                "\"unicode\" needs pdf.assembly = \"incremental\" (printpdf's in-memory document shows the builtin fonts only)",
            );
        }
        if self.limits.max_queued_jobs == 0 {
            return bad("limits.max_queued_jobs", "must be at least 1");
        }
        if self.model.runtime_mb > 64 * 1024 {
            return bad("model.runtime_mb", "must be at most 65536 (64 GiB)");
        }
        if self.model.test_leak_per_job_mb > 1024 {
            return bad(
                "model.test_leak_per_job_mb",
                "must be at most 1024 (MiB leaked per job, for tests only; 0 turns it off)",
            );
        }
        if url::Url::parse(&self.cloudinary.base_url).is_err() {
            return bad(
                "cloudinary.base_url",
                "must be an absolute URL such as http://127.0.0.1:4000",
            );
        }
        if self.cloudinary.cloud_name.is_empty()
            || !self
                .cloudinary
                .cloud_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad("cloudinary.cloud_name", "must be letters, digits, - or _");
        }
        if self.limits.max_photos_per_item == 0 || self.limits.max_items == 0 {
            return bad(
                "limits",
                "max_items and max_photos_per_item must be at least 1",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
