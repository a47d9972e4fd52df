//! API errors: one enum, one `IntoResponse`, every answer
//! `{"error":{"code":"...","message":"..."}}`.
//!
//! Two halves keep that promise. Our handlers and the extractor rejections
//! they map (`From<BytesRejection>`, `From<MultipartRejection>`) answer an
//! [`ApiError`] with a precise code. Everything else axum answers by itself
//! (an empty 405, a path that does not decode, a layer's refusal) is plain
//! text or empty: [`json_error_bodies`], one middleware around the whole
//! router, rewrites any 4xx/5xx answer that is not JSON into the same
//! envelope, so no error escapes it whatever produced it.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidMultipart(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    Busy(String),
    /// `limits.max_queued_jobs` jobs are waiting already.
    #[error("{0}")]
    QueueFull(String),
    /// The disk (or SQLite's database) is full: nothing could be stored.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("{0}")]
    Upstream(String),
    /// A URL off the configured Cloudinary origin was not fetched.
    #[error("{0}")]
    OffOrigin(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// An unexpected failure, unless it is a full disk: SQLite's "database
    /// or disk is full" (`SQLITE_FULL`) or `ENOSPC` anywhere in the cause
    /// chain is 507 `insufficient_storage` with the reason, since the
    /// operator must act and the client should know its data was not kept.
    pub fn from_unexpected(e: anyhow::Error) -> ApiError {
        match storage_full(&e) {
            Some(why) => {
                tracing::error!(error = format!("{e:#}"), "storage full");
                ApiError::InsufficientStorage(format!("{why}; nothing was stored, retry later"))
            }
            None => ApiError::Unexpected(e),
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::InvalidMultipart(_) => (StatusCode::BAD_REQUEST, "invalid_multipart"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMedia(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::QueueFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "queue_full"),
            ApiError::InsufficientStorage(_) => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
            }
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ApiError::OffOrigin(_) => (StatusCode::BAD_GATEWAY, "upstream_off_origin"),
            ApiError::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// Why `e` is a full disk, if it is.
pub fn storage_full(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|cause| {
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = cause.downcast_ref::<rusqlite::Error>()
            && f.code == rusqlite::ErrorCode::DiskFull
        {
            return Some("the database is full (SQLite: database or disk is full)".to_string());
        }
        let io = cause.downcast_ref::<std::io::Error>()?;
        (io.raw_os_error() == Some(28) || io.kind() == std::io::ErrorKind::StorageFull)
            .then(|| format!("the disk is full ({io})"))
    })
}

/// Seconds a 503 asks the client to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 5;

/// The JSON error body.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                "internal error; see the server log".to_string()
            }
            other => other.to_string(),
        };
        let mut body = error_body(code, &message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The wait in the header and in the JSON, for clients that read
            // only the body.
            body["error"]["retry_after_secs"] = RETRY_AFTER_SECS.into();
        }
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        resp
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> ApiError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!("the request body is too large: {}", e.body_text()))
        } else {
            ApiError::BadRequest(format!(
                "the request body could not be read: {}",
                e.body_text()
            ))
        }
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(e: MultipartRejection) -> ApiError {
        ApiError::InvalidMultipart(format!(
            "{}: send multipart/form-data (Content-Type: multipart/form-data; boundary=...)",
            e.body_text()
        ))
    }
}

/// The code of an answer that no [`ApiError`] produced, by its status.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::INSUFFICIENT_STORAGE => "insufficient_storage",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "http_version_not_supported",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::BAD_GATEWAY => "upstream_error",
        StatusCode::SERVICE_UNAVAILABLE => "busy",
        StatusCode::GATEWAY_TIMEOUT => "upstream_timeout",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// Framework answers carry a sentence at most; a longer body is not read
/// into memory, only replaced.
const MAX_WRAPPED_BODY: usize = 4 << 10;

/// Middleware: a 4xx/5xx answer whose body is not JSON (axum's own 405,
/// rejections of extractors a handler did not map, refusals of layers) is
/// rewritten as `{"error":{"code","message"}}`, its status and other headers
/// (`Allow`, `Retry-After`) kept.
pub async fn json_error_bodies(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // Only the path: a query string may carry anything.
    let path: String = req.uri().path().chars().take(200).collect();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(resp.headers()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_WRAPPED_BODY).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .filter(|a| !a.is_empty())
            .map(|a| format!("; allowed: {a}"))
            .unwrap_or_default();
        format!("{method} is not allowed on {path}{allowed}")
    } else if !text.is_empty() {
        text
    } else {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        )
    };
    let body = error_body(code_for_status(status), &message).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_enospc_is_insufficient_storage() {
        // /dev/full answers every write with ENOSPC.
        use std::io::Write;
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .and_then(|mut f| f.write_all(b"photo").and_then(|()| f.flush()))
            .unwrap_err();
        let e = anyhow::Error::new(err).context("spooling the upload");
        let api = ApiError::from_unexpected(e);
        assert_eq!(
            api.status_and_code(),
            (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
        );
        assert!(api.to_string().contains("disk is full"), "{api}");
    }

    #[test]
    fn a_real_sqlite_full_database_is_insufficient_storage() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (b BLOB); PRAGMA max_page_count = 8;")
            .unwrap();
        let err = (0..100)
            .find_map(|_| {
                conn.execute("INSERT INTO t VALUES (zeroblob(2000))", [])
                    .err()
            })
            .expect("8 pages fill up");
        let api = ApiError::from_unexpected(anyhow::Error::new(err).context("storing"));
        assert_eq!(api.status_and_code().0, StatusCode::INSUFFICIENT_STORAGE);
        let other = ApiError::from_unexpected(anyhow::anyhow!("something else"));
        assert_eq!(other.status_and_code().0, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
