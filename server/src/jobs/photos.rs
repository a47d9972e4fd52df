//! Preparing one photo for the PDF, per embed mode. What each mode keeps alive
//! is the point of the comparison:
//!
//! - `original`: the JPEG bytes are embedded unchanged, and the photo is also
//!   decoded in full into the two buffers the modelled app's image reader
//!   keeps ([`HeldPixels`]: 4 + 3 bytes per pixel), which the caller holds
//!   through the document's save (see `jobs::retention`).
//! - `passthrough` / `cdn_transform`: the bytes are embedded, never decoded.
//! - `resize`: decoded at the smallest IDCT scale that still covers `max_px`
//!   by `photos.decoder` (jpeg-decoder or libjpeg-turbo: `jobs::decode`),
//!   resized with `fast_image_resize` (no float
//!   buffers), turned upright by its EXIF orientation (see
//!   `jobs::orientation`; the other modes keep the stored pixels, as the
//!   modelled app does), re-encoded at `jpeg_quality` by `photos.encoder`
//!   (`image` or libjpeg-turbo: `jobs::encode`).
//!
//! # Decoding stays on the calling thread
//! Per-job memory figures come from jemalloc's per-thread counters, so a job's
//! bytes must be allocated and freed on the job's own thread. jpeg-decoder
//! (0.3) decodes images wider than 128 px on helper threads: without its
//! `rayon` feature it spawns one `std::thread` per colour component
//! (`worker/multithreaded.rs`) and sends it every MCU row of coefficients,
//! allocated here and freed there (about 30 MB per 12 MP photo), while the
//! component planes are allocated there and freed here. A job's "live bytes"
//! then drift by hundreds of MB from what jemalloc holds. `image` decodes
//! JPEG with zune-jpeg, which has no threads. So the scaled decode runs with
//! jpeg-decoder's `rayon` worker inside a rayon pool whose only thread is the
//! calling thread ([`on_this_thread`]): the same IDCT scaling and buffers, no
//! helper thread. libjpeg-turbo (`photos.decoder = "libjpeg-turbo"`) has no
//! threads, but its own buffers are glibc's, outside those counters
//! (`jobs::decode`).

use std::io::Cursor;

use anyhow::Context;
use bytes::Bytes;
use fast_image_resize as fr;
use image::DynamicImage;

use super::cost::mib;
use super::decode::{Samples, decode_scaled};
use super::encode::encode_jpeg;
use super::orientation::{exif_orientation, swaps_sides, to_upright};
use crate::imagecheck::ImageScan;
use crate::memory::thread_counters;
use crate::settings::{EmbedMode, PhotoSettings};

/// Colour space of a JPEG as the PDF needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Components {
    Gray,
    Rgb,
    Cmyk,
}

impl Components {
    pub fn pdf_color_space(self) -> &'static str {
        match self {
            Components::Gray => "DeviceGray",
            Components::Rgb => "DeviceRGB",
            Components::Cmyk => "DeviceCMYK",
        }
    }
}

/// A JPEG ready to embed.
pub struct PreparedPhoto {
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
    pub components: Components,
    /// Full-size decoded buffers held alongside (the `original` mode only).
    pub pixels: Option<HeldPixels>,
}

/// What reportlab's image reader keeps of a photo handed over as an
/// in-memory file: `drawImage` calls `getRGBData()` to fingerprint it, which
/// decodes it in full; the reader then holds Pillow's decoded core (RGBX, 4
/// bytes per pixel) and the RGB byte string (3 bytes per pixel) until the
/// document's build ends. Both are real buffers, every byte written.
pub struct HeldPixels {
    /// Pillow's decoded core: RGBX, 4 bytes per pixel.
    pub core: image::RgbaImage,
    /// The RGB string `getRGBData()` returns: 3 bytes per pixel.
    pub rgb: Vec<u8>,
    /// What the two take as the allocator counts them (size classes
    /// included), measured with this thread's jemalloc counters while they
    /// were made; their lengths when jemalloc is not the allocator.
    pub bytes: u64,
}

impl HeldPixels {
    /// Both buffers of a decoded photo (the decoder's own scratch is freed
    /// by the time this returns).
    fn from_decoded(
        decoded: DynamicImage,
        counters_before: Option<crate::memory::ThreadCounters>,
    ) -> HeldPixels {
        let core = decoded.to_rgba8();
        let rgb = decoded.into_rgb8().into_raw();
        let nominal = (core.as_raw().capacity() + rgb.capacity()) as u64;
        let bytes = counters_before
            .zip(thread_counters())
            .map(|(b, a)| (a.allocated - b.allocated).saturating_sub(a.deallocated - b.deallocated))
            .filter(|&measured| measured >= nominal)
            .unwrap_or(nominal);
        HeldPixels { core, rgb, bytes }
    }

    /// Take the RGB string out (what reportlab leaves as garbage once the
    /// photo is drawn: `jobs::retention`); [`HeldPixels::bytes`] then
    /// counts the core alone.
    pub fn take_rgb(&mut self) -> Vec<u8> {
        let rgb = std::mem::take(&mut self.rgb);
        self.bytes = self.bytes.saturating_sub(rgb.capacity() as u64);
        rgb
    }

    /// Buffers of a `width` x `height` photo filled with one grey (tests).
    #[cfg(test)]
    pub(crate) fn filled(width: u32, height: u32) -> HeldPixels {
        let core = image::RgbaImage::from_pixel(width, height, image::Rgba([9, 9, 9, 255]));
        let rgb = vec![9u8; width as usize * height as usize * 3];
        let bytes = (core.as_raw().len() + rgb.len()) as u64;
        HeldPixels { core, rgb, bytes }
    }
}

/// Header of a JPEG, read without decoding it. A JPEG the PDF cannot
/// embed as it is (12-bit, lossless, ...) is refused here, with the reason.
pub fn jpeg_header(bytes: &[u8]) -> anyhow::Result<(u32, u32, Components)> {
    super::pdf::dct::check_embeddable(bytes).map_err(anyhow::Error::msg)?;
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.read_info().context("not a readable JPEG")?;
    let info = dec.info().context("not a readable JPEG")?;
    let components = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => Components::Gray,
        jpeg_decoder::PixelFormat::RGB24 => Components::Rgb,
        jpeg_decoder::PixelFormat::CMYK32 => Components::Cmyk,
    };
    Ok((u32::from(info.width), u32::from(info.height), components))
}

/// [`prepare_with`] without a cap on what decoding may hold (tests that
/// measure the decoders themselves).
pub fn prepare(
    bytes: Bytes,
    settings: &PhotoSettings,
    max_pixels: u64,
) -> anyhow::Result<PreparedPhoto> {
    prepare_with(bytes, settings, max_pixels, u64::MAX)
}

/// Prepare `bytes` for embedding. Decompression bombs are refused from the
/// header before anything is decoded: an image over `max_pixels`, or one
/// whose decode in this embed mode would hold more than `max_decode_bytes`
/// (a progressive JPEG's coefficients, `jobs::cost`).
pub fn prepare_with(
    bytes: Bytes,
    settings: &PhotoSettings,
    max_pixels: u64,
    max_decode_bytes: u64,
) -> anyhow::Result<PreparedPhoto> {
    let (width, height, components) = jpeg_header(&bytes)?;
    if u64::from(width) * u64::from(height) > max_pixels {
        anyhow::bail!(
            "is {width}x{height} pixels, over the {max_pixels}-pixel cap (limits.max_photo_pixels)"
        );
    }
    if let Some(cost) = ImageScan::frame_of(&bytes)
        .and_then(|frame| super::cost::job_decode_bytes_of(&bytes, &frame, settings))
        .filter(|&cost| cost > max_decode_bytes)
    {
        anyhow::bail!(
            "is too costly to decode: {width}x{height} would hold {} while decoding, over the {} cap (limits.max_decode_bytes)",
            mib(cost),
            mib(max_decode_bytes)
        );
    }
    match settings.embed {
        EmbedMode::Original => {
            let before = thread_counters();
            let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                .context("the JPEG does not decode")?;
            Ok(PreparedPhoto {
                jpeg: bytes,
                width,
                height,
                components,
                pixels: Some(HeldPixels::from_decoded(decoded, before)),
            })
        }
        EmbedMode::Passthrough | EmbedMode::CdnTransform => Ok(PreparedPhoto {
            jpeg: bytes,
            width,
            height,
            components,
            pixels: None,
        }),
        EmbedMode::Resize => resize(bytes, width, height, components, settings),
    }
}

/// Run `f` with the calling thread as the only thread of a rayon pool of its
/// own, so that rayon work `f` starts (jpeg-decoder's row and colour
/// conversion tasks) runs here, not on helper threads. The pool is made once
/// per thread; rayon leaks its small registry when the thread ends (rayon's
/// documented cost of `use_current_thread`), a few KB per worker thread. On a
/// thread that is already in another rayon pool, `f` runs in that pool.
pub fn on_this_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread_local! {
        static POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
            .ok();
    }
    POOL.with(|pool| match pool {
        Some(pool) => pool.install(f),
        None => f(),
    })
}

/// Size that fits `w`x`h` within `max` on the longest side.
pub fn fit_within(w: u32, h: u32, max: u32) -> (u32, u32) {
    if w <= max && h <= max {
        return (w, h);
    }
    let scale = f64::from(max) / f64::from(w.max(h));
    (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    )
}

fn resize(
    bytes: Bytes,
    width: u32,
    height: u32,
    components: Components,
    settings: &PhotoSettings,
) -> anyhow::Result<PreparedPhoto> {
    let orientation = {
        let mut dec = jpeg_decoder::Decoder::new(Cursor::new(&bytes[..]));
        dec.read_info().context("not a readable JPEG")?;
        dec.exif_data().map_or(1, exif_orientation)
    };
    // The size on the page is the upright picture's; the decoder works in
    // stored pixels.
    let (uw, uh) = if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    let (tw, th) = fit_within(uw, uh, settings.max_px);
    if (tw, th) == (uw, uh) && orientation == 1 {
        // Small enough and upright already: pass the bytes through (a CMYK
        // one too: the PDF shows it as DeviceCMYK).
        return Ok(PreparedPhoto {
            jpeg: bytes,
            width,
            height,
            components,
            pixels: None,
        });
    }
    let (stored_w, stored_h) = if swaps_sides(orientation) {
        (th, tw)
    } else {
        (tw, th)
    };
    // CMYK and YCCK photos are decoded to RGB like any other, so they are
    // resized, turned upright and re-encoded too.
    let samples = match components {
        Components::Gray => Samples::Gray,
        Components::Rgb => Samples::Rgb,
        Components::Cmyk => Samples::CmykToRgb,
    };
    let scaled = decode_scaled(settings.decoder, &bytes, stored_w, stored_h, samples)?;
    drop(bytes);
    let gray = components == Components::Gray;
    let pixel_type = if gray {
        fr::PixelType::U8
    } else {
        fr::PixelType::U8x3
    };
    let src =
        fr::images::Image::from_vec_u8(scaled.width, scaled.height, scaled.pixels, pixel_type)
            .context("decoded pixels do not match the JPEG's size")?;
    let mut dst = fr::images::Image::new(stored_w, stored_h, pixel_type);
    fr::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)),
        )
        .context("resizing")?;
    drop(src);
    let channels = if gray { 1 } else { 3 };
    let upright = match orientation {
        1 => dst.into_vec(),
        o => to_upright(dst.buffer(), stored_w, stored_h, channels, o).0,
    };
    let out = encode_jpeg(
        settings.encoder,
        &upright,
        tw,
        th,
        gray,
        settings.jpeg_quality,
    )?;
    Ok(PreparedPhoto {
        jpeg: Bytes::from(out),
        width: tw,
        height: th,
        components: if components == Components::Gray {
            Components::Gray
        } else {
            Components::Rgb
        },
        pixels: None,
    })
}

#[cfg(test)]
mod cmyk_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Bytes {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .unwrap();
        Bytes::from(out)
    }

    fn settings(embed: EmbedMode, max_px: u32) -> PhotoSettings {
        PhotoSettings {
            embed,
            max_px,
            ..PhotoSettings::default()
        }
    }

    #[test]
    fn resize_fits_the_longest_side() {
        let p = prepare(jpeg(800, 600), &settings(EmbedMode::Resize, 200), 1 << 30).unwrap();
        assert_eq!((p.width, p.height), (200, 150));
        assert_eq!(jpeg_header(&p.jpeg).unwrap().0, 200);
        assert!(p.pixels.is_none());
    }

    /// A phone-style portrait: the upright picture (`w` x `h`, red on its
    /// top half, blue below) stored turned counter-clockwise, tagged 6.
    fn tagged_portrait(w: u32, h: u32) -> Bytes {
        let upright = image::RgbImage::from_fn(w, h, |_, y| {
            if y < h / 2 {
                image::Rgb([230, 20, 20])
            } else {
                image::Rgb([20, 20, 230])
            }
        });
        let stored = image::imageops::rotate270(&upright);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode(stored.as_raw(), h, w, image::ExtendedColorType::Rgb8)
            .unwrap();
        // An APP1 segment right after SOI: `Exif\0\0` and a little-endian
        // TIFF with one entry, Orientation = 6.
        let mut app1 =
            b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
        let len = u16::try_from(app1.len() + 2).unwrap().to_be_bytes();
        app1.splice(0..0, [0xFF, 0xE1, len[0], len[1]]);
        jpeg.splice(2..2, app1);
        Bytes::from(jpeg)
    }

    #[test]
    fn resize_turns_a_tagged_portrait_upright_and_other_modes_keep_it_stored() {
        let src = tagged_portrait(120, 160);
        assert_eq!(jpeg_header(&src).unwrap().0, 160, "stored landscape");
        let p = prepare(src.clone(), &settings(EmbedMode::Resize, 80), 1 << 30).unwrap();
        assert_eq!((p.width, p.height), (60, 80));
        let out = image::load_from_memory(&p.jpeg).unwrap().to_rgb8();
        assert_eq!(out.dimensions(), (60, 80));
        let top = out.get_pixel(30, 10);
        let bottom = out.get_pixel(30, 70);
        assert!(top[0] > 180 && top[2] < 80, "top is red: {top:?}");
        assert!(
            bottom[2] > 180 && bottom[0] < 80,
            "bottom is blue: {bottom:?}"
        );
        // Small enough already: still re-encoded, because it must turn.
        let p = prepare(src.clone(), &settings(EmbedMode::Resize, 1600), 1 << 30).unwrap();
        assert_eq!((p.width, p.height), (120, 160));
        // passthrough embeds the stored bytes, as reportlab does.
        let p = prepare(src.clone(), &settings(EmbedMode::Passthrough, 80), 1 << 30).unwrap();
        assert_eq!((p.width, p.height, p.jpeg), (160, 120, src));
    }

    #[test]
    fn original_holds_an_rgbx_core_and_an_rgb_copy_and_the_bytes() {
        let src = jpeg(320, 240);
        let p = prepare(src.clone(), &settings(EmbedMode::Original, 100), 1 << 30).unwrap();
        assert_eq!(p.jpeg, src, "the bytes are embedded unchanged");
        let px = p.pixels.unwrap();
        assert_eq!(px.core.dimensions(), (320, 240));
        assert_eq!(px.core.as_raw().len(), 320 * 240 * 4);
        assert_eq!(px.rgb.len(), 320 * 240 * 3);
        assert!(px.bytes >= 320 * 240 * 7, "{} bytes", px.bytes);
        // The copy is the decoded photo, not a zeroed stand-in.
        assert_eq!(&px.rgb[..3], &px.core.as_raw()[..3]);
        assert!(px.rgb.iter().any(|&b| b != 0));
    }

    #[test]
    fn a_photo_over_the_pixel_cap_is_refused_before_decoding() {
        let err = prepare(jpeg(400, 400), &settings(EmbedMode::Original, 100), 100_000)
            .err()
            .unwrap();
        assert!(err.to_string().contains("pixel cap"), "{err}");
    }

    #[test]
    fn a_corrupt_jpeg_is_an_error_not_a_panic() {
        let mut bad = jpeg(64, 64).to_vec();
        bad.truncate(40);
        assert!(
            prepare(
                Bytes::from(bad),
                &settings(EmbedMode::Original, 100),
                1 << 30
            )
            .is_err()
        );
        let png_magic = Bytes::from_static(b"\x89PNG\r\n\x1a\n0000");
        assert!(prepare(png_magic, &settings(EmbedMode::Passthrough, 100), 1 << 30).is_err());
    }

    #[test]
    fn fit_within_keeps_the_aspect_ratio() {
        assert_eq!(fit_within(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit_within(2160, 3840, 1600), (900, 1600));
        assert_eq!(fit_within(100, 50, 1600), (100, 50));
    }
}
