//! `POST /api/submissions`: validate, store submission and job in one
//! transaction, queue the job, answer 202 at once.
//!
//! Beyond `limits.max_queued_jobs` pending jobs a submission is 503
//! `queue_full` with `Retry-After`. With an `Idempotency-Key` header, the
//! same key and the same submission within 24 h answer the first job again
//! (`Idempotent-Replayed: true`, nothing new stored or queued), the same key
//! with another submission is 422 `idempotency_key_reused`: a browser that
//! retries after a lost answer does not file the report twice.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::blocking;
use crate::app::AppState;
use crate::db::{self, Stored};
use crate::error::ApiError;
use crate::submission::Submission;

pub async fn create_submission(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
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
    let key = idempotency_key(&headers)?;
    let sub = Submission::parse(&body)?;
    sub.validate(&state.settings.limits, &state.cloudinary.urls)?;
    if !state.queue.has_room() {
        return Err(ApiError::Busy(
            "the job queue is full (queue_capacity); retry later".into(),
        ));
    }
    let text = serde_json::to_string(&sub).map_err(|e| ApiError::Unexpected(e.into()))?;
    let pool = state.pool.clone();
    let max_pending = state.settings.limits.max_queued_jobs;
    let now = chrono::Utc::now().timestamp();
    // Stored before the answer: an acknowledged submission is never lost.
    let stored = blocking(move || {
        db::store_submission(&mut *pool.get()?, &text, key.as_deref(), max_pending, now)
    })
    .await?;
    let (submission_id, job_id, replayed) = match stored {
        Stored::New {
            submission_id,
            job_id,
        } => (submission_id, job_id, false),
        Stored::Replayed {
            submission_id,
            job_id,
        } => (submission_id, job_id, true),
        Stored::KeyReused => {
            return Err(ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different submission in the last 24 h; use a new key for a new submission",
            ));
        }
        Stored::QueueFull { pending } => {
            return Err(ApiError::QueueFull(format!(
                "{pending} jobs are waiting to start, the most this server queues (limits.max_queued_jobs); retry later"
            )));
        }
    };
    if !replayed {
        let queue = state.queue.clone();
        if let Err(e) = blocking(move || Ok(queue.push(job_id))).await? {
            // Raced past the capacity check, or Redis is unreachable: the job
            // is stored and stays pending; the web role queues pending jobs
            // again periodically (and every role on its next start).
            tracing::warn!(
                job_id,
                error = format!("{e:#}"),
                "not queued; job stays pending"
            );
        }
        state.metrics.submissions.inc();
    }
    let mut answer = (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "submission_id": submission_id,
            "job_id": job_id,
            "status_url": format!("/api/jobs/{job_id}"),
        })),
    )
        .into_response();
    if replayed {
        answer
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(answer)
}

/// The `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let ok = raw.as_bytes();
    if ok.is_empty() || ok.len() > 255 || !ok.iter().all(|b| (0x21..=0x7E).contains(b)) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        ));
    }
    Ok(Some(String::from_utf8_lossy(ok).into_owned()))
}
