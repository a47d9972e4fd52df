//! `POST /api/submissions`: validate, store submission and job in one
//! transaction, queue the job, answer 202 at once.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};

use super::blocking;
use crate::app::AppState;
use crate::db;
use crate::error::ApiError;
use crate::submission::Submission;

pub async fn create_submission(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the submission is larger than {} bytes (http.max_submission_bytes)",
                state.settings.http.max_submission_bytes
            ))
        } else {
            e.into()
        }
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMedia(
            "send the submission as JSON with Content-Type: application/json".into(),
        ));
    }
    let sub = Submission::parse(&body)?;
    sub.validate(&state.settings.limits, &state.cloudinary.urls)?;
    if !state.queue.has_room() {
        return Err(ApiError::Busy(
            "the job queue is full (queue_capacity); retry later".into(),
        ));
    }
    let text = serde_json::to_string(&sub).map_err(|e| ApiError::Unexpected(e.into()))?;
    let pool = state.pool.clone();
    // Stored before the answer: an acknowledged submission is never lost.
    let (submission_id, job_id) =
        blocking(move || db::insert_submission(&mut *pool.get()?, &text)).await?;
    let queue = state.queue.clone();
    if let Err(e) = blocking(move || Ok(queue.push(job_id))).await? {
        // Raced past the capacity check, or Redis is unreachable: the job
        // is stored and stays pending; it is queued again on the next start.
        tracing::warn!(
            job_id,
            error = format!("{e:#}"),
            "not queued; job stays pending"
        );
    }
    state.metrics.submissions.inc();
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "submission_id": submission_id,
            "job_id": job_id,
            "status_url": format!("/api/jobs/{job_id}"),
        })),
    ))
}
