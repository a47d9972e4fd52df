//! The bundled fonts (`server/fonts/`, licences and provenance there),
//! compiled into the binary and parsed once per process.
//!
//! Why compiled in: the server runs from wherever it was built or copied
//! to, with no font directory to find. The bytes sit in the binary's
//! read-only data, paged in (and counted in RSS) only where a report's
//! text touches them.

use std::sync::OnceLock;

/// One bundled font.
pub struct Face {
    /// The PostScript name, for `/BaseFont` (after the subset tag).
    pub name: &'static str,
    /// The font file.
    pub data: &'static [u8],
    /// Parsed, for shaping and metrics.
    pub shaper: rustybuzz::Face<'static>,
}

impl Face {
    pub fn units_per_em(&self) -> f32 {
        self.shaper.units_per_em() as f32
    }

    /// Whether the font has a glyph for `c`.
    pub fn covers(&self, c: char) -> bool {
        self.shaper.glyph_index(c).is_some()
    }

    /// `units` of this font in thousandths of an em, as PDF font metrics
    /// and `TJ` adjustments are written.
    pub fn per_mille(&self, units: f32) -> f32 {
        units * 1000.0 / self.units_per_em()
    }
}

/// The files, in fallback order: a character is drawn in the first font
/// that has a glyph for it.
const FILES: [(&str, &[u8]); 4] = [
    (
        "NotoSans-Regular",
        include_bytes!("../../../../fonts/NotoSans-Regular.ttf"),
    ),
    (
        "NotoSansArabic-Regular",
        include_bytes!("../../../../fonts/NotoSansArabic-Regular.ttf"),
    ),
    (
        "DroidSansFallbackFull",
        include_bytes!("../../../../fonts/DroidSansFallbackFull.ttf"),
    ),
    // Last: Droid Sans Fallback has no Hangul, and this one's Latin and
    // hanja must not take over from the fonts above.
    (
        "NanumSquareR",
        include_bytes!("../../../../fonts/NanumSquareR.ttf"),
    ),
];

/// How many bundled fonts there are.
pub const COUNT: usize = FILES.len();

/// The bundled fonts, in fallback order.
pub fn faces() -> &'static [Face; COUNT] {
    static FACES: OnceLock<[Face; COUNT]> = OnceLock::new();
    FACES.get_or_init(|| {
        FILES.map(|(name, data)| Face {
            name,
            data,
            shaper: rustybuzz::Face::from_slice(data, 0)
                .unwrap_or_else(|| panic!("the bundled font {name} does not parse")),
        })
    })
}

/// The Hangul font's place in [`faces`].
const HANGUL: usize = 3;

/// Hangul letters: syllables and jamo (conjoining, compatibility and the
/// extended blocks).
fn is_hangul(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'
        | '\u{3130}'..='\u{318F}'
        | '\u{A960}'..='\u{A97F}'
        | '\u{AC00}'..='\u{D7FF}')
}

/// The font `c` is drawn in: the first that has it, except that a Hangul
/// letter goes to the Hangul font whenever that font has it. Droid Sans
/// Fallback, ahead of it, has the jamo and 3 of the 11,172 syllables (가
/// among them): without this a word would be set in two fonts.
pub fn first_covering(c: char) -> Option<usize> {
    let all = faces();
    if is_hangul(c) && all[HANGUL].covers(c) {
        return Some(HANGUL);
    }
    all.iter().position(|f| f.covers(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_has_its_font() {
        assert_eq!(first_covering('é'), Some(0));
        assert_eq!(first_covering('ж'), Some(0));
        assert_eq!(first_covering('م'), Some(1));
        assert_eq!(first_covering('東'), Some(2));
        assert_eq!(first_covering('あ'), Some(2));
        // Hangul syllables and the compatibility jamo people type alone.
        assert_eq!(first_covering('한'), Some(3));
        assert_eq!(first_covering('힣'), Some(3));
        assert_eq!(first_covering('ㄱ'), Some(3));
        // One of Droid Sans Fallback's three syllables: still Nanum's.
        assert_eq!(first_covering('가'), Some(3));
        // Old conjoining jamo that only Droid Sans Fallback has.
        assert_eq!(first_covering('\u{1100}'), Some(2));
        // Hanja stay with the CJK font, Latin with Noto.
        assert_eq!(first_covering('韓'), Some(2));
        assert_eq!(first_covering('K'), Some(0));
        // Not bundled: emoji print as `?`.
        assert_eq!(first_covering('😀'), None);
        // Every bundled font has TrueType outlines: the writer embeds them
        // as `/CIDFontType2` with `/FontFile2`.
        for f in faces() {
            assert!(
                f.shaper
                    .raw_face()
                    .table(rustybuzz::ttf_parser::Tag::from_bytes(b"glyf"))
                    .is_some(),
                "{}",
                f.name
            );
        }
    }
}
