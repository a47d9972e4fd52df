//! The wiremock side: mocks that match Cloudinary's URL grammar and answer
//! with Cloudinary's statuses, headers and JSON.
//!
//! The front layer ([`crate::front`]) forwards every request here without
//! its heavy body: uploads arrive as a small JSON record of the file
//! already stored on disk, deliveries arrive with a header saying whether
//! the asset was prepared. Mocks decide the answer; when it is a 200 for an
//! asset, the front layer attaches the prepared bytes. This keeps image
//! bytes out of wiremock, which copies every response body and keeps a copy
//! of every matched request.
//!
//! Because those matched-request copies grow without bound,
//! [`MockBackend`] resets the server and mounts the mocks again every
//! `reset_every` forwarded requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use wiremock::matchers::{header_exists, method, path_regex};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::grammar::{Parsed, parse_delivery};

/// Request header from the front layer: the asset is ready; value is its
/// Content-Type.
pub const ASSET_HEADER: &str = "x-mock-cloudinary-asset";
/// Request header from the front layer: preparing failed; value is
/// `{status} {message}`.
pub const ERROR_HEADER: &str = "x-mock-cloudinary-error";
/// Request header from the front layer: the upload is stored; body is an
/// [`UploadRecord`].
pub const STORED_HEADER: &str = "x-mock-cloudinary-stored";
/// Response header to the front layer: attach the prepared body.
pub const ATTACH_HEADER: &str = "x-mock-cloudinary-attach";

/// What the front layer learnt while storing an upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    /// `image` or `raw`.
    pub resource_type: String,
    /// Final public id (with folder).
    pub public_id: String,
    /// Version number.
    pub version: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Image width, if an image.
    pub width: Option<u32>,
    /// Image height, if an image.
    pub height: Option<u32>,
    /// `jpg`, `png`, or the raw file's extension.
    pub format: Option<String>,
    /// Client file name without extension.
    pub original_filename: String,
    /// Content hash, 32 hex digits.
    pub etag: String,
}

/// Matches GET delivery paths that parse.
struct ValidDelivery(String);

impl Match for ValidDelivery {
    fn matches(&self, request: &Request) -> bool {
        matches!(parse_delivery(&self.0, request.url.path()), Parsed::Ok(_))
    }
}

/// Matches delivery paths with an invalid transformation.
struct InvalidDelivery(String);

impl Match for InvalidDelivery {
    fn matches(&self, request: &Request) -> bool {
        matches!(
            parse_delivery(&self.0, request.url.path()),
            Parsed::Invalid(_)
        )
    }
}

/// 200 head for a prepared asset.
struct AssetAnswer;

impl Respond for AssetAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mime = request
            .headers
            .get(ASSET_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        ResponseTemplate::new(200)
            .insert_header("content-type", mime)
            .insert_header("cache-control", "public, max-age=2592000")
            .insert_header("access-control-allow-origin", "*")
            .insert_header(ATTACH_HEADER, "1")
    }
}

/// The error the front layer met while preparing.
struct PreparedError;

impl Respond for PreparedError {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let value = request
            .headers
            .get(ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("500 error");
        let (status, message) = value.split_once(' ').unwrap_or(("500", value));
        cld_error(status.parse().unwrap_or(500), message)
    }
}

/// 400 with the parse error of the transformation.
struct InvalidAnswer(String);

impl Respond for InvalidAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match parse_delivery(&self.0, request.url.path()) {
            Parsed::Invalid(err) => cld_error(err.status(), &err.to_string()),
            _ => cld_error(400, "Invalid transformation"),
        }
    }
}

/// Cloudinary's error answer: status, `x-cld-error`, empty body.
fn cld_error(status: u16, message: &str) -> ResponseTemplate {
    // Header values cannot carry control characters.
    let clean: String = message.chars().filter(|c| !c.is_control()).collect();
    ResponseTemplate::new(status).insert_header("x-cld-error", clean)
}

/// The upload API's JSON answer, built from the stored record.
struct UploadAnswer {
    base_url: String,
    cloud: String,
}

impl Respond for UploadAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Ok(record) = serde_json::from_slice::<UploadRecord>(&request.body) else {
            return ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"error": {"message": "bad record"}}));
        };
        let suffix = match (&record.format, record.resource_type.as_str()) {
            (Some(format), "image") => format!(".{format}"),
            _ => String::new(),
        };
        let url = format!(
            "{}/{}/{}/upload/v{}/{}{}",
            self.base_url,
            self.cloud,
            record.resource_type,
            record.version,
            record.public_id,
            suffix
        );
        let asset_id = format!(
            "{:032x}",
            u128::from(record.version) << 64 | u128::from(record.bytes)
        );
        let body = serde_json::json!({
            "asset_id": asset_id,
            "public_id": record.public_id,
            "version": record.version,
            "version_id": format!("{:032x}", record.version),
            "signature": format!("{:040x}", record.version),
            "width": record.width,
            "height": record.height,
            "format": record.format,
            "resource_type": record.resource_type,
            "created_at": rfc3339_utc(record.version),
            "tags": [],
            "bytes": record.bytes,
            "type": "upload",
            "etag": record.etag,
            "placeholder": false,
            "url": url,
            "secure_url": url,
            "original_filename": record.original_filename,
        });
        let mut body = body;
        if let Some(fields) = body.as_object_mut() {
            // Cloudinary leaves out what a raw file does not have.
            fields.retain(|_, value| !value.is_null());
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// `2023-11-14T22:13:20Z` for unix seconds: the upload's version is its
/// timestamp, as on Cloudinary, so `created_at` agrees with it.
pub fn rfc3339_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Mount every mock on `server`.
async fn mount_all(server: &MockServer, cloud: &str, base_url: &str) {
    let upload = format!("^/v1_1/{}/(image|raw)/upload$", regex::escape(cloud));
    Mock::given(method("POST"))
        .and(path_regex(upload))
        .and(header_exists(STORED_HEADER))
        .respond_with(UploadAnswer {
            base_url: base_url.to_string(),
            cloud: cloud.to_string(),
        })
        .named("upload")
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(ValidDelivery(cloud.to_string()))
        .and(header_exists(ASSET_HEADER))
        .respond_with(AssetAnswer)
        .named("delivery")
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(ValidDelivery(cloud.to_string()))
        .and(header_exists(ERROR_HEADER))
        .respond_with(PreparedError)
        .named("delivery error")
        .with_priority(2)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(InvalidDelivery(cloud.to_string()))
        .respond_with(InvalidAnswer(cloud.to_string()))
        .named("invalid transformation")
        .with_priority(3)
        .mount(server)
        .await;
    // Health check, handy for readiness probes.
    Mock::given(method("GET"))
        .and(path_regex("^/healthz$"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .named("health")
        .with_priority(4)
        .mount(server)
        .await;
}

/// A small answer from wiremock: status, headers, body (never an image).
pub struct MockAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, internal ones included.
    pub headers: http::HeaderMap,
    /// Body (JSON or empty).
    pub body: Bytes,
}

/// The wiremock server, a pooled client to it, and the reset schedule.
pub struct MockBackend {
    server: MockServer,
    client: Client<HttpConnector, Full<Bytes>>,
    cloud: String,
    base_url: String,
    forwarded: AtomicU64,
    resets: AtomicU64,
    reset_every: u64,
    /// Forwards hold it shared; a reset holds it exclusively so no request
    /// meets a server without mocks.
    gate: RwLock<()>,
}

impl MockBackend {
    /// Start wiremock on 127.0.0.1 and mount the mocks.
    pub async fn start(cloud: &str, base_url: &str, reset_every: u64) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let server = MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        mount_all(&server, cloud, base_url).await;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        Ok(MockBackend {
            server,
            client,
            cloud: cloud.to_string(),
            base_url: base_url.to_string(),
            forwarded: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            reset_every: reset_every.max(1),
            gate: RwLock::new(()),
        })
    }

    /// How many times the mocks were reset and mounted again.
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }

    /// Send a light request to wiremock and read its small answer.
    pub async fn forward(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> anyhow::Result<MockAnswer> {
        let uri = format!("{}{}", self.server.uri(), path_and_query);
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("accept", "*/*");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body))?;
        let answer = {
            let _shared = self.gate.read().await;
            let response =
                tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
                    .await??;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            MockAnswer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        let n = self.forwarded.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(self.reset_every) {
            let _exclusive = self.gate.write().await;
            self.server.reset().await;
            mount_all(&self.server, &self.cloud, &self.base_url).await;
            self.resets.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_is_the_version_as_a_date() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(951_825_600), "2000-02-29T12:00:00Z");
    }
}
