//! `lean` decodes progressive photos with reduced-jpeg (`photos.decoder =
//! "reduced"`): a progressive photo goes through a job resized to the
//! page's size with the picture intact, and one cut in half is drawn with
//! what arrived and listed as `partial`, not a failed job.

use mock_cloudinary::FakeCloudinary;
use report_server::settings::JpegDecoder;
use serde_json::{Value, json};

use crate::helpers::{profile, spawn_app_with};
use crate::pdf_read::jpeg_streams;

/// A `w` x `h` progressive 4:2:0 JPEG (libjpeg-turbo's script, successive
/// approximation): red on its top half, blue below, with noise so every
/// block has detail.
fn progressive_photo(w: usize, h: usize) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let n =
                ((x as u32).wrapping_mul(2_654_435_761) ^ (y as u32).wrapping_mul(40_503)) >> 27;
            let n = n as u8;
            if y < h / 2 {
                [220 + n / 4, 20 + n, 20 + n]
            } else {
                [20 + n, 20 + n, 220 + n / 4]
            }
        })
        .collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w, h);
    c.set_quality(85.0);
    c.set_progressive_mode();
    let mut started = c.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lean_resizes_a_progressive_photo_with_the_reduced_decoder() {
    let s = profile("lean");
    assert_eq!(s.photos.decoder, JpegDecoder::Reduced, "lean's decoder");
    // 2400x1800 at 1/2 is 1200x900: lean's 1200 px, no resampling left.
    let photo = progressive_photo(2400, 1800);
    let dir = tempfile::tempdir().unwrap();
    let (whole, half) = (dir.path().join("whole.jpg"), dir.path().join("half.jpg"));
    std::fs::write(&whole, &photo).unwrap();
    std::fs::write(&half, &photo[..photo.len() / 2]).unwrap();
    let fake = FakeCloudinary::builder()
        .seed(7)
        .photo_file("oomlab/progressive-1", &whole)
        .photo_file("oomlab/progressive-half-1", &half)
        .start()
        .await
        .unwrap();
    let app = spawn_app_with(s, fake).await;
    let urls = vec![
        app.fake.photo_url("oomlab/progressive-1"),
        app.fake.photo_url("oomlab/progressive-half-1"),
    ];
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let degraded = job["degraded_photos"].as_array().unwrap();
    assert_eq!(degraded.len(), 1, "only the cut photo: {job}");
    assert_eq!(degraded[0]["index"], 2, "{job}");
    assert_eq!(degraded[0]["shown_as"], "partial", "{job}");

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
    for (i, (_, jpeg)) in streams.iter().enumerate() {
        let img = image::load_from_memory(jpeg).unwrap().to_rgb8();
        assert_eq!(
            img.dimensions(),
            (1200, 900),
            "photo {i}: resized to 1200 px"
        );
        // The top of either picture arrived: red.
        let top = img.get_pixel(600, 100);
        assert!(top[0] > 180 && top[2] < 90, "photo {i}: top {top:?}");
    }
    // The whole photo's bottom is blue; the cut one's is what libjpeg and
    // reduced-jpeg fill a missing refinement with, not a panic.
    let whole = streams
        .iter()
        .map(|(_, j)| image::load_from_memory(j).unwrap().to_rgb8())
        .find(|img| {
            let p = img.get_pixel(600, 800);
            p[2] > 180 && p[0] < 90
        });
    assert!(whole.is_some(), "the whole photo's bottom is blue");
}
