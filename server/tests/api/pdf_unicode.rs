//! `pdf.font = "unicode"` (issue 26): names in Arabic, CJK and Latin
//! beyond WinAnsi are drawn with the bundled fonts, embedded as subsets,
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

fn submission() -> Submission {
    serde_json::from_value(json!({
        "site": {"name": ARABIC_SITE, "address": "Straße 5, 大阪", "client": CJK_CLIENT,
                 "inspector": ARABIC_INSPECTOR, "date": "2026-12-07"},
        "items": [{
            "asset": JAPANESE_ASSET, "system": "HVAC", "description": LATIN,
            "quantity": 1, "brand": "Acme", "specification": "RTU-5",
            "comments": "ok 😀 한", "photo_urls": [],
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
        || {},
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
        "ok ? ?",
    ] {
        assert!(text.contains(expected), "`{expected}` is not in:\n{text}");
    }
    // The builtin fonts show none of them: the test reads what the fonts
    // drew, not the file's metadata.
    let builtin = pdftotext(&build(PdfFont::Builtin)).unwrap();
    assert!(
        !builtin.contains(CJK_CLIENT) && !builtin.contains("محمد"),
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
    assert_eq!(type0, 3, "one font per script: Latin, Arabic, CJK");
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
    for expected in [CJK_CLIENT, JAPANESE_ASSET, LATIN, "Site inspection report"] {
        assert!(text.contains(expected), "`{expected}` is not in:\n{text}");
    }
    // lopdf reads glyphs in drawing order and does not reorder
    // right-to-left text: the Arabic name comes out letter for letter from
    // the left, the last letter first.
    let drawn: String = "محمد".chars().rev().collect();
    assert!(text.contains(&drawn), "`{drawn}` is not in:\n{text}");
}
