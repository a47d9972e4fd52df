//! Health, metrics and the memory document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use memstats::DebugMemory;

use crate::app::AppState;
use crate::error::{RETRY_AFTER_SECS, error_body};
use crate::memory;
use crate::metrics::exposition::Format;

/// `GET /healthz`: 200 when the process serves and its queue backend
/// answers; 503 with the reason (and `Retry-After`) when Redis does not,
/// so a load balancer or the harness sees a web that cannot queue work.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let queue = state.queue.clone();
    let (backend, health) = tokio::task::spawn_blocking(move || queue.health())
        .await
        .unwrap_or(("unknown", Err("the health check did not run".into())));
    match health {
        Ok(()) => Json(serde_json::json!({
            "status": "ok",
            "queue": { "backend": backend, "state": "ok" },
        }))
        .into_response(),
        Err(reason) => {
            tracing::warn!(
                backend,
                reason = reason.as_str(),
                "health: queue unavailable"
            );
            let mut body = error_body("queue_unavailable", &reason);
            body["error"]["retry_after_secs"] = RETRY_AFTER_SECS.into();
            body["status"] = "unavailable".into();
            body["queue"] = serde_json::json!({ "backend": backend, "state": "unreachable" });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
                Json(body),
            )
                .into_response()
        }
    }
}

/// One reading of every memory figure of the server.
pub fn read_debug_memory(state: &AppState) -> DebugMemory {
    DebugMemory {
        allocator: memory::allocator().name().to_string(),
        jemalloc: memory::jemalloc_stats(),
        allocator_options: state.allocator_options.clone(),
        process: memstats::read_proc_memory(std::process::id(), false).unwrap_or_default(),
        modelled_runtime_bytes: state.ballast.len(),
        uncollected_bytes: state.collector.uncollected_bytes(),
        queue_depth: state.queue.len() as u64,
        jobs_in_flight: state.in_flight.snapshot(),
        uptime_ms: state.started.elapsed().as_millis() as u64,
    }
}

pub async fn debug_memory(State(state): State<Arc<AppState>>) -> Json<DebugMemory> {
    Json(read_debug_memory(&state))
}

/// `GET /metrics`: OpenMetrics when the `Accept` header asks for it (as
/// Prometheus does), else Prometheus text 0.0.4 ([`Format`]).
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    let mem = read_debug_memory(&state);
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = format.encode(state.metrics.render(&mem, state.pool.status()));
    ([(header::CONTENT_TYPE, format.content_type())], body)
}
