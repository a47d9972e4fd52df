//! Request bodies that come too slowly are cut with a JSON 408.
//!
//! Why: a request holds one of the `http.max_in_flight` slots while its
//! handler reads the body, so sixteen clients trickling a byte now and then
//! would hold every slot forever and nothing else would be served. Each
//! body gets `http.body_read_timeout_secs` from the moment the request
//! reached the router, plus one second for every
//! `http.body_min_bytes_per_sec` bytes that arrived: the body must keep up
//! that average rate once the grace has passed. Only time spent waiting on
//! the client counts against it: a body already in the socket is read
//! however long the request waited for its slot.
//!
//! The clock runs outside the concurrency limit, so a slow client queued
//! for a slot is cut as soon as its handler first waits on it, and a timer
//! wakes the read when the deadline passes, so a client that sends nothing
//! more is cut too. The handler then sees a body error; this middleware,
//! around everything, answers 408 `request_timeout` in its place and
//! closes the connection (the rest of the body is never read).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::error_body;

/// The body timing of `http.body_read_timeout_secs` and
/// `http.body_min_bytes_per_sec`.
#[derive(Debug, Clone, Copy)]
pub struct BodyTiming {
    pub grace: Duration,
    pub min_bytes_per_sec: u64,
}

/// The body read was cut: too slow.
#[derive(Debug, thiserror::Error)]
#[error("the request body came too slowly")]
pub struct BodyTooSlow;

/// Middleware: time the request's body, answer 408 when it was cut.
pub async fn limit_body_time(
    State(timing): State<BodyTiming>,
    req: Request,
    next: Next,
) -> Response {
    let cut = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::new(TimedBody::new(body, timing, cut.clone()));
    let resp = next.run(Request::from_parts(parts, body)).await;
    if !cut.load(Ordering::SeqCst) {
        return resp;
    }
    tracing::info!("request body too slow; cut with 408");
    let message = format!(
        "the request body came too slowly: after {:.1} s (http.body_read_timeout_secs) it must keep up {} bytes per second (http.body_min_bytes_per_sec)",
        timing.grace.as_secs_f64(),
        timing.min_bytes_per_sec
    );
    let mut resp = (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(error_body("request_timeout", &message)),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A body that fails with [`BodyTooSlow`] once the client falls behind.
pub struct TimedBody {
    inner: Body,
    started: Instant,
    timing: BodyTiming,
    received: u64,
    timer: Pin<Box<Sleep>>,
    cut: Arc<AtomicBool>,
}

impl TimedBody {
    pub fn new(inner: Body, timing: BodyTiming, cut: Arc<AtomicBool>) -> TimedBody {
        let started = Instant::now();
        TimedBody {
            inner,
            started,
            timing,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + timing.grace)),
            cut,
        }
    }

    /// When the client must have sent more than it has.
    fn deadline(&self) -> Instant {
        let rate = self.timing.min_bytes_per_sec.max(1);
        let earned = Duration::from_secs_f64(self.received as f64 / rate as f64);
        self.started + self.timing.grace + earned
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                // Waiting on the client: its deadline counts now.
                let deadline = this.deadline();
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.cut.store(true, Ordering::SeqCst);
                        Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_is_cut_and_a_steady_one_is_not() {
        let timing = BodyTiming {
            grace: Duration::from_secs(2),
            min_bytes_per_sec: 100,
        };
        // 10 bytes every second: behind 100 B/s once the grace is over.
        let trickle = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            (n < 1000).then(|| (Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 10])), n + 1))
        });
        let cut = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let body = Body::new(TimedBody::new(
            Body::from_stream(trickle),
            timing,
            cut.clone(),
        ));
        let err = axum::body::to_bytes(body, usize::MAX).await.unwrap_err();
        assert!(cut.load(Ordering::SeqCst), "{err}");
        let took = started.elapsed();
        // Cut soon after the grace: 2 s plus the 10 bytes a second earn.
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(4),
            "{took:?}"
        );

        // 200 bytes every second keeps ahead of 100 B/s: read to its end.
        let steady = futures::stream::iter(0..20).then(|_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 200]))
        });
        let cut = Arc::new(AtomicBool::new(false));
        let body = Body::new(TimedBody::new(
            Body::from_stream(steady),
            timing,
            cut.clone(),
        ));
        let all = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!((all.len(), cut.load(Ordering::SeqCst)), (4000, false));
    }
}
