//! The `resize` mode with every `photos.decoder` (each with the encoder it
//! ships with: jpeg-decoder with `image`'s, libjpeg-turbo and reduced with
//! libjpeg-turbo's, as `lean` has it) on small generated photos
//! of the kinds real sets hold: progressive 4:2:0 and 4:2:2, a phone
//! portrait tagged EXIF 6, grayscale, CMYK. Upright output is checked by
//! pixel position: the upright picture is red on its top half and blue
//! below, and green in its left third.

use bytes::Bytes;
use mock_cloudinary::encoding::{Chroma, Colour, Encoding, encode_jpeg, rotate_ccw};
use mock_cloudinary::transform::Rgb;
use report_server::jobs::photos::{Components, jpeg_header, prepare};
use report_server::settings::{EmbedMode, JpegDecoder, PhotoEncoder, PhotoSettings};

const DECODERS: [JpegDecoder; 3] = [
    JpegDecoder::JpegDecoder,
    JpegDecoder::LibjpegTurbo,
    JpegDecoder::Reduced,
];

/// The upright picture, `w` x `h`: green left third, else red above the
/// middle and blue below.
fn upright(w: u32, h: u32) -> Rgb {
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.extend(if x < w / 3 {
                [20, 220, 20]
            } else if y < h / 2 {
                [230, 20, 20]
            } else {
                [20, 20, 230]
            });
        }
    }
    Rgb {
        width: w,
        height: h,
        pixels,
    }
}

fn settings(decoder: JpegDecoder, max_px: u32) -> PhotoSettings {
    PhotoSettings {
        embed: EmbedMode::Resize,
        max_px,
        jpeg_quality: 90,
        decoder,
        encoder: match decoder {
            JpegDecoder::JpegDecoder => PhotoEncoder::Image,
            JpegDecoder::LibjpegTurbo | JpegDecoder::Reduced => PhotoEncoder::LibjpegTurbo,
        },
        ..PhotoSettings::default()
    }
}

/// Decode the prepared JPEG and check the picture is upright at
/// `w` x `h`: green left, red top right, blue bottom right.
fn assert_upright(jpeg: &[u8], w: u32, h: u32, what: &str) {
    let out = image::load_from_memory(jpeg).unwrap().to_rgb8();
    assert_eq!(out.dimensions(), (w, h), "{what}");
    let at = |x: f64, y: f64| *out.get_pixel((x * f64::from(w)) as u32, (y * f64::from(h)) as u32);
    let left = at(0.1, 0.5);
    let top = at(0.8, 0.2);
    let bottom = at(0.8, 0.8);
    assert!(
        left[1] > 180 && left[0] < 90,
        "{what}: left is green: {left:?}"
    );
    assert!(top[0] > 180 && top[2] < 90, "{what}: top is red: {top:?}");
    assert!(
        bottom[2] > 180 && bottom[0] < 90,
        "{what}: bottom is blue: {bottom:?}"
    );
}

#[test]
fn progressive_photos_come_out_resized_with_both_decoders() {
    for chroma in [Chroma::S420, Chroma::S422, Chroma::S444] {
        let encoding = Encoding {
            progressive: true,
            chroma: Some(chroma),
            ..Encoding::default()
        };
        let jpeg = Bytes::from(encode_jpeg(&upright(480, 320), 90, &encoding).unwrap());
        for decoder in DECODERS {
            let p = prepare(jpeg.clone(), &settings(decoder, 120), 1 << 30).unwrap();
            assert_eq!(
                (p.width, p.height, p.components),
                (120, 80, Components::Rgb)
            );
            assert_upright(
                &p.jpeg,
                120,
                80,
                &format!("{chroma:?} progressive, {decoder:?}"),
            );
        }
    }
}

#[test]
fn a_progressive_phone_portrait_tagged_6_comes_out_upright_with_both_decoders() {
    let encoding = Encoding {
        progressive: true,
        chroma: Some(Chroma::S422),
        orientation: Some(6),
        ..Encoding::default()
    };
    // Stored 400x300 (landscape), upright 300x400.
    let jpeg = Bytes::from(encode_jpeg(&rotate_ccw(&upright(300, 400)), 90, &encoding).unwrap());
    assert_eq!(jpeg_header(&jpeg).unwrap().0, 400, "stored landscape");
    for decoder in DECODERS {
        let p = prepare(jpeg.clone(), &settings(decoder, 100), 1 << 30).unwrap();
        assert_eq!((p.width, p.height), (75, 100), "{decoder:?}");
        assert_upright(&p.jpeg, 75, 100, &format!("portrait, {decoder:?}"));
        // Small enough already, but it must turn: re-encoded upright.
        let p = prepare(jpeg.clone(), &settings(decoder, 1600), 1 << 30).unwrap();
        assert_upright(
            &p.jpeg,
            300,
            400,
            &format!("portrait at full size, {decoder:?}"),
        );
    }
}

#[test]
fn grayscale_stays_gray_and_cmyk_becomes_rgb_with_both_decoders() {
    let gray = Encoding {
        progressive: true,
        colour: Colour::Gray,
        ..Encoding::default()
    };
    let jpeg = Bytes::from(encode_jpeg(&upright(400, 200), 90, &gray).unwrap());
    let cmyk = |progressive| {
        let e = Encoding {
            progressive,
            colour: Colour::Cmyk,
            ..Encoding::default()
        };
        Bytes::from(encode_jpeg(&upright(400, 200), 90, &e).unwrap())
    };
    for decoder in DECODERS {
        let p = prepare(jpeg.clone(), &settings(decoder, 100), 1 << 30).unwrap();
        assert_eq!(
            (p.width, p.height, p.components),
            (100, 50, Components::Gray)
        );
        let out = image::load_from_memory(&p.jpeg).unwrap();
        assert_eq!(out.color(), image::ColorType::L8, "{decoder:?}");
        let out = out.to_luma8();
        // Luma of green (left) is brighter than that of blue (bottom right).
        assert!(
            out.get_pixel(10, 25)[0] > out.get_pixel(80, 40)[0] + 60,
            "{decoder:?}"
        );
        // CMYK (Adobe's inverted samples, as the fake stores them) is
        // decoded to RGB in its colours and resized like any other photo.
        for progressive in [false, true] {
            let p = prepare(cmyk(progressive), &settings(decoder, 100), 1 << 30).unwrap();
            let what = format!("{decoder:?}, CMYK, progressive {progressive}");
            assert_eq!(
                (p.width, p.height, p.components),
                (100, 50, Components::Rgb),
                "{what}"
            );
            let out = image::load_from_memory(&p.jpeg).unwrap();
            assert_eq!(out.color(), image::ColorType::Rgb8, "{what}");
            assert_upright(&p.jpeg, 100, 50, &what);
        }
    }
}

#[test]
fn a_truncated_progressive_photo_is_an_error_or_a_picture_never_a_panic() {
    let encoding = Encoding {
        progressive: true,
        chroma: Some(Chroma::S420),
        ..Encoding::default()
    };
    let mut jpeg = encode_jpeg(&upright(320, 240), 90, &encoding).unwrap();
    jpeg.truncate(jpeg.len() / 2);
    for decoder in DECODERS {
        if let Ok(p) = prepare(Bytes::from(jpeg.clone()), &settings(decoder, 80), 1 << 30) {
            assert_eq!((p.width, p.height), (80, 60), "{decoder:?}");
        }
    }
}
