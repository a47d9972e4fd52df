//! `pdf.font = "unicode"` (issue 26): names in Arabic, CJK, Korean and
//! Latin beyond WinAnsi are drawn with the bundled fonts, embedded as subsets,
//! and read back by a PDF text extractor: poppler's `pdftotext` when it is
//! installed (it reorders right-to-left text as a reader does), lopdf
//! always.

use std::process::Command;

use report_server::jobs::build_pdf;
use report_server::settings::{Assembly, EmbedMode, FetchMode, PdfFont, Settings};
use report_server::submission::Submission;
use serde_json::json;

use crate::helpers::{settings_with, signature_uri};

const ARABIC_SITE: &str = "مؤسسة النور للمقاولات";
const ARABIC_INSPECTOR: &str = "محمد عبد الله";
const CJK_CLIENT: &str = "東京建設株式会社";
const JAPANESE_ASSET: &str = "大阪の冷却塔ユニット";
const LATIN: &str = "Zoë Łukasz Şahin Dvořák";
/// Hangul syllables, among them 가, which Droid Sans Fallback has too: the
/// whole name must still come from the Hangul font.
const KOREAN_BRAND: &str = "한빛냉동 주식회사 가산";
const KOREAN_NAME: &str = "김민준";

fn submission() -> Submission {
    serde_json::from_value(json!({
        "site": {"name": ARABIC_SITE, "address": "Straße 5, 大阪", "client": CJK_CLIENT,
                 "inspector": ARABIC_INSPECTOR, "date": "2026-12-07"},
        "items": [{
            "asset": JAPANESE_ASSET, "system": "HVAC", "description": LATIN,
            "quantity": 1, "brand": KOREAN_BRAND, "specification": "RTU-5",
            "comments": format!("ok 😀 {KOREAN_NAME}"), "photo_urls": [],
        }],
        "signatures": [{"role": "inspector", "name": ARABIC_INSPECTOR, "image": signature_uri()}],
    }))
    .unwrap()
}

fn settings(font: PdfFont) -> Settings {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
    s.pdf.assembly = Assembly::Incremental;
    s.pdf.font = font;
    s
}

fn build(font: PdfFont) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut notes = report_server::jobs::Notes::default();
    build_pdf(
        &submission(),
        &settings(font),
        |_, _, _| Ok(None),
        &mut notes,
        |_| {},
        &dir.path().join("report.pdf"),
    )
    .expect("the PDF builds")
    .into_bytes()
    .unwrap()
}

/// The PDF's text as `pdftotext` extracts it, or `None` (with the line
/// saying so) when poppler-utils is not installed.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    match Command::new("pdftotext").arg(&path).arg("-").output() {
        Ok(out) => {
            assert!(
                out.status.success(),
                "pdftotext failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).expect("pdftotext writes UTF-8");
            // It marks right-to-left stretches with embedding controls
            // (U+202B ... U+202C): not text.
            Some(
                text.chars()
                    .filter(|c| !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
                    .collect(),
            )
        }
        // Not on PATH, or there but not runnable (a copy hidden by a
        // bind mount of /dev/null, as `.ci/run`'s first pass does).
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            eprintln!(
                "skipped: pdftotext not found or not runnable ({e}; apt-get install poppler-utils)"
            );
            None
        }
        Err(e) => panic!("running pdftotext: {e}"),
    }
}

#[test]
fn arabic_cjk_and_latin_names_read_back_with_pdftotext() {
    let pdf = build(PdfFont::Unicode);
    let Some(text) = pdftotext(&pdf) else {
        return;
    };
    for expected in [
        ARABIC_SITE,
        ARABIC_INSPECTOR,
        CJK_CLIENT,
        JAPANESE_ASSET,
        LATIN,
        "Straße 5, 大阪",
        "Site inspection report",
        KOREAN_BRAND,
        // Emoji are not bundled: `?`, as the builtin fonts show them.
        format!("ok ? {KOREAN_NAME}").as_str(),
    ] {
        assert!(text.contains(expected), "`{expected}` is not in:\n{text}");
    }
    // The builtin fonts show none of them: the test reads what the fonts
    // drew, not the file's metadata.
    let builtin = pdftotext(&build(PdfFont::Builtin)).unwrap();
    assert!(
        !builtin.contains(CJK_CLIENT)
            && !builtin.contains("محمد")
            && !builtin.contains(KOREAN_NAME),
        "{builtin}"
    );
}

#[test]
fn the_fonts_are_embedded_subsets_with_identity_h_and_to_unicode() {
    let pdf = build(PdfFont::Unicode);
    let doc = lopdf::Document::load_mem(&pdf).expect("the PDF parses");
    let mut type0 = 0;
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        if dict.get(b"Subtype").and_then(|s| s.as_name()).ok() != Some(b"Type0") {
            continue;
        }
        type0 += 1;
        assert_eq!(
            dict.get(b"Encoding").unwrap().as_name().unwrap(),
            b"Identity-H"
        );
        assert!(dict.get(b"ToUnicode").unwrap().as_reference().is_ok());
        let base =
            String::from_utf8_lossy(dict.get(b"BaseFont").unwrap().as_name().unwrap()).into_owned();
        assert_eq!(base.find('+'), Some(6), "a subset tag: {base}");
        let descendants = dict.get(b"DescendantFonts").unwrap().as_array().unwrap();
        let cid = doc
            .get_dictionary(descendants[0].as_reference().unwrap())
            .unwrap();
        assert_eq!(
            cid.get(b"Subtype").unwrap().as_name().unwrap(),
            b"CIDFontType2"
        );
        let descriptor = doc
            .get_dictionary(cid.get(b"FontDescriptor").unwrap().as_reference().unwrap())
            .unwrap();
        let file = doc
            .get_object(
                descriptor
                    .get(b"FontFile2")
                    .unwrap()
                    .as_reference()
                    .unwrap(),
            )
            .unwrap()
            .as_stream()
            .unwrap();
        // A subset: a few KB of the fonts' 0.2 to 4 MB.
        assert!(
            file.content.len() < 60_000,
            "{base}: {} bytes",
            file.content.len()
        );
    }
    assert_eq!(type0, 4, "one font per script: Latin, Arabic, CJK, Hangul");
    // No base-14 font is declared.
    assert!(!String::from_utf8_lossy(&pdf).contains("/Helvetica"));
    assert!(pdf.len() < 120_000, "{} bytes", pdf.len());
}

#[test]
fn lopdf_extracts_the_text_through_the_to_unicode_maps() {
    let pdf = build(PdfFont::Unicode);
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("the text extracts");
    for expected in [
        CJK_CLIENT,
        JAPANESE_ASSET,
        LATIN,
        KOREAN_BRAND,
        KOREAN_NAME,
        "Site inspection report",
    ] {
        assert!(text.contains(expected), "`{expected}` is not in:\n{text}");
    }
    // lopdf reads glyphs in drawing order and does not reorder
    // right-to-left text: the Arabic name comes out letter for letter from
    // the left, the last letter first.
    let drawn: String = "محمد".chars().rev().collect();
    assert!(text.contains(&drawn), "`{drawn}` is not in:\n{text}");
}

/// A glyph's outline as path commands in font units, to compare a glyph of
/// the embedded subset with the bundled font's.
#[derive(Default, PartialEq, Debug)]
struct Outline(Vec<(char, [i32; 6])>);

impl rustybuzz::ttf_parser::OutlineBuilder for Outline {
    fn move_to(&mut self, x: f32, y: f32) {
        self.0.push(('M', [x as i32, y as i32, 0, 0, 0, 0]));
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.0.push(('L', [x as i32, y as i32, 0, 0, 0, 0]));
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.0
            .push(('Q', [x1 as i32, y1 as i32, x as i32, y as i32, 0, 0]));
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.0.push(('C', [x1, y1, x2, y2, x, y].map(|v| v as i32)));
    }
    fn close(&mut self) {
        self.0.push(('Z', [0; 6]));
    }
}

fn outline(face: &rustybuzz::ttf_parser::Face, id: rustybuzz::ttf_parser::GlyphId) -> Outline {
    let mut o = Outline::default();
    face.outline_glyph(id, &mut o);
    o
}

/// What the content stream draws, checked without the `ToUnicode` map that
/// the extractors read: the glyphs shown in the Hangul font (CIDs in its
/// `Tj`/`TJ` strings) are, outline for outline, the bundled font's glyphs
/// of the Korean name's syllables, in order.
#[test]
fn the_korean_name_is_drawn_with_the_hangul_fonts_glyphs() {
    use lopdf::Object;
    use rustybuzz::ttf_parser::{Face, GlyphId};

    let pdf = build(PdfFont::Unicode);
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let bundled = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fonts/NanumSquareR.ttf"
    ))
    .unwrap();
    let bundled = Face::parse(&bundled, 0).unwrap();
    let mut drawn: Vec<Outline> = Vec::new();
    let mut subset_file: Option<Vec<u8>> = None;
    for page in doc.get_pages().into_values() {
        let fonts = doc.get_page_fonts(page).unwrap();
        // The page's resource names of the Hangul font (one in practice).
        let hangul: Vec<(&Vec<u8>, &&lopdf::Dictionary)> = fonts
            .iter()
            .filter(|(_, f)| {
                f.get(b"BaseFont")
                    .and_then(Object::as_name)
                    .is_ok_and(|n| n.ends_with(b"+NanumSquareR"))
            })
            .collect();
        if let Some((_, font)) = hangul.first() {
            let cid = doc
                .get_dictionary(
                    font.get(b"DescendantFonts").unwrap().as_array().unwrap()[0]
                        .as_reference()
                        .unwrap(),
                )
                .unwrap();
            let descriptor = doc
                .get_dictionary(cid.get(b"FontDescriptor").unwrap().as_reference().unwrap())
                .unwrap();
            let file = doc
                .get_object(
                    descriptor
                        .get(b"FontFile2")
                        .unwrap()
                        .as_reference()
                        .unwrap(),
                )
                .unwrap()
                .as_stream()
                .unwrap();
            subset_file = Some(file.decompressed_content().unwrap());
        }
        let Some(subset) = &subset_file else { continue };
        let subset = Face::parse(subset, 0).expect("the embedded subset parses");
        let mut in_hangul = false;
        for op in doc.get_and_decode_page_content(page).unwrap().operations {
            match op.operator.as_str() {
                "Tf" => {
                    in_hangul = op.operands[0]
                        .as_name()
                        .is_ok_and(|n| hangul.iter().any(|(h, _)| h.as_slice() == n));
                }
                "Tj" | "TJ" if in_hangul => {
                    let strings: Vec<&[u8]> = match &op.operands[0] {
                        Object::String(b, _) => vec![b],
                        Object::Array(parts) => {
                            parts.iter().filter_map(|p| p.as_str().ok()).collect()
                        }
                        other => panic!("a text operand: {other:?}"),
                    };
                    for codes in strings {
                        for pair in codes.chunks(2) {
                            let cid = u16::from_be_bytes([pair[0], pair[1]]);
                            drawn.push(outline(&subset, GlyphId(cid)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(subset_file.is_some(), "no NanumSquareR font in the PDF");
    // Spaces have no outline (and a line break may take one away).
    drawn.retain(|o| !o.0.is_empty());
    let expected = |text: &str| -> Vec<Outline> {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| outline(&bundled, bundled.glyph_index(c).unwrap()))
            .collect()
    };
    let name = expected(KOREAN_NAME);
    let brand = expected(KOREAN_BRAND);
    assert_eq!(
        drawn.len(),
        name.len() + brand.len(),
        "only the Korean text"
    );
    let at = |want: &[Outline]| drawn.windows(want.len()).position(|w| w == want);
    assert!(at(&name).is_some(), "the name's glyphs, in order");
    assert!(at(&brand).is_some(), "the brand's glyphs, in order");
}
