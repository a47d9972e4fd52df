//! Pixel work: the geometry of a transformation chain, decoding, resizing
//! (fast_image_resize) and encoding. Everything here is CPU-bound and is
//! called from `spawn_blocking`, never from a request's hot path.

use std::io::Cursor;

use fast_image_resize::{PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use image::{ExtendedColorType, ImageDecoder, ImageEncoder, codecs::png::PngEncoder};

use crate::error::DeliveryError;
use crate::grammar::{Crop, Format, Step};

/// Largest output side and area accepted (Cloudinary refuses huge outputs too).
pub const MAX_SIDE: u32 = 12_000;
/// Largest output area in pixels.
pub const MAX_PIXELS: u64 = 50_000_000;

/// An RGB8 image in memory.
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// One resize of a chain: the source crop box (after scaling) and the output size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Resize {
    /// Size the whole image is scaled to before cropping.
    scaled: (u32, u32),
    /// Output size (centre crop of `scaled`).
    out: (u32, u32),
}

/// The size a chain of steps produces from a source of `width` x `height`.
pub fn output_size(width: u32, height: u32, steps: &[Step]) -> Result<(u32, u32), DeliveryError> {
    let mut size = (width, height);
    for step in steps {
        if let Some(r) = plan_step(size, step) {
            size = r.out;
        }
        check_size(size)?;
    }
    Ok(size)
}

fn check_size((w, h): (u32, u32)) -> Result<(), DeliveryError> {
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(DeliveryError::TooLarge(format!("{w}x{h}")));
    }
    Ok(())
}

fn plan_step((cw, ch): (u32, u32), step: &Step) -> Option<Resize> {
    let w = step.width.map(|d| d.resolve(cw));
    let h = step.height.map(|d| d.resolve(ch));
    let keep_aspect = |w: Option<u32>, h: Option<u32>| match (w, h) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, scale_dim(ch, w, cw)),
        (None, Some(h)) => (scale_dim(cw, h, ch), h),
        (None, None) => (cw, ch),
    };
    let out = match (step.crop, w, h) {
        (_, None, None) => return None,
        (Crop::Scale, w, h) => keep_aspect(w, h),
        (Crop::Fit | Crop::Limit, Some(w), Some(h)) => {
            // Scale by the smaller ratio so both sides fit in the box.
            if u64::from(w) * u64::from(ch) <= u64::from(h) * u64::from(cw) {
                (w, scale_dim(ch, w, cw))
            } else {
                (scale_dim(cw, h, ch), h)
            }
        }
        (Crop::Fit | Crop::Limit | Crop::Fill, w, h) if w.is_none() || h.is_none() => {
            keep_aspect(w, h)
        }
        (Crop::Fill, Some(w), Some(h)) => {
            // Cover the box with the larger ratio, then centre-crop to it.
            let scaled = if u64::from(w) * u64::from(ch) >= u64::from(h) * u64::from(cw) {
                (w, scale_dim(ch, w, cw).max(h))
            } else {
                (scale_dim(cw, h, ch).max(w), h)
            };
            return Some(Resize {
                scaled,
                out: (w, h),
            });
        }
        _ => keep_aspect(w, h),
    };
    if step.crop == Crop::Limit && (out.0 > cw || out.1 > ch) {
        return None;
    }
    Some(Resize { scaled: out, out })
}

/// `value * num / den`, rounded, at least 1.
fn scale_dim(value: u32, num: u32, den: u32) -> u32 {
    ((u64::from(value) * u64::from(num) + u64::from(den) / 2) / u64::from(den).max(1)).max(1) as u32
}

/// Decode JPEG or PNG bytes into RGB8, turned upright by the EXIF
/// orientation when `upright` (Cloudinary's default for derived images,
/// `grammar::honours_exif`).
pub fn decode(bytes: &[u8], upright: bool) -> Result<Rgb, image::ImageError> {
    let mut decoder = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = image::DynamicImage::from_decoder(decoder)?;
    if upright {
        image.apply_orientation(orientation);
    }
    let image = image.into_rgb8();
    Ok(Rgb {
        width: image.width(),
        height: image.height(),
        pixels: image.into_raw(),
    })
}

/// Apply every step of a chain to `source`.
pub fn apply(mut source: Rgb, steps: &[Step]) -> Result<Rgb, DeliveryError> {
    for step in steps {
        if let Some(plan) = plan_step((source.width, source.height), step) {
            check_size(plan.out)?;
            source = resize(source, plan)?;
        }
    }
    Ok(source)
}

fn resize(source: Rgb, plan: Resize) -> Result<Rgb, DeliveryError> {
    let failed = |e: &dyn std::fmt::Display| DeliveryError::BadAsset(e.to_string());
    let (width, height) = (source.width, source.height);
    let src = Image::from_vec_u8(width, height, source.pixels, PixelType::U8x3)
        .map_err(|e| failed(&e))?;
    let (out_w, out_h) = plan.out;
    let mut dst = Image::new(out_w, out_h, PixelType::U8x3);
    // The crop box, in source pixels, that maps onto the output.
    let sx = f64::from(width) / f64::from(plan.scaled.0);
    let sy = f64::from(height) / f64::from(plan.scaled.1);
    let crop_w = f64::from(out_w) * sx;
    let crop_h = f64::from(out_h) * sy;
    let left = (f64::from(width) - crop_w) / 2.0;
    let top = (f64::from(height) - crop_h) / 2.0;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(
            fast_image_resize::FilterType::Bilinear,
        ))
        .crop(left, top, crop_w, crop_h);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| failed(&e))?;
    Ok(Rgb {
        width: out_w,
        height: out_h,
        pixels: dst.into_vec(),
    })
}

/// Encode RGB8 as JPEG at `quality` (1..=100) or as PNG.
pub fn encode(image: &Rgb, format: Format, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Cursor::new(Vec::with_capacity(image.pixels.len() / 8));
    match format {
        Format::Jpeg => {
            // jpeg-encoder is about 4x faster than image's own encoder, which
            // matters for the quality search and for cold variants.
            let (w, h) = (to_u16(image.width)?, to_u16(image.height)?);
            jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
                .encode(&image.pixels, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| image::ImageError::IoError(std::io::Error::other(e)))?
        }
        Format::Png => PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(
            &image.pixels,
            image.width,
            image.height,
            ExtendedColorType::Rgb8,
        )?,
    }
    Ok(out.into_inner())
}

fn to_u16(side: u32) -> Result<u16, image::ImageError> {
    u16::try_from(side).map_err(|_| {
        image::ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::DimensionError,
        ))
    })
}

/// Read the width and height from an image header without decoding pixels.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Which format a byte string is, by its magic number.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', ..] => Some(Format::Png),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::parse_step;

    fn size(src: (u32, u32), chain: &[&str]) -> (u32, u32) {
        let steps: Vec<Step> = chain.iter().map(|s| parse_step(s).unwrap()).collect();
        output_size(src.0, src.1, &steps).unwrap()
    }

    #[test]
    fn geometry_follows_cloudinary_crop_modes() {
        let cases: &[(&[&str], (u32, u32))] = &[
            (&["w_800"], (800, 600)),
            (&["h_300"], (400, 300)),
            (&["w_500,h_500"], (500, 500)),
            (&["w_500,h_500,c_scale"], (500, 500)),
            (&["w_500,h_500,c_fit"], (500, 375)),
            (&["w_8000,h_8000,c_fit"], (8000, 6000)),
            (&["w_800,h_800,c_limit"], (800, 600)),
            (&["w_8000,c_limit"], (4000, 3000)),
            (&["w_500,h_500,c_fill"], (500, 500)),
            (&["w_0.5"], (2000, 1500)),
            (&["w_1000", "h_200"], (267, 200)),
            (&["q_50,f_jpg"], (4000, 3000)),
        ];
        for (chain, expected) in cases {
            assert_eq!(size((4000, 3000), chain), *expected, "{chain:?}");
        }
    }

    #[test]
    fn huge_outputs_are_refused() {
        let steps = vec![parse_step("w_20000").unwrap()];
        assert!(output_size(4000, 3000, &steps).is_err());
    }
}
