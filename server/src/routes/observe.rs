//! Health, metrics and the memory document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use memstats::DebugMemory;

use crate::app::AppState;
use crate::memory;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
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

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mem = read_debug_memory(&state);
    let body = state.metrics.render(&mem, state.pool.status());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
