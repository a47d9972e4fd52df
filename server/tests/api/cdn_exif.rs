//! `cdn-transform` embeds the fake Cloudinary's derivative, which is turned
//! upright by the photo's EXIF orientation as Cloudinary's is: a phone
//! portrait stored on its side (tagged 6 or 8) is a portrait in the report.

use report_server::jobs::pdf::ascii85;
use serde_json::{Value, json};

use crate::helpers::{profile, spawn_app};
use crate::pdf_read::jpeg_streams;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdn_transform_reports_show_exif_rotated_photos_upright() {
    let app = spawn_app(profile("cdn-transform")).await;
    // Stored 64x48 (landscape), tagged 6 and 8: upright 48x64.
    let urls = vec![
        app.fake.photo_url("oomlab/64x48-5k-exif6-1"),
        app.fake.photo_url("oomlab/64x48-5k-exif8-1"),
    ];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let pdf = app
        .http
        .get(job["results"]["pdf"]["cloudinary_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let streams = jpeg_streams(&pdf);
    assert_eq!(streams.len(), 2, "both photos embedded");
    for (filters, content) in &streams {
        // cdn-transform writes its images ASCII85-encoded, as the modelled
        // app's reportlab does.
        let jpeg = if filters.iter().any(|f| f == "ASCII85Decode") {
            ascii85::decode(content).expect("valid ASCII85")
        } else {
            content.clone()
        };
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (48, 64),
            "the derivative is upright"
        );
    }
}
