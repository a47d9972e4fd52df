//! Derived images are turned upright by the source's EXIF orientation, as
//! Cloudinary does by default (`a_exif` implied); `a_ignore` keeps the
//! stored pixels; an untransformed delivery is the stored file, EXIF and
//! all. And a CMYK photo keeps its colours through a transformation.

use mock_cloudinary::encoding::{Colour, Encoding, encode_jpeg, rotate_ccw};
use mock_cloudinary::transform::Rgb;

use crate::helpers::{client, image_url};

/// The upright picture, 60 x 80: green left third, else red above the
/// middle and blue below.
fn upright() -> Rgb {
    let (w, h) = (60u32, 80u32);
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

/// The upright picture as a camera stores it for `orientation` (6: turned
/// a quarter counter-clockwise, a viewer turns it back clockwise; 8: the
/// other way; 1: as it is), tagged so.
fn stored_as(orientation: u8, colour: Colour) -> Vec<u8> {
    let up = upright();
    let stored = match orientation {
        6 => rotate_ccw(&up),
        8 => rotate_ccw(&rotate_ccw(&rotate_ccw(&up))),
        _ => up,
    };
    let encoding = Encoding {
        colour,
        orientation: Some(orientation),
        ..Encoding::default()
    };
    encode_jpeg(&stored, 95, &encoding).unwrap()
}

/// Where the picture's parts are in a decoded image: (left third is green,
/// top right is red, bottom right is blue).
fn upright_parts(img: &image::RgbImage) -> (bool, bool, bool) {
    let (w, h) = img.dimensions();
    let at = |x: f64, y: f64| *img.get_pixel((x * f64::from(w)) as u32, (y * f64::from(h)) as u32);
    let (left, top, bottom) = (at(0.1, 0.5), at(0.8, 0.2), at(0.8, 0.8));
    (
        left[1] > 150 && left[0] < 100,
        top[0] > 150 && top[2] < 100,
        bottom[2] > 150 && bottom[0] < 100,
    )
}

async fn get(url: String) -> bytes::Bytes {
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap()
}

#[tokio::test]
async fn derived_images_are_upright_by_exif_unless_a_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = mock_cloudinary::FakeCloudinary::builder().cloud_name("demo");
    for o in [6u8, 8] {
        let path = dir.path().join(format!("o{o}.jpg"));
        std::fs::write(&path, stored_as(o, Colour::Ycbcr)).unwrap();
        builder = builder.photo_file(format!("photos/o{o}"), path);
    }
    let fake = builder.start().await.unwrap();
    for o in [6u8, 8] {
        let file = format!("photos/o{o}.jpg");
        for t in ["w_30", "a_exif,w_30", "w_30,q_80/a_exif"] {
            let img = image::load_from_memory(&get(image_url(&fake, t, &file)).await)
                .unwrap()
                .to_rgb8();
            assert_eq!(img.dimensions(), (30, 40), "orientation {o}, {t}: upright");
            assert_eq!(
                upright_parts(&img),
                (true, true, true),
                "orientation {o}, {t}"
            );
        }
        // a_ignore: the stored (landscape) pixels, 40 wide for w_40.
        let img = image::load_from_memory(&get(image_url(&fake, "a_ignore,w_40", &file)).await)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (40, 30), "orientation {o}: stored");
        assert_eq!(
            upright_parts(&img),
            (false, false, false),
            "orientation {o}: on its side"
        );
        // Untransformed: the file as stored, its EXIF tag with it.
        let original = get(image_url(&fake, "", &file)).await;
        assert_eq!(
            original,
            std::fs::read(dir.path().join(format!("o{o}.jpg"))).unwrap()
        );
    }
}

#[tokio::test]
async fn a_cmyk_photo_keeps_its_colours_through_a_transformation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmyk.jpg");
    // Tagged 6 too: the CMYK path turns it upright like any other.
    std::fs::write(&path, stored_as(6, Colour::Cmyk)).unwrap();
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .cloud_name("demo")
        .photo_file("photos/cmyk", path)
        .start()
        .await
        .unwrap();
    for t in ["w_30", "q_90", "f_jpg,w_30"] {
        let img = image::load_from_memory(&get(image_url(&fake, t, "photos/cmyk.jpg")).await)
            .unwrap()
            .to_rgb8();
        // Before the fix: magenta, cyan and yellow (the samples read as
        // ink amounts, when Adobe's are stored inverted).
        assert_eq!(
            upright_parts(&img),
            (true, true, true),
            "{t}: green left, red top, blue bottom: {:?} {:?} {:?}",
            img.get_pixel(3, 20),
            img.get_pixel(25, 5),
            img.get_pixel(25, 35)
        );
    }
}
