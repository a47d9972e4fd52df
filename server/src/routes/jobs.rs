//! Job status and report downloads.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use memstats::JobTimes;
use serde::Serialize;

use super::blocking;
use crate::app::AppState;
use crate::cloudinary::GetError;
use crate::db::{self, JobRow, ReportKind};
use crate::error::ApiError;
use crate::jobs::DegradedPhoto;
use crate::settings::DownloadMode;

fn parse_job_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{}` is not a job id (a positive integer)",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

async fn load_job(state: &AppState, id: i64) -> Result<JobRow, ApiError> {
    let pool = state.pool.clone();
    blocking(move || db::get_job(&*pool.get()?, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id} does not exist")))
}

/// One stored report in the status answer.
#[derive(Debug, Serialize)]
struct ReportLink {
    /// Where to download it from this server.
    url: String,
    /// Where Cloudinary stores it.
    cloudinary_url: String,
    /// Its size in bytes.
    bytes: Option<u64>,
}

/// The stored reports of a job; `None` until each is uploaded.
#[derive(Debug, Serialize)]
struct Results {
    pdf: Option<ReportLink>,
    excel: Option<ReportLink>,
}

/// The answer of `GET /api/jobs/{id}`. The job's times are
/// [`memstats::JobTimes`], flattened, so the harness reads them with the same
/// type.
#[derive(Debug, Serialize)]
pub struct JobStatus {
    job_id: i64,
    submission_id: i64,
    status: String,
    progress: u8,
    stage: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
    /// Photos shown as a placeholder or partly; always present, `[]` when
    /// none (`jobs::DegradedPhoto` is the contract's type).
    degraded_photos: Vec<DegradedPhoto>,
    attempts: u32,
    #[serde(flatten)]
    times: JobTimes,
    results: Results,
    stages: serde_json::Value,
}

impl JobStatus {
    fn from_row(job: JobRow) -> JobStatus {
        let id = job.id;
        let link = |kind: ReportKind, url: Option<String>, bytes: Option<u64>| {
            url.map(|u| ReportLink {
                url: format!("/api/jobs/{id}/{}", kind.file_name()),
                cloudinary_url: u,
                bytes,
            })
        };
        JobStatus {
            job_id: job.id,
            submission_id: job.submission_id,
            status: job.status,
            progress: job.progress,
            stage: job.stage,
            error: job.error,
            warnings: job.warnings,
            degraded_photos: job.degraded_photos,
            attempts: job.attempts,
            times: JobTimes {
                created_at: Some(job.created_at),
                started_at: job.started_at,
                finished_at: job.finished_at,
            },
            results: Results {
                pdf: link(ReportKind::Pdf, job.pdf_url, job.pdf_bytes),
                excel: link(ReportKind::Xlsx, job.xlsx_url, job.xlsx_bytes),
            },
            stages: job.stages,
        }
    }
}

pub async fn job_status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let id = parse_job_id(&id)?;
    let job = load_job(&state, id).await?;
    Ok(Json(JobStatus::from_row(job)))
}

pub async fn download_report(
    State(state): State<Arc<AppState>>,
    Path((id, report)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    let kind = ReportKind::parse(&report).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no report `{}`; the reports are report.pdf and report.xlsx",
            report.chars().take(40).collect::<String>()
        ))
    })?;
    let job = load_job(&state, id).await?;
    let url = match kind {
        ReportKind::Pdf => job.pdf_url,
        ReportKind::Xlsx => job.xlsx_url,
    }
    .ok_or_else(|| {
        ApiError::NotFound(format!(
            "job {id} has no {} yet (status {})",
            kind.file_name(),
            job.status
        ))
    })?;
    let upstream = state.cloudinary.get(&url).await.map_err(|e| match e {
        GetError::OffOrigin(why) => {
            tracing::warn!(
                job_id = id,
                url = url.as_str(),
                "report URL off the Cloudinary origin; not fetched"
            );
            ApiError::OffOrigin(format!(
                "the stored {} is not fetched: {why}",
                kind.file_name()
            ))
        }
        GetError::Upstream(why) => ApiError::Upstream(why),
    })?;
    state.metrics.report_downloads.inc();
    let headers = [
        (header::CONTENT_TYPE, kind.content_type().to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"job-{id}-{}\"", kind.file_name()),
        ),
    ];
    match state.settings.reports.download {
        DownloadMode::Buffered => {
            // As the modelled app: the whole file in memory, then answered.
            let body = upstream.bytes().await.map_err(|e| {
                ApiError::Upstream(format!("reading the report from Cloudinary: {e}"))
            })?;
            Ok((headers, body).into_response())
        }
        DownloadMode::Joined => {
            let body = read_joined(upstream).await.map_err(|e| {
                ApiError::Upstream(format!("reading the report from Cloudinary: {e}"))
            })?;
            Ok((headers, body).into_response())
        }
        DownloadMode::Streamed => {
            Ok((headers, Body::from_stream(upstream.bytes_stream())).into_response())
        }
    }
}

/// The body as `requests`' `response.content` reads it: every chunk copied
/// into a buffer of its own as it arrives (`iter_content`), then all of them
/// joined into one (`b"".join(...)`) before the list is let go.
async fn read_joined(mut upstream: reqwest::Response) -> reqwest::Result<bytes::Bytes> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    while let Some(chunk) = upstream.chunk().await? {
        chunks.push(chunk.to_vec());
    }
    let joined = chunks.concat();
    drop(chunks);
    Ok(bytes::Bytes::from(joined))
}
