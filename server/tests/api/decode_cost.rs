//! `limits.max_decode_bytes`: a photo whose header asks a decoder to hold
//! more than the cap is refused at upload (422 `photo_too_costly`, nothing
//! sent to Cloudinary) and drawn as the placeholder in a job, with both
//! decoders. The crafted photo is a few hundred bytes: a real progressive
//! 4:4:4 JPEG of 16x16 whose frame header is rewritten to 7680x7680 (under
//! the 60 MP pixel cap; 337.5 MiB of coefficients to a decoder).

use mock_cloudinary::FakeCloudinary;
use report_server::Settings;
use report_server::settings::{JpegDecoder, UploadBody};
use serde_json::{Value, json};

use crate::helpers::{TestApp, profile, small_photo, spawn_app_with};

/// A 16x16 progressive JPEG whose SOF2 says `w` x `h`.
fn crafted_progressive(w: u16, h: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i % 251) as u8).collect();
    let mut comp = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    comp.set_size(16, 16);
    comp.set_progressive_mode();
    // 4:4:4: every component at full resolution (the costliest layout).
    for c in comp.components_mut() {
        c.h_samp_factor = 1;
        c.v_samp_factor = 1;
    }
    let mut started = comp.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    let mut jpeg = started.finish().unwrap();
    let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC2]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpeg
}

async fn app_with_the_crafted_photo(settings: Settings) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.jpg");
    std::fs::write(&path, crafted_progressive(7680, 7680)).unwrap();
    let fake = FakeCloudinary::builder()
        .seed(5)
        .photo_file("oomlab/bomb-1", &path)
        .start()
        .await
        .unwrap();
    (spawn_app_with(settings, fake).await, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_progressive_upload_is_refused_as_too_costly() {
    let crafted = crafted_progressive(7680, 7680);
    assert!(crafted.len() < 1024, "{} bytes", crafted.len());
    for body in [UploadBody::Buffered, UploadBody::Spooled] {
        let mut s = profile("lean");
        s.http.upload_body = body;
        let (app, _dir) = app_with_the_crafted_photo(s).await;
        let form = reqwest::multipart::Form::new().part(
            "photo",
            reqwest::multipart::Part::bytes(crafted.clone()).file_name("bomb.jpg"),
        );
        let resp = app
            .http
            .post(app.url("/api/photos"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{body:?}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "photo_too_costly", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains("7680x7680 progressive"), "{message}");
        eprintln!("{} bytes refused: {message}", crafted.len());
        assert_eq!(app.fake.upload_count(), 0, "nothing reached Cloudinary");
        // The same photo at 16x16 is cheap and goes through.
        let form = reqwest::multipart::Form::new().part(
            "photo",
            reqwest::multipart::Part::bytes(crafted_progressive(16, 16)).file_name("ok.jpg"),
        );
        let resp = app
            .http
            .post(app.url("/api/photos"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{body:?}");
    }
}

async fn assert_placeholder_in_a_job(settings: Settings, what: &str) {
    let (app, _dir) = app_with_the_crafted_photo(settings).await;
    let urls = vec![
        app.fake.photo_url(&small_photo(1)),
        app.fake.photo_url("oomlab/bomb-1"),
    ];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{what}: {job}");
    let degraded = job["degraded_photos"].as_array().unwrap();
    assert_eq!(degraded.len(), 1, "{what}: {job}");
    assert_eq!(degraded[0]["index"], 2, "{what}: {job}");
    assert_eq!(degraded[0]["url"], urls[1].as_str(), "{what}");
    assert_eq!(degraded[0]["shown_as"], "placeholder", "{what}");
    let reason = degraded[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("too costly") && reason.contains("limits.max_decode_bytes"),
        "{what}: {reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_progressive_photo_is_a_placeholder_with_libjpeg_turbo() {
    let mut s = profile("lean");
    s.photos.decoder = JpegDecoder::LibjpegTurbo;
    assert_placeholder_in_a_job(s, "lean, libjpeg-turbo").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_progressive_photo_is_a_placeholder_with_jpeg_decoder() {
    let mut s = profile("resize");
    s.photos.decoder = JpegDecoder::JpegDecoder;
    assert_placeholder_in_a_job(s, "resize, jpeg-decoder").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_progressive_photo_is_a_placeholder_in_original_mode() {
    assert_placeholder_in_a_job(profile("original"), "original").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reduced_decoder_is_judged_by_what_it_holds_not_by_the_coefficient_floor() {
    // The crafted 7680x7680 4:4:4 photo at 1/4 (1920 px covers lean's 1200):
    // 337.5 MiB of coefficients for libjpeg-turbo, about 94 MiB for
    // reduced-jpeg (26 bytes a block, its planes and the output).
    let mut s = profile("lean");
    assert_eq!(s.photos.decoder, JpegDecoder::Reduced);
    s.limits.max_decode_bytes = 128 << 20;
    let (app, _dir) = app_with_the_crafted_photo(s.clone()).await;
    let urls = vec![app.fake.photo_url("oomlab/bomb-1")];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let too_costly = job["degraded_photos"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["reason"].as_str().unwrap().contains("too costly"));
    assert!(!too_costly, "decoded within the cap by reduced-jpeg: {job}");
    s.photos.decoder = JpegDecoder::LibjpegTurbo;
    assert_placeholder_in_a_job(s, "lean, libjpeg-turbo, 128 MiB").await;
}
