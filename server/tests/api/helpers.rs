//! `spawn_app`: the real server with the fake Cloudinary wired in.

use std::time::{Duration, Instant};

use mock_cloudinary::FakeCloudinary;
use report_server::settings::{EmbedMode, FetchMode};
use report_server::{Application, Placement, Settings};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub fake: FakeCloudinary,
    _dir: tempfile::TempDir,
}

/// A small photo of the fake's catalogue (640x480, about 60 KB).
pub fn small_photo(n: usize) -> String {
    format!("oomlab/640x480-60k-{n}")
}

pub fn test_settings() -> Settings {
    let mut s = Settings {
        workers: 2,
        ..Settings::default()
    };
    s.db.pool_size = 2;
    s.db.max_overflow = 2;
    s.photos.attempts = 2;
    s.photos.backoff_initial_ms = 10;
    s.photos.backoff_max_ms = 20;
    s.photos.timeout_secs = 5.0;
    s.http.max_upload_bytes = 1 << 20;
    s
}

pub fn settings_with(fetch: FetchMode, embed: EmbedMode, max_px: u32) -> Settings {
    let mut s = test_settings();
    s.photos.fetch = fetch;
    s.photos.embed = embed;
    s.photos.max_px = max_px;
    s
}

pub async fn spawn_app(settings: Settings) -> TestApp {
    let fake = FakeCloudinary::builder()
        .seed(7)
        .start()
        .await
        .expect("the fake Cloudinary starts");
    spawn_app_with(settings, fake).await
}

/// The server with `fake` as its Cloudinary.
pub async fn spawn_app_with(mut settings: Settings, fake: FakeCloudinary) -> TestApp {
    settings.cloudinary.base_url = fake.base_url();
    settings.cloudinary.cloud_name = fake.cloud_name().to_string();
    serve(settings, fake).await
}

/// The server with `settings` as given (its Cloudinary already set), on
/// 127.0.0.1:0, its data in a temporary directory.
pub async fn serve(settings: Settings, fake: FakeCloudinary) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(
        settings,
        Placement {
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: dir.path().to_path_buf(),
        },
    )
    .await
    .expect("the server builds");
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        http: reqwest::Client::new(),
        fake,
        _dir: dir,
    }
}

/// A PNG signature as a data URI.
pub fn signature_uri() -> String {
    use base64::Engine;
    let img = image::RgbaImage::from_fn(120, 40, |x, y| {
        if (x as i32 - 3 * y as i32).abs() < 4 {
            image::Rgba([0, 0, 0, 255])
        } else {
            image::Rgba([255, 255, 255, 0])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(out.into_inner())
    )
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A submission with `items` items of `per_item` photo URLs each.
    pub fn submission(&self, items: usize, per_item: usize) -> Value {
        let mut n = 0;
        let items: Vec<Value> = (0..items)
            .map(|i| {
                let urls: Vec<String> = (0..per_item)
                    .map(|_| {
                        n += 1;
                        self.fake.photo_url(&small_photo(n))
                    })
                    .collect();
                json!({
                    "asset": format!("Asset {i}"), "system": "HVAC", "description": "Rooftop unit",
                    "quantity": 2, "brand": "Acme", "specification": "RTU-5", "comments": "ok",
                    "photo_urls": urls,
                })
            })
            .collect();
        json!({
            "site": {"name": "Depot 4", "address": "1 Quay St", "client": "Port Co", "inspector": "A. Lee", "date": "2026-11-28"},
            "items": items,
            "signatures": [{"role": "inspector", "name": "A. Lee", "image": signature_uri()}],
        })
    }

    pub async fn submit(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/submissions"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A job's status answer, once.
    pub async fn job(&self, job_id: impl std::fmt::Display) -> Value {
        self.http
            .get(self.url(&format!("/api/jobs/{job_id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Poll a job every 100 ms until it is completed or failed (60 s bound).
    pub async fn wait_for_job(&self, job_id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(job_id).await;
            let status = job["status"].as_str().unwrap_or_default().to_string();
            if status == "completed" || status == "failed" {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} did not finish: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Assert the JSON error shape and return its code.
pub async fn error_code(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "errors say they are JSON"
    );
    let body: Value = resp.json().await.expect("errors are JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"]["code"].as_str().unwrap().to_string()
}

/// A shipped profile (`profiles/<name>.toml`) made quick for tests: no
/// modelled runtime, short retries.
pub fn profile(name: &str) -> Settings {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profiles")
        .join(format!("{name}.toml"));
    let mut s = Settings::load(Some(&path)).unwrap_or_else(|e| panic!("{name}: {e}"));
    s.model.runtime_mb = 0;
    s.photos.attempts = 2;
    s.photos.backoff_initial_ms = 10;
    s.photos.backoff_max_ms = 20;
    s.photos.timeout_secs = 5.0;
    s.db.pool_size = s.db.pool_size.min(2);
    s.db.max_overflow = s.db.max_overflow.min(2);
    s
}

/// A `w` x `h` JPEG with detail everywhere (so every MCU row has data).
pub fn detailed_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let n = x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503);
        image::Rgb([(x % 256) as u8, (y % 256) as u8, (n >> 13) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}
