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
const FILES: [(&str, &[u8]); 3] = [
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

/// The first font that has `c`, if any.
pub fn first_covering(c: char) -> Option<usize> {
    faces().iter().position(|f| f.covers(c))
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
        // Hangul is not bundled (a Korean font would double the fonts'
        // size): it prints as `?`.
        assert_eq!(first_covering('한'), None);
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
