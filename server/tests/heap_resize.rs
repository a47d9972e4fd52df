//! Heap budget (dhat, testing mode): preparing one 4000x3000 camera photo
//! (about 3 MB of JPEG) in `resize` mode (1600 px, q80) stays under 24 MB of
//! heap at its peak, where decoding it in full would take 36 MB of pixels
//! alone. One dhat test per file: dhat allows one profiler per process.

use bytes::Bytes;
use report_server::jobs::photos::prepare;
use report_server::settings::{EmbedMode, PhotoSettings};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const BUDGET: u64 = 24 << 20;

#[test]
fn one_camera_photo_in_resize_mode_stays_under_its_heap_budget() {
    // Generated before the profiler starts, so it is not counted.
    let (jpeg, _q) = mock_cloudinary::synth::synthesize_jpeg(4000, 3000, 3_000_000, 1).unwrap();
    let jpeg = Bytes::from(jpeg);
    let settings = PhotoSettings {
        embed: EmbedMode::Resize,
        max_px: 1600,
        jpeg_quality: 80,
        ..PhotoSettings::default()
    };
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().curr_bytes as u64;
    let prepared = prepare(jpeg.clone(), &settings, 60_000_000).unwrap();
    let stats = dhat::HeapStats::get();
    let peak = stats.max_bytes as u64 - before;
    eprintln!(
        "resize 4000x3000 ({} bytes) -> {}x{} ({} bytes): heap peak {:.1} MB above start",
        jpeg.len(),
        prepared.width,
        prepared.height,
        prepared.jpeg.len(),
        peak as f64 / 1048576.0
    );
    assert_eq!((prepared.width, prepared.height), (1600, 1200));
    dhat::assert!(
        peak < BUDGET,
        "peak {peak} bytes is over the {BUDGET}-byte budget"
    );
}
