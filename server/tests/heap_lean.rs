//! Heap flatness (dhat, testing mode): in the `lean` profile's settings
//! (one photo at a time, resized, the PDF assembled incrementally on disk)
//! the job's heap peak does not grow with the number of photos: 40 photos
//! peak within 15% of 10. One dhat test per file: dhat allows one profiler
//! per process. `lean` decodes sequential photos with libjpeg-turbo, whose
//! own buffers come from glibc `malloc`, which dhat does not see (the
//! decoded image it writes into is a Rust buffer and is counted; progressive
//! photos go to reduced-jpeg, all Rust); their flatness across photos is
//! what `oomlab bench`'s "over all photos / worst single photo" line
//! measures, in RSS.

use bytes::Bytes;
use report_server::Settings;
use report_server::jobs::build_pdf;
use report_server::submission::Submission;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn submission(n: usize) -> Submission {
    let urls: Vec<String> = (0..n)
        .map(|i| format!("http://127.0.0.1:1/oomlab/image/upload/p{i}.jpg"))
        .collect();
    serde_json::from_value(serde_json::json!({
        "site": {"name": "Depot"},
        "items": [{"asset": "A", "photo_urls": urls}],
    }))
    .unwrap()
}

fn peak_of_build(n: usize, photo: &Bytes, settings: &Settings, file: &std::path::Path) -> u64 {
    let before = dhat::HeapStats::get();
    let sub = submission(n);
    let mut notes = report_server::jobs::Notes::default();
    // Each photo arrives as a fresh copy, as a download would.
    let out = build_pdf(
        &sub,
        settings,
        |_, _, _| Ok(Some(Bytes::from(photo.to_vec()))),
        &mut notes,
        |_| {},
        file,
    )
    .unwrap()
    .output;
    assert!(notes.is_empty(), "{notes:?}");
    assert!(!out.is_empty());
    drop(out);
    let after = dhat::HeapStats::get();
    after.max_bytes as u64 - before.curr_bytes as u64
}

#[test]
fn lean_settings_peak_does_not_grow_with_the_number_of_photos() {
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/lean.toml");
    let mut settings = Settings::load(Some(&profile)).unwrap();
    // The lean profile's settings, resizing to 600 px instead of 1200 so the
    // photos decode at half scale and the test stays quick under dhat.
    settings.photos.max_px = 600;
    let (jpeg, _) = mock_cloudinary::synth::synthesize_jpeg(1280, 960, 250_000, 3).unwrap();
    let photo = Bytes::from(jpeg);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.pdf");
    let _profiler = dhat::Profiler::builder().testing().build();
    // max_bytes is the peak since the profiler started: 10 photos run
    // first, so the 40-photo figure is its own peak or, if it never rises
    // above the first, the same figure (which is the claim).
    let p10 = peak_of_build(10, &photo, &settings, &file);
    let p40 = peak_of_build(40, &photo, &settings, &file);
    eprintln!(
        "lean, 1280x960 photos of {} bytes: heap peak 10 photos {:.1} MB, 40 photos {:.1} MB",
        photo.len(),
        p10 as f64 / 1048576.0,
        p40 as f64 / 1048576.0
    );
    dhat::assert!(
        (p40 as f64) <= p10 as f64 * 1.15,
        "40 photos peak at {p40} bytes, over 115% of 10 photos' {p10}"
    );
}
