//! The screen of a connection's first request head: read it within the
//! header read timeout, parse it with httparse (hyper's own parser), and
//! answer what hyper would refuse, as JSON:
//!
//! | refusal | status | code |
//! |---|---|---|
//! | no complete head within `http.header_read_timeout_secs` | 408 | `request_timeout` |
//! | more than 100 headers | 431 | `too_many_headers` |
//! | a head over 64 KiB | 431 | `headers_too_large` |
//! | a URI over 8 KiB | 414 | `uri_too_long` |
//! | a bad request line, method token or header | 400 | `bad_request` |
//! | an HTTP version other than 1.0 or 1.1 | 505 | `http_version_not_supported` |
//! | a `Content-Length` that is not one non-negative integer | 400 | `bad_content_length` |
//!
//! What cannot be JSON: the same refusals of a *later* request on a
//! kept-alive connection are hyper's (400, 414 or 431 with an empty body;
//! the header read timeout closes the connection without an answer), and a
//! request whose bytes are not HTTP at all past a valid head (a broken
//! chunked body) ends the connection. A client that connects and closes
//! without a byte gets no answer: there is no one to read it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::error::error_body;

/// Longest URI accepted (nginx's default line buffer; hyper's own limit is
/// 64 KiB). Longer ones are refused 414.
pub const MAX_URI_BYTES: usize = 8 << 10;
/// Longest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 << 10;
/// How long a refused client's remaining bytes are read and dropped before
/// the connection closes, so that the kernel does not reset it (and lose
/// the answer) because unread bytes were left.
const LINGER: Duration = Duration::from_millis(500);

/// What a head may be.
#[derive(Debug, Clone)]
pub struct HeadLimits {
    pub timeout: Duration,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    pub max_head_bytes: usize,
}

/// A head refused, with its status, code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    /// The whole HTTP answer: status line, JSON headers, the envelope.
    pub fn to_http(&self) -> Vec<u8> {
        let body = error_body(self.code, &self.message).to_string();
        let reason = axum::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

/// The verdict on the bytes read so far: `Ok(true)` a complete head that
/// passes, `Ok(false)` not complete yet, `Err` refused.
pub fn judge(buf: &[u8], limits: &HeadLimits) -> Result<bool, Refusal> {
    // A URI too long is refused before its end arrives.
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let uri_len = line.split(|&b| b == b' ').nth(1).map_or(0, <[u8]>::len);
    if uri_len > limits.max_uri_bytes
        || (line_end.is_none() && line.len() > limits.max_uri_bytes + 32)
    {
        return Err(Refusal::new(
            414,
            "uri_too_long",
            format!("the URI is longer than {} bytes", limits.max_uri_bytes),
        ));
    }
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let complete = match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => true,
        Ok(httparse::Status::Partial) => false,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(
                431,
                "too_many_headers",
                format!("the request has more than {} headers", limits.max_headers),
            ));
        }
        Err(httparse::Error::Version) => {
            return Err(Refusal::new(
                505,
                "http_version_not_supported",
                "only HTTP/1.0 and HTTP/1.1 are served",
            ));
        }
        Err(e) => {
            let what = match e {
                httparse::Error::Token => "the method or request line is not valid",
                httparse::Error::HeaderName | httparse::Error::HeaderValue => {
                    "a header is not valid"
                }
                httparse::Error::NewLine => "a line ending is not valid",
                _ => "the request head is not valid HTTP",
            };
            return Err(Refusal::new(400, "bad_request", format!("{what} ({e})")));
        }
    };
    if !complete {
        if buf.len() > limits.max_head_bytes {
            return Err(Refusal::new(
                431,
                "headers_too_large",
                format!(
                    "the request head is larger than {} bytes",
                    limits.max_head_bytes
                ),
            ));
        }
        return Ok(false);
    }
    let mut length: Option<&[u8]> = None;
    for h in req.headers.iter() {
        if !h.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let v = h.value.trim_ascii();
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 19 {
            let shown = String::from_utf8_lossy(&v[..v.len().min(40)]).into_owned();
            return Err(Refusal::new(
                400,
                "bad_content_length",
                format!("Content-Length `{shown}` is not a non-negative integer"),
            ));
        }
        if length.is_some_and(|l| l != v) {
            return Err(Refusal::new(
                400,
                "bad_content_length",
                "the request has two different Content-Length headers",
            ));
        }
        length = Some(v);
    }
    Ok(true)
}

/// Read and judge the first request head of `stream`. A head that passes
/// comes back with the stream, the bytes read so far in front; a refused
/// one (or a client silent past the timeout) is answered and closed:
/// `None`.
pub async fn screen_first_request(
    mut stream: TcpStream,
    limits: &HeadLimits,
) -> Option<Rewind<TcpStream>> {
    let deadline = tokio::time::Instant::now() + limits.timeout;
    let mut buf = Vec::with_capacity(1024);
    let refusal = loop {
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) => {
                break Refusal::new(
                    408,
                    "request_timeout",
                    format!(
                        "the request head did not arrive within {:.1} s (http.header_read_timeout_secs)",
                        limits.timeout.as_secs_f64()
                    ),
                );
            }
            // Closed or broken before a whole head: no one to answer.
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) => {}
        }
        match judge(&buf, limits) {
            Ok(true) => return Some(Rewind::new(buf, stream)),
            Ok(false) => {}
            Err(refusal) => break refusal,
        }
    };
    tracing::info!(
        status = refusal.status,
        code = refusal.code,
        "request refused before routing"
    );
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(&refusal.to_http()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    })
    .await;
    None
}

/// A stream with bytes already read from it put back in front.
pub struct Rewind<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(out.remaining());
            let at = self.at;
            out.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                // Given back: the head's buffer is not kept for the
                // connection's life.
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeadLimits {
        HeadLimits {
            timeout: Duration::from_secs(1),
            max_headers: 100,
            max_uri_bytes: MAX_URI_BYTES,
            max_head_bytes: MAX_HEAD_BYTES,
        }
    }

    fn code(head: &[u8]) -> Result<bool, &'static str> {
        judge(head, &limits()).map_err(|r| r.code)
    }

    #[test]
    fn a_good_head_passes_and_a_partial_one_waits() {
        assert_eq!(code(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(true));
        assert_eq!(
            code(b"POST /api/submissions HTTP/1.1\r\nContent-Length: 12\r\n\r\n{"),
            Ok(true)
        );
        assert_eq!(code(b"GET /healthz HTTP/1.1\r\nHost:"), Ok(false));
        assert_eq!(code(b""), Ok(false));
    }

    #[test]
    fn each_protocol_refusal_has_its_code() {
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        let too_many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(code(too_many.as_bytes()), Err("too_many_headers"));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(code(long.as_bytes()), Err("uri_too_long"));
        // Refused before the line ends.
        assert_eq!(code("GET /".repeat(3000).as_bytes()), Err("uri_too_long"));
        assert_eq!(code(b"G@T / HTTP/1.1\r\n\r\n"), Err("bad_request"));
        assert_eq!(code(b"GARBAGE\r\n\r\n"), Err("bad_request"));
        assert_eq!(
            code(b"GET / HTTP/2.0\r\n\r\n"),
            Err("http_version_not_supported")
        );
        for cl in ["-1", "1e3", "", "99999999999999999999", "5, 6"] {
            let head = format!("POST / HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(code(head.as_bytes()), Err("bad_content_length"), "{cl}");
        }
        let two = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(code(two), Err("bad_content_length"));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "v".repeat(70_000));
        assert_eq!(code(huge.as_bytes()), Err("headers_too_large"));
    }

    #[test]
    fn a_refusal_is_a_json_http_answer() {
        let r = Refusal::new(414, "uri_too_long", "too long");
        let text = String::from_utf8(r.to_http()).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "uri_too_long");
    }
}
