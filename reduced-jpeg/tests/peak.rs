//! Peak heap bytes of a decode against the header's prediction and against
//! the coefficient floor. Its own test binary with one test: it installs a
//! counting global allocator, and a second test running in parallel would
//! count towards the peak.
#![allow(unsafe_code)] // the counting allocator, see its module

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
#[allow(dead_code)] // the corpus helpers this test does not use
#[path = "decode/support.rs"]
mod support;

use mozjpeg::ColorSpace;
use reduced_jpeg::{DEFAULT_MAX_HELD_BYTES, Header, Keep, decode_keeping};

use counting_alloc::{Counting, peak_during};
use support::{Mozjpeg, encode_mozjpeg, photo};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes of every DCT coefficient of the image (64 x 2 per block of every
/// component, padded to whole MCUs): what a common progressive decoder
/// holds until the last scan.
fn coefficient_floor(w: usize, h: usize, chroma: (usize, usize)) -> usize {
    let (mw, mh) = ((w).div_ceil(8 * chroma.0), h.div_ceil(8 * chroma.1));
    let luma = mw * chroma.0 * mh * chroma.1;
    (luma + 2 * mw * mh) * 128
}

#[test]
fn a_reduced_decode_holds_what_the_header_predicts_and_a_fraction_of_the_floor() {
    let (w, h) = (2048, 1360);
    let rgb = photo(w, h, 9);
    for chroma in [(1u8, 1u8), (2, 2)] {
        let o = Mozjpeg {
            space: ColorSpace::JCS_YCbCr,
            progressive: true,
            chroma,
            quality: 90.0,
        };
        let jpeg = encode_mozjpeg(&rgb, w, h, o);
        let header = Header::read(&jpeg).unwrap();
        let floor = coefficient_floor(w, h, (usize::from(chroma.0), usize::from(chroma.1)));
        assert_eq!(header.coefficient_floor(), floor as u64);
        for (denom, keep) in [(4u8, Keep::Reduced), (2, Keep::Reduced), (4, Keep::All)] {
            let (d, peak) =
                peak_during(|| decode_keeping(&jpeg, denom, DEFAULT_MAX_HELD_BYTES, keep).unwrap());
            assert!(!d.partial);
            let predicted = header.held_bytes(denom, keep).unwrap() as usize;
            println!(
                "{w}x{h} {chroma:?} 1/{denom} {keep:?}: peak {peak} B, predicted {predicted} B, \
                 floor {floor} B ({:.3}x)",
                peak as f64 / floor as f64
            );
            // The prediction is what a memory cap checks: never below the
            // real peak, and not so far above that it refuses photos it
            // could decode.
            assert!(peak <= predicted, "{peak} > {predicted}");
            assert!(peak * 10 >= predicted * 8, "{peak} far under {predicted}");
            // Bounds just over the ratios measured (docs/measurements/
            // reduced-jpeg.md): per block at 1/4 26 bytes of 128 (DC, 2x2
            // folded sums, two 64-bit masks), at 1/2 50; 4:2:0 chroma takes
            // an IDCT twice the luma's size, as in libjpeg-turbo (4x4 at
            // 1/4, folded; 8x8 at 1/2, every coefficient kept). The planes
            // and the output come on top (4:2:0 at 1/2: its 8x8 chroma planes
            // are as large as the luma one).
            let ratio = peak as f64 / floor as f64;
            match (keep, denom, chroma) {
                (Keep::All, ..) => assert!(ratio >= 1.0, "All stores the floor: {ratio:.3}"),
                (_, 4, (1, 1)) => assert!(ratio <= 0.25, "{ratio:.3}"),
                (_, 4, _) => assert!(ratio <= 0.35, "{ratio:.3}"),
                (_, _, (1, 1)) => assert!(ratio <= 0.55, "{ratio:.3}"),
                _ => assert!(ratio <= 0.87, "{ratio:.3}"),
            }
        }
    }
}
