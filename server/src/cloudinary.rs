//! Talking to Cloudinary: the allowed photo URLs, derivative URLs, uploads,
//! and downloads with timeout, retries, exponential backoff (or the wait a
//! 429's `Retry-After` asks for, [`retry`]) and a size cap.

mod retry;

use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::Deserialize;
use url::Url;

use crate::settings::{CloudinarySettings, PhotoSettings};

pub use retry::{backoff, parse_retry_after, retry_delay};

/// The configured Cloudinary, as URL rules.
#[derive(Debug, Clone)]
pub struct CloudinaryUrls {
    base: Url,
    cloud_name: String,
}

impl CloudinaryUrls {
    pub fn new(settings: &CloudinarySettings) -> anyhow::Result<CloudinaryUrls> {
        let base = Url::parse(settings.base_url.trim_end_matches('/'))
            .with_context(|| format!("cloudinary.base_url `{}`", settings.base_url))?;
        Ok(CloudinaryUrls {
            base,
            cloud_name: settings.cloud_name.clone(),
        })
    }

    fn root(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    pub fn upload_endpoint(&self, resource_type: &str) -> String {
        format!(
            "{}/v1_1/{}/{resource_type}/upload",
            self.root(),
            self.cloud_name
        )
    }

    /// `raw` when it is on the configured origin (scheme, host and port)
    /// without credentials; otherwise why not. Every URL the server fetches
    /// passes here first (photos, derivatives, report downloads): an
    /// upload answer or a stored URL pointing elsewhere must not make the
    /// server fetch it (server-side request forgery).
    pub fn check_origin(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL ({e})"))?;
        if url.scheme() != self.base.scheme()
            || url.host_str() != self.base.host_str()
            || url.port_or_known_default() != self.base.port_or_known_default()
        {
            return Err(format!(
                "`{raw}` is not on the configured Cloudinary ({}); only that origin is fetched",
                self.root()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{raw}` carries credentials"));
        }
        Ok(url)
    }

    /// A photo URL is allowed when it has the configured scheme, host and
    /// port, and names an image of the configured cloud. Anything else is
    /// refused: the job would fetch it (server-side request forgery).
    pub fn check_photo_url(&self, raw: &str) -> Result<Url, String> {
        let url = self.check_origin(raw)?;
        let prefix = format!("/{}/image/upload/", self.cloud_name);
        let path = url.path();
        if !path.starts_with(&prefix) || path.contains("/../") || path.contains("/./") {
            return Err(format!(
                "`{raw}` is not an image of cloud `{}` (expected a path under {prefix})",
                self.cloud_name
            ));
        }
        Ok(url)
    }

    /// The URL of a `w_<max_px>,c_limit,q_<quality>` derivative of `url`.
    pub fn derivative(&self, url: &Url, max_px: u32, quality: u8) -> Url {
        let prefix = format!("/{}/image/upload/", self.cloud_name);
        let mut out = url.clone();
        if let Some(rest) = url.path().strip_prefix(&prefix) {
            out.set_path(&format!(
                "{prefix}w_{max_px},h_{max_px},c_limit,q_{quality}/{rest}"
            ));
        }
        out
    }
}

/// What Cloudinary's upload API answers (the fields the app uses).
#[derive(Debug, Clone, Deserialize)]
pub struct UploadAnswer {
    pub public_id: String,
    pub secure_url: Option<String>,
    pub url: Option<String>,
    pub bytes: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl UploadAnswer {
    pub fn delivery_url(&self) -> Option<&str> {
        self.secure_url.as_deref().or(self.url.as_deref())
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

/// Why a report download could not start.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL is not on the configured Cloudinary: nothing was fetched.
    #[error("{0}")]
    OffOrigin(String),
    #[error("{0}")]
    Upstream(String),
}

/// HTTP client for Cloudinary.
#[derive(Clone)]
pub struct CloudinaryClient {
    http: reqwest::Client,
    pub urls: CloudinaryUrls,
}

impl CloudinaryClient {
    pub fn new(settings: &CloudinarySettings) -> anyhow::Result<CloudinaryClient> {
        let http = reqwest::Client::builder()
            // A redirect could lead anywhere: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(8)
            .build()?;
        Ok(CloudinaryClient {
            http,
            urls: CloudinaryUrls::new(settings)?,
        })
    }

    /// Upload bytes (`resource_type` `image` or `raw`), with retries.
    pub async fn upload(
        &self,
        resource_type: &str,
        file_name: &str,
        content_type: &str,
        data: Bytes,
        policy: &PhotoSettings,
    ) -> anyhow::Result<UploadAnswer> {
        self.upload_with(resource_type, policy, || {
            let data = data.clone();
            async move {
                Ok(reqwest::multipart::Part::stream(data)
                    .file_name(file_name.to_string())
                    .mime_str(content_type)?)
            }
        })
        .await
    }

    /// Upload a file from disk, streamed (never read whole into memory),
    /// with retries.
    pub async fn upload_file(
        &self,
        resource_type: &str,
        file_name: &str,
        content_type: &str,
        path: &std::path::Path,
        policy: &PhotoSettings,
    ) -> anyhow::Result<UploadAnswer> {
        self.upload_with(resource_type, policy, || async move {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata().await?.len();
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                file,
                64 << 10,
            ));
            Ok(reqwest::multipart::Part::stream_with_length(body, len)
                .file_name(file_name.to_string())
                .mime_str(content_type)?)
        })
        .await
    }

    /// The upload loop: a fresh multipart part per attempt, 5xx and network
    /// errors retried with backoff, other refusals final.
    async fn upload_with<F, Fut>(
        &self,
        resource_type: &str,
        policy: &PhotoSettings,
        mut make_part: F,
    ) -> anyhow::Result<UploadAnswer>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<reqwest::multipart::Part>>,
    {
        let endpoint = self.urls.upload_endpoint(resource_type);
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            let form = reqwest::multipart::Form::new().part("file", make_part().await?);
            let result = self
                .http
                .post(&endpoint)
                .timeout(Duration::from_secs_f64(policy.timeout_secs.max(30.0)))
                .multipart(form)
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    return resp
                        .json::<UploadAnswer>()
                        .await
                        .context("reading Cloudinary's upload answer");
                }
                Ok(resp) if resp.status().is_server_error() => {
                    last = format!("Cloudinary answered {}", resp.status());
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    anyhow::bail!(
                        "Cloudinary refused the upload ({status}): {}",
                        text.chars().take(200).collect::<String>()
                    );
                }
                Err(e) => last = format!("{e}"),
            }
            if attempt < policy.attempts {
                tokio::time::sleep(backoff(policy, attempt)).await;
            }
        }
        anyhow::bail!(
            "upload to Cloudinary failed after {} attempts: {last}",
            policy.attempts
        )
    }

    /// Download `url` whole, with timeout, retries and backoff; reading stops
    /// at `max_bytes`.
    pub async fn fetch(
        &self,
        url: &Url,
        policy: &PhotoSettings,
        max_bytes: u64,
    ) -> Result<Bytes, FetchError> {
        self.fetch_before(url, policy, max_bytes, None).await
    }

    /// [`CloudinaryClient::fetch`], never waiting past `deadline` between
    /// attempts (the job's deadline): a `Retry-After` or a backoff longer
    /// than the time left is cut short, and once no time is left the
    /// download gives up instead of retrying.
    pub async fn fetch_before(
        &self,
        url: &Url,
        policy: &PhotoSettings,
        max_bytes: u64,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Bytes, FetchError> {
        // Photo URLs were checked when submitted; checked again here, where
        // every download and every retry of one starts.
        self.urls
            .check_origin(url.as_str())
            .map_err(FetchError::Permanent)?;
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            let timeout = Duration::from_secs_f64(policy.timeout_secs);
            let mut asked = None;
            match tokio::time::timeout(timeout, self.fetch_once(url, max_bytes, &mut asked)).await {
                Ok(Ok(bytes)) => return Ok(bytes),
                Ok(Err(FetchError::Permanent(e))) => return Err(FetchError::Permanent(e)),
                Ok(Err(FetchError::Retryable(e))) => last = e,
                Err(_) => last = format!("timed out after {:.1} s", policy.timeout_secs),
            }
            if attempt < policy.attempts {
                let remaining =
                    deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
                match retry_delay(policy, attempt, asked, remaining) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => {
                        return Err(FetchError::Retryable(format!(
                            "{last} (after {attempt} attempts; no time left before the job's deadline, limits.job_deadline_secs)"
                        )));
                    }
                }
            }
        }
        Err(FetchError::Retryable(format!(
            "{last} (after {} attempts)",
            policy.attempts
        )))
    }

    /// One attempt. A 429 or 5xx with a `Retry-After` Cloudinary can use
    /// sets `retry_after` to the wait it asks for.
    async fn fetch_once(
        &self,
        url: &Url,
        max_bytes: u64,
        retry_after: &mut Option<Duration>,
    ) -> Result<Bytes, FetchError> {
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| FetchError::Retryable(format!("request failed: {e}")))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(FetchError::Permanent(format!(
                "Cloudinary answered a redirect ({status}); redirects are not followed"
            )));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            *retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let asked = retry_after
                .map(|d| format!(" (Retry-After: {} s)", d.as_secs()))
                .unwrap_or_default();
            return Err(FetchError::Retryable(format!(
                "Cloudinary answered {status}{asked}"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Permanent(format!(
                "Cloudinary answered {status}"
            )));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(FetchError::Permanent(format!(
                "is {} bytes, over the {max_bytes}-byte cap (limits.max_photo_bytes)",
                resp.content_length().unwrap_or(0)
            )));
        }
        let mut buf = BytesMut::with_capacity(resp.content_length().unwrap_or(0) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Retryable(format!("body cut short: {e}")))?;
            if (buf.len() + chunk.len()) as u64 > max_bytes {
                return Err(FetchError::Permanent(format!(
                    "is over the {max_bytes}-byte cap (limits.max_photo_bytes); reading stopped"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Whether the file at `url` ends with a JPEG end-of-image marker, read
    /// from its last bytes only (`Range: bytes=-1024`; a server that
    /// ignores ranges is read through to its end, keeping only the tail, so
    /// memory stays constant either way). Why: with `cdn_transform` the
    /// server only sees Cloudinary's derivative, which is a whole JPEG even
    /// when its original was cut short (the part that was missing comes out
    /// grey); the original's tail tells. Bytes after the marker (camera
    /// padding) are allowed. A PNG original ends with its `IEND` chunk
    /// instead, which counts as whole here (whether a PNG is usable at all
    /// is judged from the derivative).
    pub async fn ends_with_eoi(
        &self,
        url: &Url,
        max_bytes: u64,
        timeout: Duration,
    ) -> Result<bool, String> {
        const TAIL: usize = 1024;
        let probe = async {
            let resp = self
                .http
                .get(url.clone())
                .header(reqwest::header::RANGE, format!("bytes=-{TAIL}"))
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("Cloudinary answered {status}"));
            }
            let mut tail: Vec<u8> = Vec::with_capacity(2 * TAIL);
            let mut read = 0u64;
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("body cut short: {e}"))?;
                read += chunk.len() as u64;
                if read > max_bytes {
                    return Err(format!("over the {max_bytes}-byte cap"));
                }
                tail.extend_from_slice(&chunk);
                if tail.len() > TAIL {
                    tail.drain(..tail.len() - TAIL);
                }
            }
            Ok(tail.windows(2).any(|w| w == [0xFF, 0xD9]) || tail.windows(4).any(|w| w == b"IEND"))
        };
        tokio::time::timeout(timeout, probe)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {:.1} s", timeout.as_secs_f64())))
    }

    /// Start a streamed download of a stored report. A URL off the
    /// configured origin is refused before any connection is made.
    pub async fn get(&self, url: &str) -> Result<reqwest::Response, GetError> {
        let checked = self.urls.check_origin(url).map_err(GetError::OffOrigin)?;
        let resp = self
            .http
            .get(checked)
            .send()
            .await
            .map_err(|e| GetError::Upstream(format!("fetching {url} from Cloudinary: {e}")))?;
        if !resp.status().is_success() {
            return Err(GetError::Upstream(format!(
                "Cloudinary answered {} for {url}",
                resp.status()
            )));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> CloudinaryUrls {
        CloudinaryUrls::new(&CloudinarySettings {
            base_url: "http://127.0.0.1:4000".into(),
            cloud_name: "oomlab".into(),
        })
        .unwrap()
    }

    #[test]
    fn only_photos_of_the_configured_cloud_are_allowed() {
        let u = urls();
        assert!(
            u.check_photo_url("http://127.0.0.1:4000/oomlab/image/upload/a/b.jpg")
                .is_ok()
        );
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:4001/oomlab/image/upload/a.jpg",
            "https://127.0.0.1:4000/oomlab/image/upload/a.jpg",
            "http://127.0.0.1:4000/other/image/upload/a.jpg",
            "http://user:pw@127.0.0.1:4000/oomlab/image/upload/a.jpg",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(u.check_photo_url(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn only_the_configured_origin_passes_the_origin_check() {
        let u = urls();
        assert!(
            u.check_origin("http://127.0.0.1:4000/raw/upload/r.pdf")
                .is_ok()
        );
        for bad in [
            "http://127.0.0.1:4001/raw/upload/r.pdf",
            "https://127.0.0.1:4000/raw/upload/r.pdf",
            "http://localhost:4000/raw/upload/r.pdf",
            "http://u:p@127.0.0.1:4000/raw/upload/r.pdf",
            "/raw/upload/r.pdf",
        ] {
            assert!(u.check_origin(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn derivative_inserts_the_transformation() {
        let u = urls();
        let url = u
            .check_photo_url("http://127.0.0.1:4000/oomlab/image/upload/v1/x/p.jpg")
            .unwrap();
        assert_eq!(
            u.derivative(&url, 1600, 80).as_str(),
            "http://127.0.0.1:4000/oomlab/image/upload/w_1600,h_1600,c_limit,q_80/v1/x/p.jpg"
        );
    }
}
