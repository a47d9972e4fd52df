//! The HTTP/1.1 server loop: accept, screen the first request's head
//! ([`head`]), serve the connection with hyper, shut down gracefully.
//!
//! Why not `axum::serve`: it offers no header read timeout, and hyper
//! answers a request it cannot parse (too many headers, a bad request line,
//! a URI too long) with a status and no body, never the server's JSON
//! envelope. Here every connection's first request head is read and checked
//! before hyper sees it, within `http.header_read_timeout_secs`; a client
//! that is too slow gets a 408 and a malformed head its 4xx, both as
//! `{"error":{"code","message"}}`. A head that passes is handed to hyper
//! with the bytes already read in front of the stream. Later requests on a
//! kept-alive connection are hyper's to parse, with the same header read
//! timeout and header limit (what hyper then answers has no body: see the
//! `head` module).
//!
//! Request bodies are timed by a middleware of the router
//! (`routes::timeouts`), which can write a JSON 408 since the request has
//! reached axum by then.

pub mod head;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::settings::HttpSettings;

/// Headers a request may carry (hyper's default), for the screen and for
/// hyper alike.
pub const MAX_HEADERS: usize = 100;

/// How long open connections get to finish after the shutdown future
/// resolves (a job status poll or an upload in flight), then they are cut.
const DRAIN: Duration = Duration::from_secs(30);

/// Serve `app` on `listener` until `shutdown` resolves, then let open
/// connections finish their requests (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = Arc::new(head::HeadLimits {
        timeout: Duration::from_secs_f64(http.header_read_timeout_secs),
        max_headers: MAX_HEADERS,
        max_uri_bytes: head::MAX_URI_BYTES,
        max_head_bytes: head::MAX_HEAD_BYTES,
    });
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors or a connection reset before
                    // it was taken: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let limits = limits.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some(stream) = head::screen_first_request(stream, &limits).await else {
                return;
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.timeout)
                .max_headers(MAX_HEADERS);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {DRAIN:?} after shutdown; cut");
    }
    Ok(())
}
