//! One job, stage by stage, with the memory each stage took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use memstats::JobStatus;

use super::InFlight;
use super::backend::Queue;
use super::cpu::{self, Pacer};
use super::degraded::{Notes, ShownAs};
use super::excel::build_workbook;
use super::layout::{BuiltPdf, PdfOutput, build_pdf};
use super::retention::{Collector, Held};
use super::stages::Stages;
use crate::cloudinary::{CloudinaryClient, FetchError};
use crate::db::{self, Pool, ReportKind};
use crate::imagecheck::ImageScan;
use crate::memory::HighWaterMonitor;
use crate::metrics::Metrics;
use crate::settings::{EmbedMode, FetchMode, Release, Settings};
use crate::submission::Submission;

/// Attempts after which a job that keeps being interrupted (the server was
/// killed while processing it) is failed instead of retried forever.
pub const MAX_JOB_ATTEMPTS: u32 = 3;

/// Everything a worker needs.
pub struct JobContext {
    pub settings: Arc<Settings>,
    pub pool: Pool,
    pub cloudinary: CloudinaryClient,
    pub monitor: HighWaterMonitor,
    pub queue: Arc<Queue>,
    pub in_flight: Arc<InFlight>,
    pub metrics: Arc<Metrics>,
    pub logo_png: Arc<Vec<u8>>,
    /// Finished jobs' photo buffers awaiting the modelled cyclic collection
    /// (`model.release = "cyclic_gc"`); shared with `/debug/memory`.
    pub collector: Arc<Collector>,
    /// Where incremental PDFs are written before upload.
    pub tmp_dir: std::path::PathBuf,
    /// What `model.test_leak_per_job_mb` leaked (tests only).
    pub test_leak: super::test_leak::TestLeak,
}

impl JobContext {
    pub(super) fn fail_after_panic(&self, job_id: i64) {
        self.in_flight.end(job_id);
        if let Ok(conn) = self.pool.get() {
            let _ = db::finish_job(
                &conn,
                job_id,
                JobStatus::Failed.as_str(),
                Some("the job hit an internal error (a panic); see the server log"),
                &[],
                &serde_json::json!([]),
            );
        }
        self.metrics.job_finished("failed");
    }
}

/// A worker thread's own I/O: a current-thread runtime and an HTTP client
/// bound to it. Downloads and uploads then run entirely on the worker's
/// thread (hyper's connection tasks included), so jemalloc's per-thread
/// counters see every byte the job allocates and frees.
pub struct WorkerIo {
    pub rt: tokio::runtime::Runtime,
    pub cloudinary: CloudinaryClient,
}

impl WorkerIo {
    pub fn new(ctx: &JobContext) -> anyhow::Result<WorkerIo> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let cloudinary = CloudinaryClient::new(&ctx.settings.cloudinary)?;
        Ok(WorkerIo { rt, cloudinary })
    }
}

/// How a delivery of a job ended, for the queue's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// This delivery recorded the job's end (`completed` or `failed`).
    Recorded,
    /// The job was finished before this delivery: nothing was done.
    AlreadyFinished,
    /// Another delivery took the job over while this one ran; this one's
    /// result was discarded (a job is completed once).
    Superseded,
    /// Its start or end could not be written (no database): to be
    /// delivered again.
    Unrecorded,
}

/// Run job `job_id` to `completed` or `failed`.
pub fn run_job(ctx: &JobContext, io: &WorkerIo, job_id: i64) -> JobEnd {
    let conn = match ctx.pool.get() {
        Ok(c) => c,
        Err(e) => {
            // Stays pending in the database: taken up again on restart.
            tracing::error!(
                job_id,
                error = format!("{e:#}"),
                "no database connection for the job"
            );
            return JobEnd::Unrecorded;
        }
    };
    let attempts = db::get_job(&conn, job_id)
        .ok()
        .flatten()
        .map(|j| j.attempts)
        .unwrap_or(0);
    if attempts >= MAX_JOB_ATTEMPTS {
        let msg = format!(
            "the job was interrupted {attempts} times (the server stopped or was killed while processing it); giving up"
        );
        let _ = db::finish_job(
            &conn,
            job_id,
            JobStatus::Failed.as_str(),
            Some(&msg),
            &[],
            &serde_json::json!([]),
        );
        ctx.metrics.job_finished("failed");
        return JobEnd::Recorded;
    }
    let attempt = match db::claim_job(&conn, job_id) {
        Ok(Some(attempt)) => attempt,
        // Finished already: never produce a report twice.
        Ok(None) => return JobEnd::AlreadyFinished,
        Err(e) => {
            tracing::error!(job_id, error = format!("{e:#}"), "cannot start the job");
            return JobEnd::Unrecorded;
        }
    };
    drop(conn);
    ctx.in_flight.begin(job_id);
    ctx.metrics.job_started();
    let mut stages = Stages::new();
    let mut notes = Notes::default();
    let started = Instant::now();
    let result = process(ctx, io, job_id, &mut stages, &mut notes, started);
    // In index order whatever noted them first (a fetch or the layout).
    notes.degraded.sort_by_key(|d| d.index);
    stages.end();
    let result = result.map(|held| {
        // `cyclic_gc`: the document's buffers outlive the job, parked until
        // a collection (see `jobs::retention`); with `immediate` none are
        // left by now.
        ctx.collector.park(job_id, held);
        // Tests only: leaked before the job is marked completed, so it is
        // resident when the report is seen ready.
        ctx.test_leak.leak(ctx.settings.model.test_leak_per_job_mb);
    });
    if let Err(e) = &result
        && let Some(why) = crate::error::storage_full(e)
    {
        // A full disk is not the job's fault: it is left unfinished, as a
        // crash would leave it, and taken up again (at the next start with
        // the in-process queue; by re-delivery with Redis) instead of being
        // recorded as failed, which the full disk may not even allow.
        tracing::error!(
            job_id,
            error = format!("{e:#}"),
            "{why}: the job is left unfinished, to run again"
        );
        ctx.in_flight.end(job_id);
        return JobEnd::Unrecorded;
    }
    let (status, error) = match &result {
        Ok(()) => (JobStatus::Completed.as_str(), None),
        Err(e) => (JobStatus::Failed.as_str(), Some(format!("{e:#}"))),
    };
    if let Some(e) = &error {
        tracing::warn!(job_id, error = e.as_str(), "job failed");
    }
    let stored = ctx.pool.get().and_then(|conn| {
        db::finish_claimed(
            &conn,
            job_id,
            attempt,
            status,
            error.as_deref(),
            &notes,
            &stages.json(),
        )
    });
    let end = match stored {
        Ok(true) => JobEnd::Recorded,
        Ok(false) => {
            tracing::warn!(
                job_id,
                attempt,
                "another delivery took the job over; this result is discarded"
            );
            JobEnd::Superseded
        }
        Err(e) => {
            tracing::error!(
                job_id,
                error = format!("{e:#}"),
                "cannot record the job's end"
            );
            JobEnd::Unrecorded
        }
    };
    ctx.in_flight.end(job_id);
    ctx.metrics.record_stages(&stages.done);
    ctx.metrics.job_finished(status);
    ctx.metrics
        .job_seconds
        .observe(started.elapsed().as_secs_f64());
    end
}

fn process(
    ctx: &JobContext,
    io: &WorkerIo,
    job_id: i64,
    stages: &mut Stages,
    notes: &mut Notes,
    started: Instant,
) -> anyhow::Result<Held> {
    let s = &ctx.settings;
    let deadline = started + Duration::from_secs(s.limits.job_deadline_secs);
    let check_deadline = || -> anyhow::Result<()> {
        if Instant::now() > deadline {
            anyhow::bail!(
                "the job ran past its {} s deadline (limits.job_deadline_secs)",
                s.limits.job_deadline_secs
            );
        }
        Ok(())
    };
    let progress = |stages: &mut Stages, stage: &str, p: u8| -> anyhow::Result<()> {
        ctx.in_flight.update(job_id, stage, p, stages.live());
        let conn = ctx.pool.get()?;
        match db::set_progress(&conn, job_id, p, stage, &stages.json()) {
            // Progress is for the polling browser: on a full disk the job
            // goes on without it (its end needs no more room than its row).
            Err(e) if crate::error::storage_full(&e).is_some() => {
                tracing::warn!(job_id, error = format!("{e:#}"), "progress not stored");
                Ok(())
            }
            other => other,
        }
    };

    stages.begin("load", &ctx.monitor);
    let body = {
        let conn = ctx.pool.get()?;
        db::load_submission(&conn, job_id)?
    };
    let sub: Submission =
        serde_json::from_str(&body).context("the stored submission no longer parses")?;
    drop(body);

    stages.begin("excel", &ctx.monitor);
    // `[model.cpu]`: each stretch below costs at least the app's CPU time
    // (`jobs::cpu`), this thread's own work included.
    let cpu = &s.model.cpu;
    let mut pacer = Pacer::new(cpu.is_on());
    // `cyclic_gc`: the objects the modelled collector counts, where the app
    // makes them (`jobs::generations`); a collection they trigger frees
    // other jobs' leftovers on this thread, credited to this job.
    stages.credit_freed_for_others(ctx.collector.count_job().bytes);
    progress(stages, "excel", 10)?;
    let xlsx = build_workbook(&sub, &ctx.logo_png).context("building the Excel report")?;
    pacer.spend_to(cpu.job_ms);
    progress(stages, "excel_upload", 30)?;

    stages.begin("excel_upload", &ctx.monitor);
    let xlsx = Bytes::from(xlsx);
    let xlsx_len = xlsx.len() as u64;
    let answer = io
        .rt
        .block_on(io.cloudinary.upload(
            "raw",
            &format!("job-{job_id}-report.xlsx"),
            ReportKind::Xlsx.content_type(),
            xlsx,
            &s.photos,
        ))
        .context("uploading the Excel report")?;
    pacer.spend_to(cpu::upload_ms(cpu, xlsx_len));
    let url = answer
        .delivery_url()
        .context("Cloudinary's answer has no URL")?;
    ctx.pool
        .get()
        .and_then(|c| db::set_result(&c, job_id, ReportKind::Xlsx, url, xlsx_len))?;
    progress(stages, "photos", 45)?;
    check_deadline()?;

    let photo_urls: Vec<String> = sub.photos().map(|(_, u)| u.to_string()).collect();
    // Photos fetched up front are all held here until the PDF is built.
    let mut upfront: Vec<Option<Bytes>> = Vec::new();
    if s.photos.fetch == FetchMode::AllUpfront {
        stages.begin("photos", &ctx.monitor);
        for (i, u) in photo_urls.iter().enumerate() {
            check_deadline()?;
            pacer.mark();
            let photo = fetch_photo(ctx, io, u, i, deadline, notes);
            pacer.spend_to(cpu::download_ms(
                cpu,
                photo.as_ref().map_or(0, |b| b.len() as u64),
            ));
            upfront.push(photo);
            stages.credit_freed_for_others(ctx.collector.count_photo_download().bytes);
            ctx.in_flight.update(job_id, "photos", 45, stages.live());
        }
    }

    stages.begin("pdf", &ctx.monitor);
    let photos = photo_urls.len() as u64;
    stages.credit_freed_for_others(ctx.collector.count_document(job_id, photos).bytes);
    ctx.in_flight.update(job_id, "pdf", 45, stages.live());
    // Photos fetched up front stay referenced until the document is built,
    // as the modelled app's list of in-memory files does.
    let mut upfront_iter = upfront.iter().cloned();
    // `[model.cpu]`: what the photo handed out last costs the app (its
    // download when fetched here, its decode, its embedding), spent once
    // it is drawn.
    let owed = std::cell::Cell::new(0.0f64);
    let owe = |photo: &Option<Bytes>, downloaded: bool| {
        if let Some(b) = photo {
            let bytes = b.len() as u64;
            let pixels =
                ImageScan::frame_of(b).map_or(0, |f| u64::from(f.width) * u64::from(f.height));
            let mut ms = cpu::photo_ms(cpu, pixels, bytes);
            if downloaded {
                ms += cpu::download_ms(cpu, bytes);
            }
            owed.set(owed.get() + ms);
        }
    };
    pacer.mark();
    let built = build_pdf(
        &sub,
        s,
        |n, url, notes| {
            check_deadline()?;
            let photo = match s.photos.fetch {
                FetchMode::AllUpfront => upfront_iter.next().flatten(),
                FetchMode::OneAtATime => {
                    let photo = fetch_photo(ctx, io, url, n, deadline, notes);
                    stages.credit_freed_for_others(ctx.collector.count_photo_download().bytes);
                    photo
                }
            };
            if cpu.is_on() {
                owe(&photo, s.photos.fetch == FetchMode::OneAtATime);
            }
            Ok(photo)
        },
        notes,
        |held| {
            // `[model.cpu]`: the photo's decode and embedding take the
            // app's time before its RGB string is let go, as the app's
            // draw uses the string until it has embedded the photo.
            pacer.spend_to(owed.replace(0.0));
            // `cyclic_gc`: the app's build leaves a drawn photo's RGB string
            // as garbage, freed by a collection during the build, if one
            // runs (`jobs::retention`).
            if s.model.release == Release::CyclicGc
                && let Some(rgb) = held.take_last_rgb()
            {
                ctx.collector.loosen(job_id, rgb);
            }
            ctx.in_flight.update(job_id, "pdf", 45, stages.live())
        },
        &ctx.tmp_dir.join(format!("job-{job_id}-report.pdf")),
    );
    // The strings no collection freed stay with the document (also when
    // the build failed: the job's other buffers are dropped with it).
    let loose = ctx.collector.reclaim(job_id);
    let BuiltPdf {
        output: pdf,
        mut held,
    } = built?;
    // The document's own share: signatures, the save (the last photo on).
    pacer.spend_to(cpu.document_ms);
    held.keep_loose(loose);
    drop(upfront);
    // The document is saved: `immediate` frees what it held now, `cyclic_gc`
    // keeps it (decoded buffers, the document's streams, the file's buffer)
    // to the job's end and parks it.
    let mut held = match s.model.release {
        Release::Immediate => {
            drop(held);
            Held::default()
        }
        Release::CyclicGc => held,
    };
    progress(stages, "pdf_upload", 60)?;
    check_deadline()?;

    stages.begin("pdf_upload", &ctx.monitor);
    pacer.mark();
    let pdf_len = pdf.len();
    let name = format!("job-{job_id}-report.pdf");
    let answer = match pdf {
        PdfOutput::Memory(pdf) => {
            let pdf = Bytes::from(pdf);
            if s.model.release == Release::CyclicGc {
                held.keep_output(pdf.clone());
            }
            io.rt.block_on(io.cloudinary.upload(
                "raw",
                &name,
                ReportKind::Pdf.content_type(),
                pdf,
                &s.photos,
            ))
        }
        PdfOutput::File { path, .. } => {
            let r = io.rt.block_on(io.cloudinary.upload_file(
                "raw",
                &name,
                ReportKind::Pdf.content_type(),
                &path,
                &s.photos,
            ));
            let _ = std::fs::remove_file(&path);
            r
        }
    }
    .context("uploading the PDF report")?;
    pacer.spend_to(cpu::upload_ms(cpu, pdf_len));
    ctx.metrics
        .model_cpu_seconds
        .inc_by(pacer.burned().as_secs_f64());
    let url = answer
        .delivery_url()
        .context("Cloudinary's answer has no URL")?;
    ctx.pool
        .get()
        .and_then(|c| db::set_result(&c, job_id, ReportKind::Pdf, url, pdf_len))?;
    progress(stages, "complete", 75)?;
    Ok(held)
}

/// Fetch one photo; a photo that cannot be had becomes a warning and a
/// placeholder, as in the modelled app. Waits between attempts (a 429's
/// `Retry-After` included) never run past the job's `deadline`.
fn fetch_photo(
    ctx: &JobContext,
    io: &WorkerIo,
    raw: &str,
    index: usize,
    deadline: Instant,
    notes: &mut Notes,
) -> Option<Bytes> {
    let s = &ctx.settings;
    let url = match ctx.cloudinary.urls.check_photo_url(raw) {
        Ok(u) => u,
        Err(why) => {
            notes.warnings.push(format!(
                "photo {} {why}; shown as \"image not available\"",
                index + 1
            ));
            notes.degrade(index, raw, ShownAs::Placeholder, &why);
            return None;
        }
    };
    let original = url.clone();
    let url = if s.photos.embed == EmbedMode::CdnTransform {
        ctx.cloudinary
            .urls
            .derivative(&url, s.photos.max_px, s.photos.jpeg_quality)
    } else {
        url
    };
    match io.rt.block_on(io.cloudinary.fetch_before(
        &url,
        &s.photos,
        s.limits.max_photo_bytes,
        Some(tokio::time::Instant::from_std(deadline)),
    )) {
        Ok(b) => {
            ctx.metrics.photo_bytes.inc_by(b.len() as u64);
            if s.photos.embed == EmbedMode::CdnTransform {
                note_cut_original(ctx, io, &original, raw, index, notes);
            }
            Some(b)
        }
        Err(FetchError::Retryable(e) | FetchError::Permanent(e)) => {
            ctx.metrics.photo_failures.inc();
            notes.warnings.push(format!(
                "photo {} ({raw}) could not be downloaded: {e}; shown as \"image not available\"",
                index + 1
            ));
            notes.degrade(
                index,
                raw,
                ShownAs::Placeholder,
                &format!("could not be downloaded: {e}"),
            );
            None
        }
    }
}

/// `cdn_transform`: Cloudinary's derivative of an original cut short is a
/// whole JPEG with the missing part grey, so the original's end is checked
/// (its last bytes only, [`CloudinaryClient::ends_with_eoi`]) and a cut one
/// noted as shown partly. A check that fails notes nothing: the derivative
/// came, and a doubt is not a finding.
fn note_cut_original(
    ctx: &JobContext,
    io: &WorkerIo,
    original: &url::Url,
    raw: &str,
    index: usize,
    notes: &mut Notes,
) {
    let s = &ctx.settings;
    let timeout = Duration::from_secs_f64(s.photos.timeout_secs);
    match io.rt.block_on(
        io.cloudinary
            .ends_with_eoi(original, s.limits.max_photo_bytes, timeout),
    ) {
        Ok(true) => {}
        Ok(false) => {
            let reason = "truncated: decoded partly (the original has no end-of-image marker)";
            notes.warnings.push(format!(
                "photo {} ({raw}) is {reason}; Cloudinary's derivative shows it partly, the missing part grey",
                index + 1
            ));
            notes.degrade(index, raw, ShownAs::Partial, reason);
        }
        Err(e) => tracing::warn!(
            photo = index + 1,
            error = e.as_str(),
            "cannot check the end of the original"
        ),
    }
}
