//! The re-encode of the `resize` mode, by `photos.encoder`: 8-bit samples
//! (1 per pixel for grayscale, 3 for RGB) to a baseline JPEG at
//! `photos.jpeg_quality`, on the calling thread.
//!
//! - `image`: the `image` crate's pure-Rust encoder (every buffer on
//!   jemalloc).
//! - `libjpeg-turbo`: libjpeg-turbo's encoder as vendored by the `mozjpeg`
//!   crate, with libjpeg-turbo's own defaults (`JCP_FASTEST`: no trellis
//!   quantisation, no scan optimisation, 4:2:0 for colour; the SIMD colour
//!   conversion, downsampling, forward DCT and Huffman coding when `nasm`
//!   was installed at build time). It holds a few MCU rows of its own (glibc
//!   `malloc`, in RSS but not in the jemalloc figures) besides the output.
//!   A fatal libjpeg error unwinds out of the C code and becomes an error
//!   naming libjpeg's message, as in `jobs::decode`.

use anyhow::Context;

use super::decode::libjpeg_message;
use crate::settings::PhotoEncoder;

/// `pixels` (`width` x `height`, 1 sample per pixel when `gray`, else RGB)
/// as a baseline JPEG of `quality` (1..=100).
pub fn encode_jpeg(
    encoder: PhotoEncoder,
    pixels: &[u8],
    width: u32,
    height: u32,
    gray: bool,
    quality: u8,
) -> anyhow::Result<Vec<u8>> {
    let channels = if gray { 1 } else { 3 };
    anyhow::ensure!(
        pixels.len() == width as usize * height as usize * channels,
        "{} bytes of samples for a {width}x{height} picture of {channels} channel(s)",
        pixels.len()
    );
    match encoder {
        PhotoEncoder::Image => with_image(pixels, width, height, gray, quality),
        PhotoEncoder::LibjpegTurbo => with_libjpeg_turbo(pixels, width, height, gray, quality),
    }
}

fn with_image(
    pixels: &[u8],
    width: u32,
    height: u32,
    gray: bool,
    quality: u8,
) -> anyhow::Result<Vec<u8>> {
    let color = if gray {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut out = Vec::with_capacity((width * height / 4) as usize);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(pixels, width, height, color)
        .context("encoding the resized JPEG")?;
    Ok(out)
}

fn with_libjpeg_turbo(
    pixels: &[u8],
    width: u32,
    height: u32,
    gray: bool,
    quality: u8,
) -> anyhow::Result<Vec<u8>> {
    let encode = || -> std::io::Result<Vec<u8>> {
        let space = if gray {
            mozjpeg::ColorSpace::JCS_GRAYSCALE
        } else {
            mozjpeg::ColorSpace::JCS_RGB
        };
        let mut comp = mozjpeg::Compress::new(space);
        comp.set_fastest_defaults();
        comp.set_size(width as usize, height as usize);
        comp.set_quality(f32::from(quality.clamp(1, 100)));
        let out = Vec::with_capacity((width * height / 4) as usize);
        let mut started = comp.start_compress(out)?;
        started.write_scanlines(pixels)?;
        started.finish()
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(encode)) {
        Ok(result) => result.context("encoding the resized JPEG (libjpeg-turbo)"),
        Err(payload) => anyhow::bail!(
            "encoding the resized JPEG (libjpeg-turbo: {})",
            libjpeg_message(&*payload)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENCODERS: [PhotoEncoder; 2] = [PhotoEncoder::Image, PhotoEncoder::LibjpegTurbo];

    /// Left half red, right half blue, a white bottom quarter.
    fn picture(w: u32, h: u32) -> Vec<u8> {
        let mut px = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                px.extend_from_slice(match (x < w / 2, y >= h * 3 / 4) {
                    (_, true) => &[255, 255, 255],
                    (true, false) => &[220, 20, 20],
                    (false, false) => &[20, 20, 220],
                });
            }
        }
        px
    }

    #[test]
    fn both_encoders_write_a_jpeg_of_the_same_picture() {
        let (w, h) = (97, 64);
        for encoder in ENCODERS {
            let jpeg = encode_jpeg(encoder, &picture(w, h), w, h, false, 80).unwrap();
            let out = image::load_from_memory(&jpeg).unwrap().to_rgb8();
            assert_eq!(out.dimensions(), (w, h), "{encoder:?}");
            let at = |x, y| out.get_pixel(x, y).0;
            let red = at(10, 10);
            let blue = at(w - 10, 10);
            let white = at(w / 2, h - 4);
            assert!(red[0] > 180 && red[2] < 70, "{encoder:?}: {red:?}");
            assert!(blue[2] > 180 && blue[0] < 70, "{encoder:?}: {blue:?}");
            assert!(white.iter().all(|&c| c > 230), "{encoder:?}: {white:?}");
        }
    }

    #[test]
    fn grayscale_stays_one_channel_and_quality_shows_in_the_size() {
        let (w, h) = (80, 60);
        let gray: Vec<u8> = (0..w * h).map(|i| ((i * 7) % 251) as u8).collect();
        for encoder in ENCODERS {
            let low = encode_jpeg(encoder, &gray, w, h, true, 20).unwrap();
            let high = encode_jpeg(encoder, &gray, w, h, true, 95).unwrap();
            let out = image::load_from_memory(&high).unwrap();
            assert_eq!(out.color(), image::ColorType::L8, "{encoder:?}");
            assert!(
                low.len() < high.len(),
                "{encoder:?}: q20 {} q95 {}",
                low.len(),
                high.len()
            );
        }
    }

    #[test]
    fn samples_that_do_not_match_the_size_are_an_error_not_a_panic() {
        for encoder in ENCODERS {
            let err = encode_jpeg(encoder, &[0; 10], 4, 4, false, 75).unwrap_err();
            assert!(format!("{err:#}").contains("4x4"), "{encoder:?}: {err:#}");
        }
    }
}
