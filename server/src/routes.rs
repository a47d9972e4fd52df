//! The HTTP API: `router(state)` (roles `all` and `web`) and `worker_router(state)`, so tests can drive them without a socket.

mod jobs;
mod observe;
mod photos;
mod submissions;
pub mod timeouts;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::app::AppState;
use crate::error::ApiError;

/// `model.release = "cyclic_gc"`: every answered API request counts its
/// cyclic garbage toward the modelled collector (`jobs::generations`).
async fn count_request(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    state.collector.count_request();
    response
}

pub fn router(state: Arc<AppState>) -> Router {
    let state_http = state.settings.http.clone();
    let upload_limit = state.settings.http.max_upload_bytes as usize + (64 << 10);
    let api = Router::new()
        .route(
            "/api/photos",
            post(photos::upload_photo).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/api/submissions",
            post(submissions::create_submission).layer(DefaultBodyLimit::max(
                state.settings.http.max_submission_bytes as usize,
            )),
        )
        .route("/api/jobs/{id}", get(jobs::job_status))
        .route("/api/jobs/{id}/{report}", get(jobs::download_report))
        // The modelled app served requests on 4 threads: at most
        // `max_in_flight` requests are worked on at once, others wait.
        .layer(GlobalConcurrencyLimitLayer::new(
            state.settings.http.max_in_flight,
        ))
        // Outside the limit: a request counts once it is answered. Only the
        // API's routes: the app serves those, not the harness's sampling.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ));
    let app = Router::new()
        .merge(api)
        .route("/healthz", get(observe::healthz))
        .route("/metrics", get(observe::metrics))
        .route("/debug/memory", get(observe::debug_memory))
        .fallback(not_found)
        .with_state(state);
    // Whatever answered an error (a handler, an extractor, axum's own 405,
    // a layer), the client gets the JSON envelope. `Router::layer` wraps
    // each route inside axum's method routing, where a 405 has no `Allow`
    // header yet; wrapping the whole router as the fallback of an empty
    // one puts the middleware outside it, where the answer is final.
    // Outermost: the body clock starts as the request arrives, before it
    // waits for a `max_in_flight` slot (see `timeouts`).
    let timing = timeouts::BodyTiming {
        grace: std::time::Duration::from_secs_f64(state_http.body_read_timeout_secs),
        min_bytes_per_sec: state_http.body_min_bytes_per_sec,
    };
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(crate::error::json_error_bodies))
        .layer(axum::middleware::from_fn_with_state(
            timing,
            timeouts::limit_body_time,
        ))
}

/// The routes of a `worker` process: health, metrics and the memory
/// document (what the harness samples), no API.
pub fn worker_router(state: Arc<AppState>) -> Router {
    let app = Router::new()
        .route("/healthz", get(observe::healthz))
        .route("/metrics", get(observe::metrics))
        .route("/debug/memory", get(observe::debug_memory))
        .fallback(not_found)
        .with_state(state);
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(crate::error::json_error_bodies))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Run blocking database work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Unexpected(e.into()))?
        .map_err(ApiError::from_unexpected)
}
