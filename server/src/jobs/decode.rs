//! The scaled decode of the `resize` mode, by `photos.decoder`: the photo is
//! decoded at the smallest IDCT scale (1/1, 1/2, 1/4 or 1/8) whose output
//! still covers the size the page needs, into one buffer of 8-bit samples
//! (1 per pixel for grayscale, 3 for colour; a CMYK or YCCK photo is
//! decoded to CMYK and converted to RGB in the same buffer), on the calling
//! thread.
//!
//! - `jpeg-decoder`: jpeg-decoder 0.3 with its `rayon` worker in a one-thread
//!   pool of the calling thread ([`super::photos::on_this_thread`]). It keeps
//!   every component's plane through scaling and colour conversion: two
//!   buffers of the scaled size plus, for a progressive JPEG, every
//!   coefficient.
//! - `libjpeg-turbo`: libjpeg-turbo's decoder as vendored by the `mozjpeg`
//!   crate (built from C by `mozjpeg-sys`, with its SIMD when `nasm` is
//!   installed; without `nasm` the build still works, with plain C IDCTs).
//!   DCT scaling with scanline output: only the coefficient arrays
//!   (progressive) or a few MCU rows (baseline) plus the scaled image are
//!   held, and the coefficients are freed before the resize. The output
//!   buffer is Rust's (jemalloc), but libjpeg's own buffers (coefficients,
//!   row buffers) come from glibc `malloc`: tikv-jemallocator prefixes its
//!   symbols, so jemalloc's per-thread counters, and with them a job's
//!   "live bytes", do not see them. RSS does. libjpeg has no threads.
//! - `reduced`: reduced-jpeg for a progressive JPEG (its coefficients
//!   folded into what the scale needs as they arrive; the output and the
//!   component planes at the scaled size; everything on jemalloc), and
//!   libjpeg-turbo as above for a sequential one. Corrupt or cut data after
//!   the first scan decodes to what arrived (reduced-jpeg's `partial`: the
//!   photo is counted degraded from its structure, `crate::imagecheck`);
//!   before it, an error.
//!
//! Errors: libjpeg reports a fatal error by unwinding out of the C code
//! (mozjpeg's `unwinding` feature, no panic hook involved); it is caught here
//! and becomes an error naming libjpeg's message (this needs `panic =
//! "unwind"`, Rust's default, which the workspace keeps: with `abort` a
//! corrupt photo would end the process). A truncated JPEG decodes with its
//! missing rows grey, as libjpeg does.

use std::io::Cursor;

use anyhow::Context;

use super::photos::on_this_thread;
use crate::settings::JpegDecoder;

/// Decoded samples of a photo at a reduced scale.
pub struct Scaled {
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The IDCT scale denominator (1, 2, 4 or 8) whose output of a
/// `width` x `height` JPEG is the smallest that still covers `want_w` x
/// `want_h` (libjpeg rounds the output size up, as jpeg-decoder does).
pub fn scale_denominator(width: u32, height: u32, want_w: u32, want_h: u32) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&d| width.div_ceil(d) >= want_w && height.div_ceil(d) >= want_h)
        .unwrap_or(1)
}

/// What the decoded samples are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Samples {
    /// One sample per pixel.
    Gray,
    /// Three per pixel, from a YCbCr (or RGB) JPEG.
    Rgb,
    /// A CMYK or YCCK JPEG, decoded to four samples and converted to three
    /// (RGB) in the same buffer.
    CmykToRgb,
}

/// Decode `jpeg` (8-bit) at the scale that covers `want_w` x `want_h`
/// stored pixels into `samples` (grayscale: one per pixel; otherwise RGB).
pub fn decode_scaled(
    decoder: JpegDecoder,
    jpeg: &[u8],
    want_w: u32,
    want_h: u32,
    samples: Samples,
) -> anyhow::Result<Scaled> {
    match decoder {
        JpegDecoder::JpegDecoder => with_jpeg_decoder(jpeg, want_w, want_h, samples),
        JpegDecoder::LibjpegTurbo => with_libjpeg_turbo(jpeg, want_w, want_h, samples),
        JpegDecoder::Reduced => {
            let header = reduced_jpeg::Header::read(jpeg)
                .map_err(|e| anyhow::anyhow!("the JPEG does not decode (reduced-jpeg: {e})"))?;
            if header.progressive {
                with_reduced(jpeg, &header, want_w, want_h, samples)
            } else {
                with_libjpeg_turbo(jpeg, want_w, want_h, samples)
            }
        }
    }
}

fn with_reduced(
    jpeg: &[u8],
    header: &reduced_jpeg::Header,
    want_w: u32,
    want_h: u32,
    samples: Samples,
) -> anyhow::Result<Scaled> {
    let denominator = scale_denominator(header.width, header.height, want_w, want_h);
    // The cap was checked before (`limits.max_decode_bytes`, `jobs::cost`):
    // the decoder's own is only a backstop.
    let d = reduced_jpeg::decode(jpeg, denominator as u8)
        .map_err(|e| anyhow::anyhow!("the JPEG does not decode (reduced-jpeg: {e})"))?;
    let expected = match samples {
        Samples::Gray => reduced_jpeg::ColorType::Gray8,
        // reduced-jpeg turns CMYK and YCCK into RGB itself, the same naive
        // way as `cmyk_to_rgb` here.
        Samples::Rgb | Samples::CmykToRgb => reduced_jpeg::ColorType::Rgb8,
    };
    if d.color != expected {
        anyhow::bail!("the JPEG's components changed between its header and its decode");
    }
    Ok(Scaled {
        pixels: d.pixels,
        width: d.width,
        height: d.height,
    })
}

/// CMYK samples (4 per pixel) to RGB (3 per pixel) in place, the buffer
/// then cut to its new length. `ink_is_high`: jpeg-decoder hands out ink
/// amounts (it inverts what Adobe applications store), libjpeg the stored
/// values (255 = no ink). The naive conversion R = (1 - C)(1 - K), as
/// browsers and Pillow do without a colour profile.
fn cmyk_to_rgb(pixels: &mut Vec<u8>, ink_is_high: bool) {
    let n = pixels.len() / 4;
    for i in 0..n {
        let p = &pixels[i * 4..i * 4 + 4];
        let clear = |v: u8| u32::from(if ink_is_high { 255 - v } else { v });
        let k = clear(p[3]);
        let rgb = [p[0], p[1], p[2]].map(|c| ((clear(c) * k + 127) / 255) as u8);
        // Writing at 3i never overtakes the reads at 4i and beyond.
        pixels[i * 3..i * 3 + 3].copy_from_slice(&rgb);
    }
    pixels.truncate(n * 3);
    pixels.shrink_to_fit();
}

fn with_jpeg_decoder(
    jpeg: &[u8],
    want_w: u32,
    want_h: u32,
    samples: Samples,
) -> anyhow::Result<Scaled> {
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(jpeg));
    dec.read_info().context("not a readable JPEG")?;
    let req_w = u16::try_from(want_w).unwrap_or(u16::MAX);
    let req_h = u16::try_from(want_h).unwrap_or(u16::MAX);
    let (sw, sh) = dec.scale(req_w, req_h).context("not a readable JPEG")?;
    let mut pixels = on_this_thread(|| dec.decode()).context("the JPEG does not decode")?;
    if samples == Samples::CmykToRgb {
        if dec.info().map(|i| i.pixel_format) != Some(jpeg_decoder::PixelFormat::CMYK32) {
            anyhow::bail!("the JPEG's components changed between its header and its decode");
        }
        cmyk_to_rgb(&mut pixels, true);
    }
    Ok(Scaled {
        pixels,
        width: u32::from(sw),
        height: u32::from(sh),
    })
}

fn with_libjpeg_turbo(
    jpeg: &[u8],
    want_w: u32,
    want_h: u32,
    samples: Samples,
) -> anyhow::Result<Scaled> {
    let decode = || -> std::io::Result<Scaled> {
        let mut dec = mozjpeg::Decompress::new_mem(jpeg)?;
        let (w, h) = (dec.width() as u32, dec.height() as u32);
        let denominator = scale_denominator(w, h, want_w, want_h);
        dec.scale((8 / denominator) as u8);
        let mut started = match samples {
            Samples::Gray => dec.grayscale()?,
            Samples::Rgb => dec.rgb()?,
            // libjpeg converts YCCK to CMYK, not CMYK to RGB.
            Samples::CmykToRgb => dec.to_colorspace(mozjpeg::ColorSpace::JCS_CMYK)?,
        };
        let (width, height) = (started.width() as u32, started.height() as u32);
        let mut pixels = started.read_scanlines::<u8>()?;
        started.finish()?;
        if samples == Samples::CmykToRgb {
            cmyk_to_rgb(&mut pixels, false);
        }
        Ok(Scaled {
            pixels,
            width,
            height,
        })
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)) {
        Ok(result) => result.context("the JPEG does not decode (libjpeg-turbo)"),
        Err(payload) => anyhow::bail!("the JPEG does not decode ({})", libjpeg_message(&*payload)),
    }
}

/// libjpeg's message out of the payload of its fatal error's unwind (the
/// `mozjpeg` crate unwinds with the message as a `String`).
pub(super) fn libjpeg_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "libjpeg failed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_smallest_that_covers_the_wanted_size() {
        assert_eq!(scale_denominator(4000, 3000, 1200, 900), 2);
        assert_eq!(scale_denominator(4096, 4096, 1200, 1200), 2);
        assert_eq!(scale_denominator(6028, 3391, 1200, 675), 4);
        assert_eq!(scale_denominator(9600, 7200, 1200, 900), 8);
        assert_eq!(scale_denominator(1000, 800, 1200, 960), 1);
        // Rounded up like libjpeg: 1201 / 2 -> 601 covers 601.
        assert_eq!(scale_denominator(1201, 801, 601, 401), 2);
    }

    fn gradient_jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn both_decoders_give_the_same_scaled_picture() {
        let jpeg = gradient_jpeg(640, 480);
        let a = decode_scaled(JpegDecoder::JpegDecoder, &jpeg, 150, 110, Samples::Rgb).unwrap();
        let b = decode_scaled(JpegDecoder::LibjpegTurbo, &jpeg, 150, 110, Samples::Rgb).unwrap();
        // A baseline photo: `reduced` hands it to libjpeg-turbo.
        let c = decode_scaled(JpegDecoder::Reduced, &jpeg, 150, 110, Samples::Rgb).unwrap();
        assert_eq!(c.pixels, b.pixels);
        assert_eq!((a.width, a.height), (160, 120));
        assert_eq!((b.width, b.height), (160, 120));
        assert_eq!(b.pixels.len(), 160 * 120 * 3);
        // Same picture: the red ramp runs left to right, green top to bottom.
        for (x, y) in [(10, 10), (150, 10), (10, 110), (80, 60)] {
            let i = (y * 160 + x) * 3;
            for c in 0..3 {
                let d = i32::from(a.pixels[i + c]) - i32::from(b.pixels[i + c]);
                assert!(d.abs() <= 12, "({x},{y}) channel {c}: {d}");
            }
        }
        assert!(b.pixels[(10 * 160 + 150) * 3] > 200, "right is red");
        assert!(b.pixels[(110 * 160 + 10) * 3 + 1] > 200, "bottom is green");
    }

    #[test]
    fn libjpeg_turbo_decodes_grayscale_to_one_sample_per_pixel() {
        let img =
            image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if x < 32 { 20 } else { 230 }]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode(img.as_raw(), 64, 64, image::ExtendedColorType::L8)
            .unwrap();
        let s = decode_scaled(JpegDecoder::LibjpegTurbo, &jpeg, 32, 32, Samples::Gray).unwrap();
        assert_eq!((s.width, s.height, s.pixels.len()), (32, 32, 32 * 32));
        assert!(s.pixels[8 * 32 + 4] < 60 && s.pixels[8 * 32 + 28] > 200);
    }

    #[test]
    fn a_broken_jpeg_is_an_error_naming_libjpeg_not_a_panic() {
        let mut jpeg = gradient_jpeg(64, 64);
        // Clobber the SOF marker: libjpeg stops with a fatal error.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5] = 0;
        jpeg[sof + 6] = 0;
        let err = decode_scaled(JpegDecoder::LibjpegTurbo, &jpeg, 32, 32, Samples::Rgb)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("libjpeg"), "{err:#}");
    }

    /// A progressive 4:2:0 photo with detail, encoded by libjpeg-turbo.
    fn progressive_jpeg(w: usize, h: usize) -> Vec<u8> {
        let pixels: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let n = (x as u32).wrapping_mul(2_654_435_761) ^ (y as u32).wrapping_mul(40_503);
                [(x * 255 / w) as u8, (y * 255 / h) as u8, (n >> 13) as u8]
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

    #[test]
    fn reduced_decodes_a_progressive_photo_as_libjpeg_turbo_does() {
        let jpeg = progressive_jpeg(800, 600);
        let a = decode_scaled(JpegDecoder::Reduced, &jpeg, 200, 150, Samples::Rgb).unwrap();
        let b = decode_scaled(JpegDecoder::LibjpegTurbo, &jpeg, 200, 150, Samples::Rgb).unwrap();
        assert_eq!((a.width, a.height), (200, 150), "1/4 covers 200x150");
        assert_eq!((b.width, b.height), (200, 150));
        let max = a
            .pixels
            .iter()
            .zip(&b.pixels)
            .map(|(x, y)| x.abs_diff(*y))
            .max();
        assert!(max <= Some(3), "largest difference {max:?}");
    }

    #[test]
    fn reduced_turns_cut_or_broken_progressive_photos_into_pictures_or_errors() {
        let jpeg = progressive_jpeg(160, 120);
        let sos = jpeg.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
        // Cut before the first scan: an error, not a panic.
        let err = decode_scaled(JpegDecoder::Reduced, &jpeg[..sos], 40, 30, Samples::Rgb)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("reduced-jpeg"), "{err:#}");
        // Cut anywhere after it, or with bytes of its data clobbered: what
        // arrived, at the right size.
        for cut in (sos + 20..jpeg.len()).step_by(97) {
            let s =
                decode_scaled(JpegDecoder::Reduced, &jpeg[..cut], 40, 30, Samples::Rgb).unwrap();
            assert_eq!(s.pixels.len(), 40 * 30 * 3, "cut at {cut}");
            let mut broken = jpeg.clone();
            broken[cut] ^= 0x5A;
            if let Ok(s) = decode_scaled(JpegDecoder::Reduced, &broken, 40, 30, Samples::Rgb) {
                assert_eq!(s.pixels.len(), 40 * 30 * 3, "byte {cut} clobbered");
            }
        }
    }
}
