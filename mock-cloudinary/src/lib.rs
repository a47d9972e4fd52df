//! A fake Cloudinary for tests and load runs: realistic synthetic photos,
//! Cloudinary's delivery-URL transformations, the upload API (bytes go to
//! disk), and injected faults, in bounded memory.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mock_cloudinary::{FakeCloudinary, FaultConfig, FaultRule};
//! let fake = FakeCloudinary::builder()
//!     .seed(7)
//!     .preload(&["oomlab/camera-1"])
//!     .faults(FaultConfig::default().rule(FaultRule::for_path("camera").errors(0.1, 503)))
//!     .start()
//!     .await?;
//! let url = fake.photo_url("oomlab/camera-1"); // a ~3 MB 4000x3000 JPEG
//! # Ok(()) }
//! ```
//!
//! Requests reach a small hyper server (the front layer) that applies
//! faults, streams uploads to disk and prepares image bytes off the
//! runtime; it then forwards a light copy of each request to a wiremock
//! `MockServer`, whose mocks match Cloudinary's URL grammar and decide the
//! answer; the front layer attaches the image bytes to it. See the README
//! for URLs, transformations and the faults file.
//!
//! # Layout
//! - [`handle`]: [`FakeCloudinary`] and its builder; starting and stopping.
//! - [`front`]: the HTTP front layer: routing, faults, forwarding to wiremock.
//! - [`mocks`]: the wiremock mocks, responders, and the reset schedule that bounds wiremock's memory.
//! - [`grammar`]: parsing delivery URLs and transformation components.
//! - [`catalogue`]: the public-id grammar of synthetic photos.
//! - [`store`]: resolving public ids to bytes: uploads, the photo directory, catalogue photos, variants.
//! - [`cache`]: the byte-bounded cache of values computed once.
//! - [`encoding`]: how a catalogue photo is stored: progressive, subsampling, gray, CMYK, EXIF orientation.
//! - [`synth`]: generating camera-like photos and searching JPEG quality for a target size.
//! - [`transform`]: geometry of crop modes, decode, resize, encode.
//! - [`uploads`]: multipart uploads streamed to disk; the upload fields the SDKs send.
//! - [`datauri`]: base64 `data:` URIs decoded file to file.
//! - [`remote`]: uploads by URL, fetched from loopback only.
//! - [`faults`]: fault settings (TOML and code) and per-request decisions.
//! - [`body`]: the response body with truncation and bandwidth cap.
//! - [`cli`]: the `mock-cloudinary` binary's flags and `run`.
//! - [`error`]: error enums.

pub mod body;
pub mod cache;
pub mod catalogue;
pub mod cli;
pub mod datauri;
pub mod encoding;
pub mod error;
pub mod faults;
pub mod front;
pub mod grammar;
pub mod handle;
pub mod mocks;
pub mod remote;
pub mod store;
pub mod synth;
pub mod transform;
pub mod uploads;

pub use error::{ConfigError, DeliveryError, UploadError};
pub use faults::{FaultConfig, FaultRule};
pub use handle::{FakeCloudinary, FakeCloudinaryBuilder};
pub use uploads::UploadPreset;
