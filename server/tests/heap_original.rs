//! Heap growth (dhat, testing mode): building the PDF in `original` mode
//! holds every photo's decoded buffers at once through the save, as the
//! modelled app's PDF library does (Pillow's RGBX core, 4 bytes per pixel,
//! and the RGB string of `getRGBData()`, 3 bytes per pixel), so the job's
//! heap peak grows linearly with the number of photos: 10 photos take about
//! twice what 5 take above the baseline, and the difference is at least the 5
//! extra photos' 7 bytes per pixel. One dhat test per file: dhat allows one
//! profiler per process.

use bytes::Bytes;
use report_server::jobs::build_pdf;
use report_server::settings::{EmbedMode, FetchMode, Settings};
use report_server::submission::Submission;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const W: u32 = 1024;
const H: u32 = 768;

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

/// Heap peak above the live bytes at the start of the build.
fn peak_of_build(n: usize, photo: &Bytes, settings: &Settings) -> u64 {
    let before = dhat::HeapStats::get();
    let sub = submission(n);
    let mut notes = report_server::jobs::Notes::default();
    let file =
        std::env::temp_dir().join(format!("oomlab-heap-original-{}.pdf", std::process::id()));
    let pdf = build_pdf(
        &sub,
        settings,
        |_, _, _| Ok(Some(photo.clone())),
        &mut notes,
        |_| {},
        &file,
    )
    .unwrap()
    .output
    .into_bytes()
    .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert!(pdf.len() as u64 > n as u64 * photo.len() as u64);
    drop(pdf);
    let after = dhat::HeapStats::get();
    // max_bytes is the peak since the profiler started; the 10-photo build
    // runs after the 5-photo one and peaks higher, so this is its own peak.
    after.max_bytes as u64 - before.curr_bytes as u64
}

#[test]
fn original_mode_holds_every_photos_pixels_until_the_pdf_is_built() {
    let (jpeg, _) = mock_cloudinary::synth::synthesize_jpeg(W, H, 150_000, 2).unwrap();
    let photo = Bytes::from(jpeg);
    let mut settings = Settings::default();
    settings.photos.fetch = FetchMode::AllUpfront;
    settings.photos.embed = EmbedMode::Original;
    let _profiler = dhat::Profiler::builder().testing().build();
    let p5 = peak_of_build(5, &photo, &settings);
    let p10 = peak_of_build(10, &photo, &settings);
    // Per photo: the 4-channel core and the 3-channel copy.
    let pixels = u64::from(W * H * 7);
    eprintln!(
        "original mode, {W}x{H} photos of {} bytes: heap peak 5 photos {:.1} MB, 10 photos {:.1} MB ({:.2} MB of held buffers per photo)",
        photo.len(),
        p5 as f64 / 1048576.0,
        p10 as f64 / 1048576.0,
        pixels as f64 / 1048576.0
    );
    dhat::assert!(
        p10 - p5 >= 5 * pixels,
        "the 5 extra photos' two buffers are held at once"
    );
    let ratio = p10 as f64 / p5 as f64;
    dhat::assert!(
        (1.7..=2.3).contains(&ratio),
        "peak grows linearly: ratio {ratio:.2}"
    );
}
