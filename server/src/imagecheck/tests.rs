use super::*;

pub(crate) fn baseline_jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn progressive_jpeg(w: u32, h: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    let mut comp = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    comp.set_size(w as usize, h as usize);
    comp.set_progressive_mode();
    let mut started = comp.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A progressive 4:4:4 JPEG of `w` x `h` that is its headers only: SOI,
/// SOF2, a DHT, SOS, two bytes of scan data and EOI. A few dozen bytes.
pub(crate) fn header_only_progressive(w: u16, h: u16) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend_from_slice(&[0xFF, 0xC2, 0x00, 17, 8]);
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&w.to_be_bytes());
    b.push(3);
    for id in 1..=3u8 {
        b.extend_from_slice(&[id, 0x11, 0]);
    }
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x0C, 3, 1, 0, 2, 0, 3, 0, 0, 0, 0]);
    b.extend_from_slice(&[0x00, 0x00, 0xFF, 0xD9]);
    b
}

fn scan_in_chunks(bytes: &[u8], size: usize) -> Result<Scanned, ScanError> {
    let mut s = ImageScan::new();
    for c in bytes.chunks(size) {
        s.feed(c)?;
    }
    s.finish()
}

#[test]
fn whole_baseline_and_progressive_jpegs_are_whole_in_any_chunking() {
    for jpeg in [baseline_jpeg(97, 61), progressive_jpeg(97, 61)] {
        for size in [1, 2, 3, 7, 64, 4096] {
            let s = scan_in_chunks(&jpeg, size).unwrap();
            assert_eq!(
                (s.kind, s.size, s.cut),
                (ImageKind::Jpeg, Some((97, 61)), None),
                "chunks of {size}"
            );
        }
    }
    let mut s = ImageScan::new();
    s.feed(&progressive_jpeg(16, 16)).unwrap();
    assert!(s.frame().unwrap().is_progressive());
    assert_eq!(s.frame().unwrap().sampling.len(), 3);
}

#[test]
fn a_jpeg_cut_in_half_is_cut_inside_its_image_data() {
    for jpeg in [baseline_jpeg(120, 90), progressive_jpeg(120, 90)] {
        let half = &jpeg[..jpeg.len() / 2];
        let s = ImageScan::whole(half).unwrap();
        assert_eq!(s.cut, Some(Cut::ImageData));
        assert_eq!(s.size, Some((120, 90)));
        assert!(s.cut_reason().unwrap().contains("truncated"));
        // Only the EOI missing is a cut too.
        let s = ImageScan::whole(&jpeg[..jpeg.len() - 2]).unwrap();
        assert_eq!(s.cut, Some(Cut::ImageData));
    }
}

#[test]
fn every_prefix_of_a_jpeg_or_png_is_judged_without_panicking() {
    let jpeg = baseline_jpeg(16, 16);
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    // The image data begins after the whole start-of-scan segment (its
    // length counts the two length bytes); a cut inside it leaves nothing.
    let data = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    for cut in 0..jpeg.len() {
        match ImageScan::whole(&jpeg[..cut]) {
            Ok(s) if cut >= data => assert_eq!(s.cut, Some(Cut::ImageData), "cut at {cut}"),
            Ok(s) if cut > sos => assert_eq!(s.cut, Some(Cut::Headers), "cut at {cut}"),
            Ok(s) => assert!(s.cut.is_some(), "cut at {cut}"),
            Err(_) => assert!(cut < 2, "only too short a start is not an image: {cut}"),
        }
    }
    let p = png(9, 9);
    for cut in 0..p.len() {
        let r = ImageScan::whole(&p[..cut]);
        assert!(r.is_err() || r.unwrap().cut.is_some(), "cut at {cut}");
    }
}

#[test]
fn a_whole_png_is_whole_and_a_cut_one_is_not() {
    let p = png(33, 21);
    for size in [1, 5, 100] {
        let s = scan_in_chunks(&p, size).unwrap();
        assert_eq!(
            (s.kind, s.size, s.cut),
            (ImageKind::Png, Some((33, 21)), None)
        );
    }
    let s = ImageScan::whole(&p[..p.len() - 6]).unwrap();
    assert_eq!(s.cut, Some(Cut::ImageData));
    let s = ImageScan::whole(&p[..20]).unwrap();
    assert_eq!(s.cut, Some(Cut::Headers));
}

#[test]
fn foreign_and_garbled_bytes_are_errors() {
    assert_eq!(
        ImageScan::whole(b"%PDF-1.4 hello"),
        Err(ScanError::NotAnImage)
    );
    assert_eq!(ImageScan::whole(b""), Err(ScanError::NotAnImage));
    assert!(matches!(
        ImageScan::whole(&[0xFF, 0xD8, 0x12, 0x34]),
        Err(ScanError::Malformed(_))
    ));
    // A zero segment length, and a scan before any frame header.
    assert!(ImageScan::whole(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01]).is_err());
    assert!(ImageScan::whole(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0, 0]).is_err());
    // Pseudo-random garbage after a SOI never panics.
    let mut x = 0x2545_F491_u32;
    for _ in 0..200 {
        let mut b = vec![0xFF, 0xD8];
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b.push(x as u8);
        }
        let _ = ImageScan::whole(&b);
    }
}

#[test]
fn a_crafted_header_only_progressive_jpeg_reads_its_frame() {
    let b = header_only_progressive(7680, 7680);
    assert!(b.len() < 100);
    let s = ImageScan::whole(&b).unwrap();
    assert_eq!((s.size, s.cut), (Some((7680, 7680)), None));
    let mut scan = ImageScan::new();
    scan.feed(&b[..30]).unwrap();
    let f = scan.frame().unwrap();
    assert!(f.is_progressive());
    assert_eq!(f.sampling, vec![(1, 1); 3]);
}
