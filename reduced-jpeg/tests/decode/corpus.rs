//! The corpus every comparison and the fuzz loop run over.

use jpeg_encoder::SamplingFactor;
use mozjpeg::ColorSpace;

use crate::support::{Mozjpeg, cmyk, encode_jpeg_encoder, encode_mozjpeg, gray, photo};

/// One test JPEG.
pub struct Case {
    pub name: &'static str,
    pub jpeg: Vec<u8>,
    pub progressive: bool,
}

fn moz(space: ColorSpace, progressive: bool, chroma: (u8, u8)) -> Mozjpeg {
    Mozjpeg {
        space,
        progressive,
        chroma,
        quality: 85.0,
    }
}

/// Photo-like JPEGs of every kind the decoder claims, at most 1 MP each.
/// Odd sizes (1001x667, 517x389, ...) leave partial MCUs on both edges.
pub fn corpus() -> Vec<Case> {
    let ycc = ColorSpace::JCS_YCbCr;
    let p1001 = photo(1001, 667, 1);
    let p640 = photo(640, 480, 2);
    let p517 = photo(517, 389, 3);
    let p333 = photo(333, 250, 4);
    let p301 = photo(301, 203, 5);
    let case = |name, jpeg, progressive| Case {
        name,
        jpeg,
        progressive,
    };
    vec![
        case(
            "prog-420-sa 1001x667",
            encode_mozjpeg(&p1001, 1001, 667, moz(ycc, true, (2, 2))),
            true,
        ),
        case(
            "prog-422-sa 640x480",
            encode_mozjpeg(&p640, 640, 480, moz(ycc, true, (2, 1))),
            true,
        ),
        case(
            "prog-444-sa 517x389",
            encode_mozjpeg(&p517, 517, 389, moz(ycc, true, (1, 1))),
            true,
        ),
        case(
            "prog-440-sa 333x250",
            encode_mozjpeg(&p333, 333, 250, moz(ycc, true, (1, 2))),
            true,
        ),
        case(
            "base-420 1001x667",
            encode_mozjpeg(&p1001, 1001, 667, moz(ycc, false, (2, 2))),
            false,
        ),
        case(
            "base-444 517x389",
            encode_mozjpeg(&p517, 517, 389, moz(ycc, false, (1, 1))),
            false,
        ),
        case(
            "base-422 640x480",
            encode_mozjpeg(&p640, 640, 480, moz(ycc, false, (2, 1))),
            false,
        ),
        case(
            "gray-prog 517x389",
            encode_mozjpeg(
                &gray(&p517),
                517,
                389,
                moz(ColorSpace::JCS_GRAYSCALE, true, (1, 1)),
            ),
            true,
        ),
        case(
            "gray-base 333x250",
            encode_mozjpeg(
                &gray(&p333),
                333,
                250,
                moz(ColorSpace::JCS_GRAYSCALE, false, (1, 1)),
            ),
            false,
        ),
        case(
            "cmyk-base 301x203",
            encode_mozjpeg(
                &cmyk(&p301),
                301,
                203,
                moz(ColorSpace::JCS_CMYK, false, (1, 1)),
            ),
            false,
        ),
        case(
            "cmyk-prog 301x203",
            encode_mozjpeg(
                &cmyk(&p301),
                301,
                203,
                moz(ColorSpace::JCS_CMYK, true, (1, 1)),
            ),
            true,
        ),
        case(
            "ycck-prog 301x203",
            encode_mozjpeg(
                &cmyk(&p301),
                301,
                203,
                moz(ColorSpace::JCS_YCCK, true, (1, 1)),
            ),
            true,
        ),
        case(
            "base-420-rst7 1001x667",
            encode_jpeg_encoder(&p1001, 1001, 667, SamplingFactor::R_4_2_0, false, 7),
            false,
        ),
        case(
            "prog-420-rst5 640x480",
            encode_jpeg_encoder(&p640, 640, 480, SamplingFactor::R_4_2_0, true, 5),
            true,
        ),
        case(
            "base-411 517x389",
            encode_jpeg_encoder(&p517, 517, 389, SamplingFactor::R_4_1_1, false, 0),
            false,
        ),
        case(
            "prog-411-rst3 333x250",
            encode_jpeg_encoder(&p333, 333, 250, SamplingFactor::R_4_1_1, true, 3),
            true,
        ),
    ]
}
