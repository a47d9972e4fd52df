//! Text in any script the bundled fonts cover (`pdf.font = "unicode"`):
//! Latin, Arabic (joined and right to left) and CJK, shaped per line and
//! shown with embedded subsets of the fonts in `server/fonts/`.
//!
//! # Layout
//! - [`faces`]: the bundled fonts, in fallback order.
//! - [`shape`]: a line as glyph runs in drawing order (bidi, font
//!   fallback, shaping).
//! - [`embed`]: the glyphs a document uses and the font objects written
//!   at its end (subset file, widths, `ToUnicode`).
//!
//! The bundled fonts are regular faces only: bold text is drawn filled and
//! stroked, oblique text slanted by the text matrix (as reportlab and most
//! writers fake a missing face), which keeps one file per script.

pub mod embed;
pub mod faces;
pub mod shape;

use std::fmt::Write as _;

use embed::{PdfObject, UsedGlyphs};
use faces::COUNT;

use super::Font;

/// The shear of oblique text: tan(12 degrees), Helvetica-Oblique's angle.
const OBLIQUE_SHEAR: f32 = 0.2126;
/// The stroke of bold text, as a fraction of the font size.
const BOLD_STROKE: f32 = 0.03;

/// What a document has drawn with the bundled fonts.
#[derive(Default)]
pub struct UnicodeText {
    used: [UsedGlyphs; COUNT],
}

/// The resource name of bundled font `face` (`/U0`, `/U1`, ...).
pub fn resource_name(face: usize) -> String {
    format!("U{face}")
}

impl UnicodeText {
    /// Content-stream operators that show `s` at (x, y), and which fonts
    /// they use (the page's resources must name them, see
    /// [`resource_name`]).
    pub fn show(
        &mut self,
        x: f32,
        y: f32,
        style: Font,
        size: f32,
        s: &str,
    ) -> (String, [bool; COUNT]) {
        let runs = shape::shape_line(s);
        let mut faces_used = [false; COUNT];
        if runs.is_empty() {
            return (String::new(), faces_used);
        }
        let mut ops = String::from("q ");
        let shear = if style == Font::Oblique {
            OBLIQUE_SHEAR
        } else {
            0.0
        };
        if style == Font::Bold {
            let _ = write!(ops, "0 G {:.3} w ", size * BOLD_STROKE);
        }
        let _ = write!(ops, "BT 1 0 {shear} 1 {x:.2} {y:.2} Tm ");
        if style == Font::Bold {
            ops.push_str("2 Tr ");
        }
        let all = faces::faces();
        for run in &runs {
            faces_used[run.face] = true;
            let face = &all[run.face];
            let used = &mut self.used[run.face];
            let _ = write!(ops, "/{} {size} Tf ", resource_name(run.face));
            // TJ shows each glyph at its font width; the numbers between
            // glyphs move the pen back by the difference to the shaped
            // advance (kerning, joining) and apply horizontal offsets
            // (marks). A vertical offset is a text rise (`Ts`).
            let mut rise = 0;
            let mut tj = Vec::new();
            let mut pending = 0.0f32;
            for g in &run.glyphs {
                if g.y_offset != rise {
                    write_tj(&mut ops, &tj);
                    tj.clear();
                    rise = g.y_offset;
                    let _ = write!(
                        ops,
                        "{:.2} Ts ",
                        face.per_mille(rise as f32) * size / 1000.0
                    );
                }
                pending -= face.per_mille(g.x_offset as f32);
                if pending.abs() >= 0.05 {
                    tj.push(Tj::Back(pending));
                }
                let cid = used.cid(face, g.id, &g.text);
                tj.push(Tj::Glyph(cid));
                pending = used.width(cid) - face.per_mille(g.advance as f32)
                    + face.per_mille(g.x_offset as f32);
            }
            write_tj(&mut ops, &tj);
            if rise != 0 {
                ops.push_str("0 Ts ");
            }
        }
        ops.push_str("ET Q\n");
        (ops, faces_used)
    }

    /// Whether bundled font `face` has been drawn.
    pub fn uses(&self, face: usize) -> bool {
        !self.used[face].is_empty()
    }

    /// The objects of bundled font `face`, its `/Type0` font as object
    /// `type0_id`.
    pub fn font_objects(
        &self,
        face: usize,
        type0_id: usize,
        alloc: impl FnMut() -> usize,
    ) -> anyhow::Result<Vec<(usize, PdfObject)>> {
        self.used[face].objects(&faces::faces()[face], type0_id, alloc)
    }
}

/// One element of a `TJ` array.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tj {
    /// A glyph by its CID (two bytes, Identity-H).
    Glyph(u16),
    /// Move the pen back (left) by this many thousandths of an em.
    Back(f32),
}

/// `[<glyphs> back <glyphs> ...] TJ`, consecutive glyphs in one hex string.
fn write_tj(ops: &mut String, tj: &[Tj]) {
    if tj.is_empty() {
        return;
    }
    ops.push('[');
    let mut in_hex = false;
    for piece in tj {
        match *piece {
            Tj::Glyph(cid) => {
                if !in_hex {
                    ops.push('<');
                    in_hex = true;
                }
                let _ = write!(ops, "{cid:04X}");
            }
            Tj::Back(by) => {
                if in_hex {
                    ops.push('>');
                    in_hex = false;
                }
                let _ = write!(ops, " {by:.1} ");
            }
        }
    }
    if in_hex {
        ops.push('>');
    }
    ops.push_str("] TJ ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_one_text_object_with_one_font_per_script() {
        let mut t = UnicodeText::default();
        let (ops, used) = t.show(40.0, 700.0, Font::Regular, 10.0, "Ali علي");
        assert_eq!(used, [true, true, false, false]);
        assert!(
            ops.starts_with("q BT 1 0 0 1 40.00 700.00 Tm /U0 10 Tf ["),
            "{ops}"
        );
        assert!(ops.contains("/U1 10 Tf ["), "{ops}");
        assert!(ops.trim_end().ends_with("ET Q"), "{ops}");
        assert!(t.uses(0) && t.uses(1) && !t.uses(2));
    }

    #[test]
    fn bold_is_stroked_and_oblique_slanted() {
        let mut t = UnicodeText::default();
        let (bold, _) = t.show(0.0, 0.0, Font::Bold, 10.0, "A");
        assert!(bold.contains("0.300 w") && bold.contains("2 Tr"), "{bold}");
        let (oblique, _) = t.show(0.0, 0.0, Font::Oblique, 10.0, "A");
        assert!(oblique.contains("1 0 0.2126 1 0.00 0.00 Tm"), "{oblique}");
        assert!(!oblique.contains("Tr"), "{oblique}");
    }

    #[test]
    fn tj_groups_glyph_codes_between_adjustments() {
        let mut ops = String::new();
        write_tj(
            &mut ops,
            &[
                Tj::Glyph(1),
                Tj::Glyph(2),
                Tj::Back(-12.5),
                Tj::Glyph(0x1F3),
            ],
        );
        assert_eq!(ops, "[<00010002> -12.5 <01F3>] TJ ");
        let mut none = String::new();
        write_tj(&mut none, &[]);
        assert_eq!(none, "");
    }
}
