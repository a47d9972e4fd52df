//! The response body of the front layer: bytes from memory or a file,
//! optionally throttled to a bandwidth and cut short (truncation fault).
//!
//! The body declares its full length up front (hyper turns it into
//! `Content-Length`); when a truncation fault stops it early it returns an
//! error, which makes hyper close the connection, so the client sees fewer
//! bytes than were declared, as with a dropped CDN connection.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tokio_util::io::ReaderStream;

/// Where the bytes come from.
enum Source {
    Parts(VecDeque<Bytes>),
    File(ReaderStream<tokio::fs::File>),
}

/// See the module docs.
pub struct ServeBody {
    source: Source,
    declared: u64,
    limit: u64,
    sent: u64,
    failed: bool,
    pending: Option<Bytes>,
    throttle: Option<Throttle>,
    /// A pause before a truncation fails the body, so hyper flushes the
    /// head and the bytes before it (otherwise the client may see no
    /// response at all).
    cut: Option<Pin<Box<Sleep>>>,
}

struct Throttle {
    bytes_per_sec: u64,
    start: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
}

impl ServeBody {
    /// A body of in-memory parts, sent in order.
    pub fn parts(parts: impl IntoIterator<Item = Bytes>) -> Self {
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|b| !b.is_empty()).collect();
        let declared = parts.iter().map(|b| b.len() as u64).sum();
        Self::new(Source::Parts(parts), declared)
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::parts([])
    }

    /// A file of `len` bytes streamed in 64 KiB reads.
    pub fn file(file: tokio::fs::File, len: u64) -> Self {
        Self::new(
            Source::File(ReaderStream::with_capacity(file, 64 * 1024)),
            len,
        )
    }

    fn new(source: Source, declared: u64) -> Self {
        ServeBody {
            source,
            declared,
            limit: declared,
            sent: 0,
            failed: false,
            pending: None,
            throttle: None,
            cut: None,
        }
    }

    /// Send only `share` (0..1) of the declared length, then fail.
    pub fn truncate(mut self, share: f64) -> Self {
        self.limit = ((self.declared as f64 * share.clamp(0.0, 1.0)) as u64)
            .min(self.declared.saturating_sub(1));
        self
    }

    /// Cap the send rate.
    pub fn throttle(mut self, bytes_per_sec: u64) -> Self {
        self.throttle = Some(Throttle {
            bytes_per_sec: bytes_per_sec.max(1),
            start: None,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        });
        self
    }

    /// The length announced to the client.
    pub fn declared_len(&self) -> u64 {
        self.declared
    }

    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        match &mut self.source {
            Source::Parts(parts) => Poll::Ready(parts.pop_front().map(Ok)),
            Source::File(stream) => Pin::new(stream).poll_next(cx),
        }
    }
}

impl Body for ServeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if this.sent >= this.limit {
            if this.limit < this.declared {
                let cut = this.cut.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep(Duration::from_millis(100)))
                });
                ready!(cut.as_mut().poll(cx));
                this.failed = true;
                return Poll::Ready(Some(Err(std::io::Error::other(
                    "body truncated by fault injection",
                ))));
            }
            return Poll::Ready(None);
        }
        if this.pending.is_none() {
            match ready!(this.poll_source(cx)) {
                Some(Ok(chunk)) => this.pending = Some(chunk),
                Some(Err(err)) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(err)));
                }
                None => {
                    this.failed = true;
                    return Poll::Ready(if this.sent < this.declared {
                        Some(Err(std::io::Error::other("source shorter than declared")))
                    } else {
                        None
                    });
                }
            }
        }
        let available = this.pending.as_ref().map_or(0, Bytes::len);
        let mut piece = available.min((this.limit - this.sent) as usize);
        if let Some(throttle) = &mut this.throttle {
            // Twenty pieces a second keeps the rate smooth at any cap; each
            // piece waits until the rate allows all bytes up to its end.
            piece = piece.min((throttle.bytes_per_sec / 20).clamp(512, 256 * 1024) as usize);
            let start = *throttle.start.get_or_insert_with(Instant::now);
            let due = start
                + Duration::from_secs_f64(
                    (this.sent + piece as u64) as f64 / throttle.bytes_per_sec as f64,
                );
            if due > Instant::now() {
                throttle.sleep.as_mut().reset(due);
                ready!(throttle.sleep.as_mut().poll(cx));
            }
        }
        let Some(mut chunk) = this.pending.take() else {
            return Poll::Ready(None);
        };
        if chunk.len() > piece {
            this.pending = Some(chunk.split_off(piece));
        }
        this.sent += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.declared == 0 || (self.sent >= self.declared && self.pending.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.declared)
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn parts_are_sent_whole() {
        let body = ServeBody::parts([Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
        assert_eq!(
            body.collect().await.unwrap().to_bytes(),
            Bytes::from_static(b"abcd")
        );
    }

    #[tokio::test]
    async fn truncated_body_fails_after_its_share() {
        let mut body = ServeBody::parts([Bytes::from(vec![1u8; 100])]).truncate(0.3);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 30);
        assert!(body.frame().await.unwrap().is_err());
        assert_eq!(body.size_hint().exact(), Some(100));
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_body_takes_its_time() {
        let body = ServeBody::parts([Bytes::from(vec![0u8; 10_000])]).throttle(5_000);
        let start = Instant::now();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 10_000);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(2_000) && took <= Duration::from_millis(2_200),
            "{took:?}"
        );
    }
}
