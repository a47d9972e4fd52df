//! What the PDF stage produces, read back with lopdf, in both assembly
//! modes: photos of mixed shapes stay within the page margins (issue 15,
//! point 5), non-ASCII text survives (point 4), a 12-bit JPEG becomes
//! "image not available" with its reason (point 6). The PDF is built by
//! `build_pdf`, the code a job runs, with the photos handed in directly.

use bytes::Bytes;
use report_server::jobs::build_pdf;
use report_server::jobs::pdf::ascii85;
use report_server::settings::{Assembly, EmbedMode, FetchMode, ImageEncoding, Settings};
use report_server::submission::Submission;
use serde_json::json;

use crate::helpers::{settings_with, signature_uri};
use crate::pdf_read::{Placement, image_placements, jpeg_streams, page_sizes, text};

/// The layout's page margin, in points.
const MARGIN: f32 = 40.0;
/// Rounding of coordinates written with two decimals, and A4 as 210 x 297
/// mm (595.28 x 841.89 pt) in printpdf against 595 x 842 in the layout.
const EPS: f32 = 0.6;

fn jpeg(width: u32, height: u32) -> Bytes {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 120])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70)
        .encode(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    Bytes::from(out)
}

/// The headers of a 12-bit extended-sequential JPEG (SOF1, precision 12),
/// 64x48, 3 components: what a header check sees; not decodable.
fn twelve_bit_jpeg() -> Bytes {
    let mut b = vec![0xFF, 0xD8];
    b.extend_from_slice(&[0xFF, 0xC1, 0x00, 17, 12, 0, 48, 0, 64, 3]);
    for id in 1..=3u8 {
        b.extend_from_slice(&[id, 0x11, 0]);
    }
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
    b.extend_from_slice(&[0x12; 64]);
    b.extend_from_slice(&[0xFF, 0xD9]);
    Bytes::from(b)
}

fn submission(site_name: &str, comments: &str, photos_per_item: &[usize]) -> Submission {
    let mut n = 0;
    let items: Vec<_> = photos_per_item
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let urls: Vec<String> = (0..*count)
                .map(|_| {
                    n += 1;
                    format!("http://127.0.0.1:1/oomlab/image/upload/p{n}.jpg")
                })
                .collect();
            json!({
                "asset": format!("Asset {i}"), "system": "HVAC", "description": "Rooftop unit",
                "quantity": 1, "brand": "Acme", "specification": "RTU-5", "comments": comments,
                "photo_urls": urls,
            })
        })
        .collect();
    serde_json::from_value(json!({
        "site": {"name": site_name, "address": "Straße 5", "client": "España Ñandú",
                 "inspector": "Zoë Łukasz", "date": "2026-11-28"},
        "items": items,
        "signatures": [{"role": "inspector", "name": "Zoë", "image": signature_uri()}],
    }))
    .unwrap()
}

fn settings(assembly: Assembly) -> Settings {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.pdf.assembly = assembly;
    s
}

/// Build the PDF of `sub` with `photos[n]` as the n-th photo; returns the
/// file and the job's warnings.
fn build(sub: &Submission, assembly: Assembly, photos: &[Bytes]) -> (Vec<u8>, Vec<String>) {
    build_with(sub, &settings(assembly), photos)
}

fn build_with(sub: &Submission, s: &Settings, photos: &[Bytes]) -> (Vec<u8>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut notes = report_server::jobs::Notes::default();
    let out = build_pdf(
        sub,
        s,
        |n, _url, _notes| Ok(photos.get(n).cloned()),
        &mut notes,
        |_| {},
        &dir.path().join("report.pdf"),
    )
    .expect("the PDF builds");
    (out.into_bytes().unwrap(), notes.warnings)
}

const BOTH: [Assembly; 2] = [Assembly::InMemory, Assembly::Incremental];

fn assert_within_margins(placements: &[Placement], page: (f32, f32), what: &str) {
    for p in placements {
        assert!(
            p.x0 >= MARGIN - EPS
                && p.y0 >= MARGIN - EPS
                && p.x1 <= page.0 - MARGIN + EPS
                && p.y1 <= page.1 - MARGIN + EPS,
            "{what}: an image runs past the margins of page {} ({:.1} x {:.1}): {p:?}",
            p.page,
            page.0,
            page.1
        );
    }
}

#[test]
fn photo_rows_of_mixed_shapes_stay_within_the_margins() {
    // Landscape, portrait, a 1:10 strip taller than a page at the cell's
    // width, a 10:1 panorama; rows start at many heights on the pages.
    let shapes = [
        (120, 90),
        (90, 120),
        (20, 200),
        (200, 20),
        (120, 90),
        (60, 180),
    ];
    let per_item = [7, 5, 9];
    let total: usize = per_item.iter().sum();
    let sizes: Vec<(u32, u32)> = (0..total).map(|i| shapes[i % shapes.len()]).collect();
    let photos: Vec<Bytes> = sizes.iter().map(|(w, h)| jpeg(*w, *h)).collect();
    let sub = submission("Depot 4", "ok", &per_item);
    for assembly in BOTH {
        let what = format!("{assembly:?}");
        let (pdf, warnings) = build(&sub, assembly, &photos);
        assert!(warnings.is_empty(), "{what}: {warnings:?}");
        let pages = page_sizes(&pdf);
        assert!(pages.len() >= 2, "{what}: the grid spans pages");
        let placements = image_placements(&pdf);
        let jpegs: Vec<&Placement> = placements.iter().filter(|p| p.is_jpeg).collect();
        assert_eq!(jpegs.len(), total, "{what}: every photo drawn once");
        assert_eq!(placements.len(), total + 1, "{what}: and the signature");
        assert_within_margins(&placements, pages[0], &what);
        for (i, a) in placements.iter().enumerate() {
            for b in &placements[i + 1..] {
                assert!(!a.overlaps(b), "{what}: {a:?} overlaps {b:?}");
            }
        }
        // Drawn in submission order, each at its own aspect ratio: scaled
        // to fit, never stretched.
        for (p, (w, h)) in jpegs.iter().zip(&sizes) {
            let drawn = p.width() / p.height();
            let real = *w as f32 / *h as f32;
            assert!(
                (drawn - real).abs() / real < 0.02,
                "{what}: {w}x{h} drawn {:.1} x {:.1}",
                p.width(),
                p.height()
            );
        }
        // The strip is as tall as a page allows.
        let strip = jpegs[2];
        assert!(
            strip.height() > pages[0].1 - 2.0 * MARGIN - 2.0,
            "{what}: {strip:?}"
        );
    }
}

#[test]
fn ascii85_image_streams_hold_the_photos_bytes_and_a_quarter_more() {
    // reportlab's default (`useA85`): what the Python profiles model.
    let photos = vec![jpeg(160, 90), jpeg(90, 160), jpeg(64, 48)];
    let sub = submission("Depot 4", "ok", &[3]);
    for assembly in BOTH {
        let mut s = settings(assembly);
        let (binary, _) = build_with(&sub, &s, &photos);
        s.pdf.image_encoding = ImageEncoding::Ascii85;
        let (a85, warnings) = build_with(&sub, &s, &photos);
        assert!(warnings.is_empty(), "{assembly:?}: {warnings:?}");
        let streams = jpeg_streams(&a85);
        assert_eq!(streams.len(), photos.len(), "{assembly:?}");
        let mut decoded: Vec<Vec<u8>> = streams
            .iter()
            .map(|(filters, content)| {
                assert_eq!(filters, &["ASCII85Decode", "DCTDecode"], "{assembly:?}");
                ascii85::decode(content).expect("valid ASCII85")
            })
            .collect();
        let mut expected: Vec<Vec<u8>> = photos.iter().map(|p| p.to_vec()).collect();
        decoded.sort();
        expected.sort();
        assert_eq!(
            decoded, expected,
            "{assembly:?}: the JPEGs' bytes, unchanged"
        );
        // Every photo drawn, as with binary streams; the file grows by the
        // encoding's quarter (give or take the /Filter arrays and lengths).
        let drawn = |pdf: &[u8]| image_placements(pdf).iter().filter(|p| p.is_jpeg).count();
        assert_eq!(drawn(&a85), photos.len(), "{assembly:?}");
        let quarter: usize = photos
            .iter()
            .map(|p| ascii85::encoded_len(p.len()) - p.len())
            .sum();
        let growth = a85.len() as i64 - binary.len() as i64;
        assert!(
            (growth - quarter as i64).abs() < 200,
            "{assembly:?}: grew {growth} bytes, the encoding adds {quarter}"
        );
        assert!(
            jpeg_streams(&binary)
                .iter()
                .all(|(f, _)| f == &["DCTDecode"])
        );
    }
}

#[test]
fn a_row_is_as_tall_as_its_tallest_photo() {
    // A landscape photo first, then a portrait one: the next row starts
    // below the portrait photo, not below the first photo's height.
    let photos = vec![jpeg(160, 90), jpeg(90, 160), jpeg(160, 90), jpeg(160, 90)];
    let sub = submission("Depot 4", "ok", &[4]);
    for assembly in BOTH {
        let (pdf, _) = build(&sub, assembly, &photos);
        let jpegs: Vec<Placement> = image_placements(&pdf)
            .into_iter()
            .filter(|p| p.is_jpeg)
            .collect();
        let (first, portrait, next_row) = (&jpegs[0], &jpegs[1], &jpegs[3]);
        assert!(
            (first.y1 - portrait.y1).abs() < EPS,
            "{assembly:?}: a row is top-aligned"
        );
        assert!(
            next_row.y1 < portrait.y0,
            "{assembly:?}: the next row starts below the tallest photo: {portrait:?} {next_row:?}"
        );
    }
}

#[test]
fn latin_1_text_survives_and_other_scripts_show_as_question_marks() {
    let sub = submission("Café Müller", "€ 5 – “ok”; محمد", &[1]);
    let photos = vec![jpeg(40, 30)];
    for assembly in BOTH {
        let (pdf, _) = build(&sub, assembly, &photos);
        let text = text(&pdf);
        for expected in [
            "Café Müller",
            "Straße 5",
            "España Ñandú",
            "Zoë ?ukasz",
            "€ 5 – “ok”; ????",
        ] {
            assert!(
                text.contains(expected),
                "{assembly:?}: `{expected}` is not in the PDF's text:\n{text}"
            );
        }
    }
}

#[test]
fn a_12_bit_jpeg_is_shown_as_not_available_with_its_reason() {
    let photos = vec![jpeg(40, 30), twelve_bit_jpeg(), jpeg(30, 40)];
    let sub = submission("Depot 4", "ok", &[3]);
    for assembly in BOTH {
        let (pdf, warnings) = build(&sub, assembly, &photos);
        assert_eq!(warnings.len(), 1, "{assembly:?}: {warnings:?}");
        assert!(
            warnings[0].starts_with("photo 2 ")
                && warnings[0].contains("12-bit")
                && warnings[0].contains("image not available"),
            "{assembly:?}: {}",
            warnings[0]
        );
        let jpegs = image_placements(&pdf)
            .into_iter()
            .filter(|p| p.is_jpeg)
            .count();
        assert_eq!(jpegs, 2, "{assembly:?}: the 12-bit photo is not embedded");
        assert!(text(&pdf).contains("image not available"), "{assembly:?}");
        // No image stream in the file claims 12-bit data as 8-bit.
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let dct_streams = doc
            .objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .filter(|s| {
                s.dict
                    .get(b"Filter")
                    .and_then(|f| f.as_name())
                    .is_ok_and(|f| f == b"DCTDecode")
            })
            .count();
        assert_eq!(dct_streams, 2, "{assembly:?}");
    }
}

#[test]
fn a_taller_photo_later_in_a_row_near_the_page_bottom_stays_within_the_margins() {
    // Rows of fillers bring the next row to many heights on the page; that
    // row starts with a landscape photo, which fits the room left, and goes
    // on with a portrait one, which at some of those heights does not: the
    // row must then move to the next page as a whole.
    let row = [jpeg(120, 90), jpeg(90, 160), jpeg(120, 90)];
    let mut moved = 0;
    // At most 15 photos, so rows stay 3 wide.
    for filler_h in [60, 70, 80, 90, 100, 110, 120] {
        let filler = jpeg(100, filler_h);
        for rows_before in 1..=4 {
            let mut photos = vec![filler.clone(); rows_before * 3];
            photos.extend(row.iter().cloned());
            let sub = submission("Depot 4", "ok", &[photos.len()]);
            for assembly in BOTH {
                let (pdf, _) = build(&sub, assembly, &photos);
                let what = format!("{assembly:?}, {rows_before} rows of 100x{filler_h} before");
                let placements = image_placements(&pdf);
                assert_within_margins(&placements, page_sizes(&pdf)[0], &what);
                let jpegs: Vec<&Placement> = placements.iter().filter(|p| p.is_jpeg).collect();
                let (first, portrait) = (jpegs[rows_before * 3], jpegs[rows_before * 3 + 1]);
                assert_eq!(first.page, portrait.page, "{what}: one row, one page");
                if first.page > jpegs[rows_before * 3 - 1].page {
                    moved += 1;
                }
            }
        }
    }
    assert!(
        moved > 0,
        "no case put the row at a page bottom: the test tests nothing"
    );
}
