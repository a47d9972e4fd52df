//! The reduced-scale JPEG decoder (`reduced-jpeg`) as a fuzz target.
//!
//! Every input is decoded at 1/8, 1/4, 1/2 (folded, and storing every
//! coefficient) and 1/1 under [`MAX_HELD_BYTES`]. A decode may fail with
//! any error; one that succeeds must have the size its header gives at
//! that scale, one byte per pixel for grey and three for colour, and an
//! EXIF orientation in 1..=8. A panic, an allocation beyond the cap (the
//! fuzzer's RSS limit) or a hang is a crash.

use reduced_jpeg::{ColorType, Header, Keep, decode_keeping};

/// What one decode may hold. A mutated header can claim 65535 x 65535
/// pixels: that must end in `Error::TooLarge` from the header, not in an
/// allocation; and a small cap keeps each input quick.
pub const MAX_HELD_BYTES: u64 = 16 << 20;

/// The scales and stores every input is decoded with.
const DECODES: [(u8, Keep); 5] = [
    (8, Keep::Reduced),
    (4, Keep::Reduced),
    (2, Keep::Reduced),
    (2, Keep::All),
    (1, Keep::Reduced),
];

/// Feed one input. Errors are fine; panics are crashes.
pub fn run_one(input: &[u8]) {
    let header = Header::read(input);
    for (denom, keep) in DECODES {
        let Ok(d) = decode_keeping(input, denom, MAX_HELD_BYTES, keep) else {
            continue;
        };
        let h = header
            .as_ref()
            .expect("a JPEG that decodes has a header that reads on its own");
        let (w, hh) = h
            .scaled_size(denom)
            .expect("a scale that decodes has a size");
        assert_eq!(
            (d.width, d.height),
            (w, hh),
            "1/{denom}: the output is not the header's size"
        );
        let channels = match d.color {
            ColorType::Gray8 => 1,
            ColorType::Rgb8 => 3,
        };
        assert_eq!(
            d.pixels.len(),
            w as usize * hh as usize * channels,
            "1/{denom}: pixels for another size"
        );
        assert!(
            (1..=8).contains(&d.orientation),
            "orientation {}",
            d.orientation
        );
    }
}

/// Tokens worth inserting: markers (SOI, EOI, SOF0/1/2, DHT, SOS, DQT,
/// DRI, RST, APP0/1/14, COM), EXIF's and Adobe's headers, the orientation
/// tag, stuffed bytes and sampling factors.
pub const DICTIONARY: &[&[u8]] = &[
    b"\xFF\xD8",
    b"\xFF\xD9",
    b"\xFF\xC0\x00\x11\x08",
    b"\xFF\xC1",
    b"\xFF\xC2\x00\x11\x08",
    b"\xFF\xC4",
    b"\xFF\xDA",
    b"\xFF\xDB\x00\x43\x00",
    b"\xFF\xDD\x00\x04\x00\x01",
    b"\xFF\xD0",
    b"\xFF\xD7",
    b"\xFF\xE0",
    b"\xFF\xE1",
    b"\xFF\xEE\x00\x0EAdobe",
    b"\xFF\xFE",
    b"Exif\x00\x00MM\x00\x2A\x00\x00\x00\x08",
    b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06",
    b"\xFF\x00",
    b"\xFF\xFF",
    b"\x00\x00",
    b"\x11",
    b"\x21",
    b"\x22",
    b"\x41",
    b"\x12",
    b"\x3F",
];

#[cfg(feature = "parsers")]
pub use seeds::seeds;

#[cfg(feature = "parsers")]
mod seeds {
    use mozjpeg::{ColorSpace, Compress};

    /// Small JPEGs of every kind the decoder claims (under 64x48 pixels,
    /// a few KB each, so that the fuzzer's mutations stay quick): libjpeg-turbo
    /// progressive with successive approximation in 4:2:0, 4:2:2, 4:4:4 and
    /// 4:4:0, baseline, grey, CMYK and YCCK; `jpeg-encoder` progressive and
    /// baseline with restart intervals and 4:1:1; one with an EXIF
    /// orientation. Odd sizes leave partial MCUs on both edges.
    pub fn seeds() -> Vec<Vec<u8>> {
        let ycc = ColorSpace::JCS_YCbCr;
        let moz = |w, h, space, progressive, chroma| {
            let rgb = photo(w, h);
            let pixels = match space {
                ColorSpace::JCS_GRAYSCALE => gray(&rgb),
                ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => cmyk(&rgb),
                _ => rgb,
            };
            encode_mozjpeg(&pixels, w, h, space, progressive, chroma)
        };
        let jenc = |w, h, sampling, progressive, restart| {
            encode_jpeg_encoder(&photo(w, h), w, h, sampling, progressive, restart)
        };
        let prog_420 = moz(61, 45, ycc, true, (2, 2));
        vec![
            with_orientation(&prog_420, 6),
            prog_420,
            moz(48, 40, ycc, true, (2, 1)),
            moz(37, 29, ycc, true, (1, 1)),
            moz(40, 33, ycc, true, (1, 2)),
            moz(61, 45, ycc, false, (2, 2)),
            moz(37, 29, ycc, false, (1, 1)),
            moz(45, 37, ColorSpace::JCS_GRAYSCALE, true, (1, 1)),
            moz(33, 25, ColorSpace::JCS_GRAYSCALE, false, (1, 1)),
            moz(30, 21, ColorSpace::JCS_CMYK, false, (1, 1)),
            moz(30, 21, ColorSpace::JCS_CMYK, true, (1, 1)),
            moz(30, 21, ColorSpace::JCS_YCCK, true, (1, 1)),
            jenc(64, 48, jpeg_encoder::SamplingFactor::R_4_2_0, true, 2),
            jenc(45, 37, jpeg_encoder::SamplingFactor::R_4_1_1, true, 3),
            jenc(37, 29, jpeg_encoder::SamplingFactor::R_4_2_0, false, 1),
        ]
    }

    /// A photo-like RGB image: a gradient, a hard-edged disc, a patch of
    /// fine stripes and noise (deterministic).
    fn photo(w: usize, h: usize) -> Vec<u8> {
        let mut state = (w * 31 + h) as u64 | 1;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 25) as i32 - 12
        };
        let (cx, cy, r) = (w / 3, h / 2, w.min(h) / 4);
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let mut px = [
                    (40 + 180 * x / w) as i32,
                    (200 - 150 * y / h) as i32,
                    (90 + 60 * (x + y) / (w + h)) as i32,
                ];
                if x.abs_diff(cx).pow(2) + y.abs_diff(cy).pow(2) < r * r {
                    px = [230, 40, 30];
                }
                if x > w * 2 / 3 && y > h / 2 {
                    let s = if (x + y / 2) % 2 == 0 { 45 } else { -45 };
                    px = px.map(|v| v + s);
                }
                let n = noise();
                out.extend(px.map(|v| (v + n).clamp(0, 255) as u8));
            }
        }
        out
    }

    fn gray(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .map(|p| {
                ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])) >> 8) as u8
            })
            .collect()
    }

    /// Adobe's inverted CMYK (255 = no ink), as Photoshop writes it.
    fn cmyk(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .flat_map(|p| {
                let k = 255 - p.iter().copied().max().unwrap_or(0);
                let ink = |v: u8| {
                    if k == 255 {
                        0
                    } else {
                        (u32::from(255 - v - k) * 255 / u32::from(255 - k)) as u8
                    }
                };
                [255 - ink(p[0]), 255 - ink(p[1]), 255 - ink(p[2]), 255 - k]
            })
            .collect()
    }

    fn encode_mozjpeg(
        pixels: &[u8],
        w: usize,
        h: usize,
        space: ColorSpace,
        progressive: bool,
        chroma: (u8, u8),
    ) -> Vec<u8> {
        let input = match space {
            ColorSpace::JCS_YCCK => ColorSpace::JCS_CMYK,
            s => s,
        };
        let mut c = Compress::new(input);
        // libjpeg-turbo's standard progressive script: successive
        // approximation for DC and AC.
        c.set_fastest_defaults();
        c.set_color_space(space);
        c.set_size(w, h);
        c.set_quality(85.0);
        if progressive {
            c.set_progressive_mode();
        }
        if space == ColorSpace::JCS_YCbCr {
            c.set_chroma_sampling_pixel_sizes(chroma, chroma);
        }
        let mut started = c.start_compress(Vec::new()).expect("libjpeg-turbo starts");
        started
            .write_scanlines(pixels)
            .expect("libjpeg-turbo encodes");
        started.finish().expect("libjpeg-turbo finishes")
    }

    fn encode_jpeg_encoder(
        rgb: &[u8],
        w: usize,
        h: usize,
        sampling: jpeg_encoder::SamplingFactor,
        progressive: bool,
        restart: u16,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut out, 88);
        e.set_sampling_factor(sampling);
        e.set_progressive(progressive);
        e.set_restart_interval(restart);
        e.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .expect("jpeg-encoder encodes");
        out
    }

    /// `jpeg` with an EXIF APP1 segment after SOI giving `orientation`.
    fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
        let mut tiff =
            b"MM\x00\x2A\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00".to_vec();
        tiff.extend([orientation, 0, 0, 0, 0, 0, 0]);
        let len = (2 + 6 + tiff.len()) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(len.to_be_bytes());
        out.extend(b"Exif\x00\x00");
        out.extend(tiff);
        out.extend(&jpeg[2..]);
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_seeds_decode_whole_at_every_scale() {
            let seeds = super::seeds();
            for (i, s) in seeds.iter().enumerate() {
                assert!(s.len() < 8_000, "seed {i}: {} bytes", s.len());
                for denom in [1, 2, 4, 8] {
                    let d = reduced_jpeg::decode(s, denom)
                        .unwrap_or_else(|e| panic!("seed {i} at 1/{denom}: {e}"));
                    assert!(!d.partial, "seed {i} at 1/{denom}");
                }
                super::super::run_one(s);
            }
            assert_eq!(reduced_jpeg::decode(&seeds[0], 1).unwrap().orientation, 6);
            let progressive = seeds
                .iter()
                .filter(|s| reduced_jpeg::Header::read(s).unwrap().progressive)
                .count();
            assert_eq!(progressive, 10);
        }
    }
}
