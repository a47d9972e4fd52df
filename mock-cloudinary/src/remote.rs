//! Uploads by remote URL (`file=http://...`): Cloudinary fetches the file
//! itself. The fake does too, but only from loopback (127.0.0.0/8, `::1`,
//! `localhost`), which includes the fake itself: the machines it runs on
//! have no other network, and a test double must not become a way out.
//! No TLS (the fake and the apps it serves speak plain HTTP), no redirects
//! followed, a size cap and a deadline.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;

/// Why a remote URL was not fetched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// A scheme or host the fake does not fetch from.
    #[error(
        "Remote URL not allowed: {url} ({reason}); mock-cloudinary fetches only http:// URLs on 127.0.0.1, ::1 or localhost"
    )]
    NotAllowed {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The fetch failed (connection, status, size, deadline).
    #[error("Error in loading {url} - {reason}")]
    Failed {
        /// The URL as given.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Whole-fetch deadline.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Parse `url` and check that the fake may fetch it.
pub fn check(url: &str) -> Result<http::Uri, RemoteError> {
    let refuse = |reason: &str| RemoteError::NotAllowed {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = url.trim().parse().map_err(|_| refuse("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(refuse("https: the fake's fetcher has no TLS")),
        Some(other) => return Err(refuse(&format!("scheme {other}: is not fetched"))),
        None => return Err(refuse("no scheme")),
    }
    let host = uri.host().ok_or_else(|| refuse("no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(refuse(&format!("host {host} is not loopback")));
    }
    Ok(uri)
}

/// The last path segment of `uri` (the file name Cloudinary reports).
pub fn file_name(uri: &http::Uri) -> Option<String> {
    uri.path()
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// GET `uri` into `dst`: status 200 only, at most `max_bytes`. Returns the
/// size.
pub async fn fetch_to_file(
    uri: &http::Uri,
    dst: &Path,
    max_bytes: u64,
) -> Result<u64, RemoteError> {
    let failed = |reason: String| RemoteError::Failed {
        url: uri.to_string(),
        reason,
    };
    let fetch = async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let response = client
            .get(uri.clone())
            .await
            .map_err(|e| failed(format!("{e}")))?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(failed(format!("Http error: {}", status.as_u16())));
        }
        let mut body = response.into_body();
        let mut file = tokio::fs::File::create(dst)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| failed(format!("reading the body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            written += data.len() as u64;
            if written > max_bytes {
                return Err(failed(format!("file larger than {max_bytes} bytes")));
            }
            file.write_all(&data)
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        file.flush().await.map_err(|e| failed(e.to_string()))?;
        Ok(written)
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| failed(format!("no answer within {FETCH_TIMEOUT:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_on_loopback_is_fetched() {
        for url in [
            "http://127.0.0.1:4000/a.jpg",
            "http://127.1.2.3/a",
            "http://localhost:8080/x/y.pdf",
            "http://[::1]:9/z",
        ] {
            assert!(check(url).is_ok(), "{url}");
        }
        for url in [
            "http://example.com/a.jpg",
            "http://10.0.0.1/a",
            "https://127.0.0.1/a",
            "ftp://127.0.0.1/a",
            "s3://bucket/a",
            "http://0.0.0.0/a",
            "not a url",
        ] {
            assert!(check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn file_name_is_the_last_segment() {
        let uri = check("http://127.0.0.1/oomlab/image/upload/oomlab/phone-1.jpg").unwrap();
        assert_eq!(file_name(&uri).as_deref(), Some("phone-1.jpg"));
    }
}
