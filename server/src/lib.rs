//! The reference report server: an axum + tokio model of a site-inspection
//! app that takes form submissions with photos, queues a background job per
//! submission, downloads every photo from Cloudinary and builds a PDF and an
//! Excel report. Every memory-relevant choice of the modelled app is a
//! setting (see `profiles/` and [`settings::Settings`]).
//!
//! # Layout
//! - [`settings`]: the typed settings, from a profile TOML and environment
//!   overrides; unknown keys are errors.
//! - [`app`]: `Application::build` (bind, database, workers, recovery) and
//!   `run_until_stopped`.
//! - [`routes`]: the HTTP API, `router(state)` (and `worker_router`); slow request bodies
//!   cut with 408 (`routes::timeouts`).
//! - [`serve`]: the HTTP/1.1 loop (hyper): header read timeout, the first
//!   request head screened so protocol refusals are JSON, graceful stop.
//! - [`submission`]: the submission type and its validation.
//! - [`jobs`]: the queue, worker threads and the job's stages; `jobs::pdf`,
//!   `jobs::excel`, `jobs::photos` build the reports (`jobs::pdf::unicode`:
//!   shaped text in the bundled fonts of `server/fonts/`).
//! - [`imagecheck`]: JPEG/PNG structure checked whole (through EOI/IEND)
//!   as bytes arrive; a cut photo is found there, not by decoders.
//! - [`cloudinary`]: allowed URLs, uploads and downloads with retries
//!   (backoff, or the wait a 429's `Retry-After` asks for).
//! - [`db`]: SQLite behind a SQLAlchemy-style pool (`db::pool`, FIFO as
//!   `QueuePool` unless `db.use_lifo`), migrations, queries.
//! - [`memory`]: jemalloc figures, per-thread counters, stage high-water
//!   marks, allocator options, the modelled-runtime ballast.
//! - [`metrics`]: `/metrics`, one quantity per family, in OpenMetrics or
//!   the Prometheus text format (`metrics::exposition`).
//! - [`error`]: API errors as `{"error":{"code","message"}}`, and the
//!   middleware that puts every other error answer in that envelope.
//! - [`cli`]: the command line shared by `report-server` and `oomlab serve`.

pub mod app;
pub mod cli;
pub mod cloudinary;
pub mod db;
pub mod error;
pub mod imagecheck;
pub mod jobs;
pub mod memory;
pub mod metrics;
pub mod routes;
pub mod serve;
pub mod settings;
pub mod submission;

pub use app::{AppState, Application, Placement, Role};
pub use settings::Settings;
