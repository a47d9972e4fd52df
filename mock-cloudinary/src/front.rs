//! The front layer: the HTTP server at the fake's base URL. It owns the
//! byte level: faults (latency, hangs, 5xx, truncation, bandwidth), upload
//! bodies streamed to disk, and image bytes attached to wiremock's answers.
//! Everything else is decided by the mocks in [`crate::mocks`].

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::body::ServeBody;
use crate::faults::Faults;
use crate::grammar::{Parsed, UploadType, parse_delivery};
use crate::mocks::{
    ASSET_HEADER, ATTACH_HEADER, ERROR_HEADER, MockAnswer, MockBackend, STORED_HEADER,
};
use crate::store::{Prepared, Store};
use crate::uploads::{self, UploadContext, UploadPreset};

/// State shared by every connection of one fake.
pub struct Shared {
    /// Cloud name in URLs.
    pub cloud: String,
    /// Seed for faults and generated ids.
    pub seed: u64,
    /// Assets.
    pub store: Arc<Store>,
    /// Fault rules.
    pub faults: Faults,
    /// wiremock and its client.
    pub backend: MockBackend,
    /// Upload presets by name.
    pub presets: std::collections::HashMap<String, UploadPreset>,
    /// Successful uploads.
    pub uploads: AtomicU64,
    /// Upload sequence numbers (temp file names, versions).
    pub seq: AtomicU64,
    /// Cancelled when the handle is dropped.
    pub stop: CancellationToken,
}

type Answer = Response<ServeBody>;

/// Accept connections until `shared.stop` is cancelled; then every
/// connection (hung requests included) is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = shared.stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let stop = shared.stop.clone();
        let conn_shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = conn_shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, request).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = conn => if let Err(err) = result {
                    tracing::debug!(%err, "connection ended with an error");
                },
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn handle(shared: &Shared, request: http::Request<Incoming>) -> Answer {
    let decision = shared
        .faults
        .decide(request.method().as_str(), request.uri().path());
    if !decision.delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(decision.delay) => {}
            () = shared.stop.cancelled() => {}
        }
    }
    if decision.hang {
        // Never answer: the connection is dropped when the fake stops.
        shared.stop.cancelled().await;
        return status_only(StatusCode::SERVICE_UNAVAILABLE);
    }
    if let Some(status) = decision.error_status {
        return json_error(status, "Injected fault (mock-cloudinary)");
    }
    let answer = route(shared, request).await;
    let (parts, mut body) = answer.into_parts();
    if let Some(share) = decision.truncate_at {
        body = body.truncate(share);
    }
    if let Some(rate) = decision.bandwidth {
        body = body.throttle(rate);
    }
    Response::from_parts(parts, body)
}

async fn route(shared: &Shared, request: http::Request<Incoming>) -> Answer {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    if method == Method::POST
        && let Some(resource) = upload_resource(&shared.cloud, &path)
    {
        return upload(shared, resource, request).await;
    }
    if method == Method::GET || method == Method::HEAD {
        return deliver(shared, &path).await;
    }
    // Anything else: let wiremock answer (404, as Cloudinary would).
    let target = request
        .uri()
        .path_and_query()
        .map_or(path.clone(), |p| p.to_string());
    match shared
        .backend
        .forward(method, &target, &[], Bytes::new())
        .await
    {
        Ok(answer) => from_mock(answer, None).await,
        Err(err) => backend_failed(err),
    }
}

/// `/v1_1/{cloud}/{image|raw|auto}/upload`
fn upload_resource(cloud: &str, path: &str) -> Option<UploadType> {
    let rest = path
        .strip_prefix("/v1_1/")?
        .strip_prefix(cloud)?
        .strip_prefix('/')?;
    UploadType::parse(rest.strip_suffix("/upload")?)
}

async fn deliver(shared: &Shared, path: &str) -> Answer {
    let mut headers = Vec::new();
    let mut prepared = None;
    if let Parsed::Ok(delivery) = parse_delivery(&shared.cloud, path) {
        let store = shared.store.clone();
        match tokio::task::spawn_blocking(move || store.prepare(&delivery)).await {
            Ok(Ok(ready)) => {
                headers.push((ASSET_HEADER, ready.mime().to_string()));
                prepared = Some(ready);
            }
            Ok(Err(err)) => headers.push((ERROR_HEADER, format!("{} {err}", err.status()))),
            Err(err) => headers.push((ERROR_HEADER, format!("500 {err}"))),
        }
    }
    match shared
        .backend
        .forward(Method::GET, path, &headers, Bytes::new())
        .await
    {
        Ok(answer) => from_mock(answer, prepared).await,
        Err(err) => backend_failed(err),
    }
}

async fn upload(shared: &Shared, kind: UploadType, request: http::Request<Incoming>) -> Answer {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let stream = request.into_body().into_data_stream();
    let ctx = UploadContext {
        store: &shared.store,
        presets: &shared.presets,
        seq,
        seed: shared.seed,
    };
    let record = match uploads::receive(ctx, kind, &content_type, stream).await {
        Ok(record) => record,
        Err(err) => {
            tracing::info!(error = %err, "upload refused");
            return json_error(err.status(), &err.to_string());
        }
    };
    let path = format!("/v1_1/{}/{}/upload", shared.cloud, record.resource_type);
    let body = match serde_json::to_vec(&record) {
        Ok(body) => Bytes::from(body),
        Err(err) => return backend_failed(err.into()),
    };
    match shared
        .backend
        .forward(Method::POST, &path, &[(STORED_HEADER, "1".into())], body)
        .await
    {
        Ok(answer) => {
            if answer.status == 200 {
                shared.uploads.fetch_add(1, Ordering::Relaxed);
            }
            from_mock(answer, None).await
        }
        Err(err) => backend_failed(err),
    }
}

/// Turn wiremock's answer into ours, attaching the prepared body when the
/// mock asked for it.
async fn from_mock(answer: MockAnswer, prepared: Option<Prepared>) -> Answer {
    let attach = answer.headers.contains_key(ATTACH_HEADER);
    let body = match (attach, prepared) {
        (true, Some(Prepared::Memory { body, .. })) => ServeBody::parts([body]),
        (true, Some(Prepared::File { path, len, .. })) => {
            match tokio::fs::File::open(&path).await {
                Ok(file) => ServeBody::file(file, len),
                Err(_) => return status_only(StatusCode::NOT_FOUND),
            }
        }
        _ => ServeBody::parts([answer.body]),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &answer.headers {
        let hop_or_internal = matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "date"
        ) || name.as_str().starts_with("x-mock-cloudinary-");
        if !hop_or_internal {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

fn status_only(status: StatusCode) -> Answer {
    let mut response = Response::new(ServeBody::empty());
    *response.status_mut() = status;
    response
}

/// Cloudinary's JSON error with `x-cld-error`.
fn json_error(status: u16, message: &str) -> Answer {
    let body = serde_json::json!({ "error": { "message": message } }).to_string();
    let mut response = Response::new(ServeBody::parts([Bytes::from(body)]));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(message) {
        headers.insert("x-cld-error", value);
    }
    response
}

fn backend_failed(err: anyhow::Error) -> Answer {
    tracing::warn!(error = %format!("{err:#}"), "wiremock backend failed");
    json_error(502, "mock backend failed")
}
