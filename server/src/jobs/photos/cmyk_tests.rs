//! CMYK photos in the `resize` mode: decoded to RGB, resized, turned upright
//! by EXIF and re-encoded, with both decoders.

use bytes::Bytes;
use mock_cloudinary::transform::Rgb;

use super::{Components, jpeg_header, prepare};
use crate::settings::{EmbedMode, JpegDecoder, PhotoSettings};

/// The upright picture (`w` x `h`: red on its top half, blue below) as a
/// CMYK JPEG as Adobe applications write it (APP14 marker, values stored
/// inverted: 255 = no ink), stored turned counter-clockwise and tagged 6.
/// Written by libjpeg (the `mozjpeg` crate), which stores the values it is
/// given, as CMYK or as YCCK (`stored_as`, libjpeg converting).
fn cmyk_portrait(w: u32, h: u32, stored_as: mozjpeg::ColorSpace) -> Bytes {
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for _ in 0..w {
            pixels.extend(if y < h / 2 {
                [220, 30, 30]
            } else {
                [30, 30, 220]
            });
        }
    }
    let upright = Rgb {
        width: w,
        height: h,
        pixels,
    };
    let stored = mock_cloudinary::encoding::rotate_ccw(&upright);
    // Naive CMYK, then inverted as Adobe stores it.
    let cmyk: Vec<u8> = stored
        .pixels
        .chunks_exact(3)
        .flat_map(|p| {
            let max = p.iter().copied().max().unwrap().max(1);
            let ink = |c: u8| ((u32::from(max - c) * 255) / u32::from(max)) as u8;
            [255 - ink(p[0]), 255 - ink(p[1]), 255 - ink(p[2]), max]
        })
        .collect();
    let mut comp = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    comp.set_color_space(stored_as);
    comp.set_size(stored.width as usize, stored.height as usize);
    comp.set_quality(90.0);
    let mut started = comp.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&cmyk).unwrap();
    let mut jpeg = started.finish().unwrap();
    assert!(
        jpeg.windows(7).any(|m| m == b"\xFF\xEE\0\x0EAdo"),
        "an Adobe marker"
    );
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(mock_cloudinary::encoding::exif_orientation(6));
    let len = u16::try_from(app1.len() + 2).unwrap().to_be_bytes();
    app1.splice(0..0, [0xFF, 0xE1, len[0], len[1]]);
    jpeg.splice(2..2, app1);
    Bytes::from(jpeg)
}

#[test]
fn a_sideways_cmyk_photo_comes_out_upright_rgb_at_the_page_size() {
    for stored_as in [mozjpeg::ColorSpace::JCS_CMYK, mozjpeg::ColorSpace::JCS_YCCK] {
        sideways_photo_comes_out_upright_rgb(cmyk_portrait(300, 400, stored_as), stored_as);
    }
}

fn sideways_photo_comes_out_upright_rgb(src: Bytes, stored_as: mozjpeg::ColorSpace) {
    let (w, h, components) = jpeg_header(&src).unwrap();
    assert_eq!(
        (w, h, components),
        (400, 300, Components::Cmyk),
        "stored sideways"
    );
    for decoder in [
        JpegDecoder::JpegDecoder,
        JpegDecoder::LibjpegTurbo,
        JpegDecoder::Reduced,
    ] {
        let s = PhotoSettings {
            embed: EmbedMode::Resize,
            max_px: 200,
            decoder,
            ..PhotoSettings::default()
        };
        let p = prepare(src.clone(), &s, 1 << 30).unwrap();
        assert_eq!(
            (p.width, p.height, p.components),
            (150, 200, Components::Rgb),
            "{stored_as:?}, {decoder:?}"
        );
        let out = image::load_from_memory(&p.jpeg).unwrap().to_rgb8();
        assert_eq!(out.dimensions(), (150, 200), "{stored_as:?}, {decoder:?}");
        let top = out.get_pixel(75, 20);
        let bottom = out.get_pixel(75, 180);
        assert!(
            top[0] > 170 && top[2] < 90,
            "{stored_as:?}, {decoder:?}: top is red: {top:?}"
        );
        assert!(
            bottom[2] > 170 && bottom[0] < 90,
            "{stored_as:?}, {decoder:?}: bottom is blue: {bottom:?}"
        );
    }
}
