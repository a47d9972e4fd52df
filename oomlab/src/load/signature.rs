//! A small real PNG signature, as the app's signature pad sends.

use base64::Engine as _;
use image::{GrayImage, ImageFormat, Luma};
use std::io::Cursor;

/// Width and height of the signature pad, in pixels.
const SIZE: (u32, u32) = (400, 150);

/// A 400x150 PNG of a pen scribble, as a `data:image/png;base64,` URI.
///
/// Drawn once per load and shared by every submission: it is a few KB and
/// the server only stores and embeds it.
pub fn signature_data_uri() -> String {
    let (w, h) = SIZE;
    let mut img = GrayImage::from_pixel(w, h, Luma([255]));
    let curve = |x: u32| {
        let t = f64::from(x) / f64::from(w);
        let y = 75.0 + 38.0 * (t * 13.0).sin() * (t * 3.1).cos() + 9.0 * (t * 41.0).sin();
        y.clamp(4.0, f64::from(h) - 5.0) as u32
    };
    let mut prev = curve(20);
    for x in 20..w - 20 {
        let y = curve(x);
        // Join consecutive points with a vertical run so steep strokes stay
        // connected, 3 px thick.
        let (lo, hi) = (prev.min(y), prev.max(y));
        for yy in lo..=hi {
            for dy in 0..3 {
                img.put_pixel(x, (yy + dy).min(h - 1), Luma([20]));
            }
        }
        prev = y;
    }
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("encoding a PNG into memory cannot fail");
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_a_real_png_of_the_pads_size() {
        let uri = signature_data_uri();
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let img = image::load_from_memory_with_format(&png, ImageFormat::Png).unwrap();
        assert_eq!((img.width(), img.height()), SIZE);
        assert!(png.len() < 20_000, "{} bytes", png.len());
    }
}
