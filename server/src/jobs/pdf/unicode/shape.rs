//! One line of text as glyphs in the order they are drawn: the Unicode
//! bidirectional algorithm puts right-to-left runs (Arabic) in visual
//! order, each run is split by the font that covers its characters, and
//! each piece is shaped with rustybuzz (HarfBuzz's shaper: Arabic joining
//! forms and ligatures, marks, kerning).

use std::ops::Range;

use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::BidiInfo;

use super::faces::{self, Face};

/// Shown for a character that no bundled font has (an emoji, a script the
/// fonts leave out), as the builtin fonts show one.
pub const REPLACEMENT: char = '?';

/// One shaped glyph. Lengths are in the font's units.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    /// The glyph's id in its font file.
    pub id: u16,
    /// How far the pen moves after it.
    pub advance: i32,
    pub x_offset: i32,
    pub y_offset: i32,
    /// The characters it stands for, for text extraction (`ToUnicode`);
    /// empty for the second and later glyphs of one cluster.
    pub text: String,
}

/// Glyphs of one font, in drawing order (left to right).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Index into [`faces::faces`].
    pub face: usize,
    pub glyphs: Vec<Glyph>,
}

/// `line` (no control characters) as runs in drawing order.
pub fn shape_line(line: &str) -> Vec<Run> {
    let line: String = line
        .chars()
        .map(|c| {
            if faces::first_covering(c).is_some() {
                c
            } else {
                REPLACEMENT
            }
        })
        .collect();
    if line.is_empty() {
        return Vec::new();
    }
    let bidi = BidiInfo::new(&line, None);
    let mut runs = Vec::new();
    for para in &bidi.paragraphs {
        let (levels, visual) = bidi.visual_runs(para, para.range.clone());
        for range in visual {
            let rtl = levels[range.start].is_rtl();
            let mut pieces = font_pieces(&line, range);
            if rtl {
                pieces.reverse();
            }
            for (face, piece) in pieces {
                runs.push(Run {
                    face,
                    glyphs: shape(&faces::faces()[face], &line[piece], rtl),
                });
            }
        }
    }
    runs
}

/// `range` of `line` split where the font changes, in logical order. A
/// letter is drawn in the first font that has it; any other character
/// (spaces, digits, punctuation, marks) stays in the current piece's font
/// when that font has it, so a name and its spaces are shaped together.
fn font_pieces(line: &str, range: Range<usize>) -> Vec<(usize, Range<usize>)> {
    let all = faces::faces();
    let mut pieces: Vec<(usize, Range<usize>)> = Vec::new();
    for (i, c) in line[range.clone()].char_indices() {
        let at = range.start + i;
        let end = at + c.len_utf8();
        match pieces.last_mut() {
            Some((face, r))
                if all[*face].covers(c)
                    && (!c.is_alphabetic() || faces::first_covering(c) == Some(*face)) =>
            {
                r.end = end
            }
            _ => {
                let face = faces::first_covering(c).unwrap_or(0);
                pieces.push((face, at..end));
            }
        }
    }
    pieces
}

fn shape(face: &Face, text: &str, rtl: bool) -> Vec<Glyph> {
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(if rtl {
        Direction::RightToLeft
    } else {
        Direction::LeftToRight
    });
    let shaped = rustybuzz::shape(&face.shaper, &[], buffer);
    // A cluster's text runs from its start to the next cluster's start (in
    // logical order, whatever the drawing order).
    let mut starts: Vec<usize> = shaped
        .glyph_infos()
        .iter()
        .map(|g| g.cluster as usize)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    // In a right-to-left run the text is given in drawing order too (a
    // lam-alef ligature stands for alef, lam): extractors read glyphs from
    // the left and reverse a right-to-left stretch as a whole, characters
    // of one glyph included. Given as "lam, alef", pdftotext (poppler
    // 22.12) read the ligature back as "alef, lam".
    let cluster_text = |start: usize| {
        let next = starts
            .iter()
            .find(|s| **s > start)
            .copied()
            .unwrap_or(text.len());
        let t = text.get(start..next).unwrap_or_default();
        if rtl {
            t.chars().rev().collect()
        } else {
            t.to_string()
        }
    };
    let mut named = Vec::new();
    shaped
        .glyph_infos()
        .iter()
        .zip(shaped.glyph_positions())
        .map(|(info, pos)| {
            let cluster = info.cluster as usize;
            let text = if named.contains(&cluster) {
                String::new()
            } else {
                named.push(cluster);
                cluster_text(cluster)
            };
            Glyph {
                id: u16::try_from(info.glyph_id).unwrap_or(0),
                advance: pos.x_advance,
                x_offset: pos.x_offset,
                y_offset: pos.y_offset,
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(runs: &[Run]) -> Vec<(usize, String)> {
        runs.iter()
            .map(|r| (r.face, r.glyphs.iter().map(|g| g.text.as_str()).collect()))
            .collect()
    }

    #[test]
    fn latin_is_one_run_of_the_latin_font_in_reading_order() {
        let runs = shape_line("Inspector: Zoë");
        assert_eq!(text(&runs), [(0, "Inspector: Zoë".to_string())]);
        assert!(runs[0].glyphs.iter().all(|g| g.id != 0 && g.advance > 0));
    }

    #[test]
    fn arabic_is_drawn_right_to_left_in_joined_forms() {
        // محمد: meem, hah, meem, dal.
        let runs = shape_line("محمد");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].face, 1);
        let drawn: Vec<&str> = runs[0].glyphs.iter().map(|g| g.text.as_str()).collect();
        // Drawn from the left: the last letter first.
        assert_eq!(drawn.first(), Some(&"د"), "{drawn:?}");
        assert_eq!(drawn.last(), Some(&"م"), "{drawn:?}");
        // The first meem (initial form) and the second (medial) are
        // different glyphs: the letters are joined.
        let meems: Vec<u16> = runs[0]
            .glyphs
            .iter()
            .filter(|g| g.text == "م")
            .map(|g| g.id)
            .collect();
        assert_eq!(meems.len(), 2);
        assert_ne!(meems[0], meems[1], "joining forms were not applied");
    }

    #[test]
    fn a_ligature_stands_for_its_letters_in_drawing_order() {
        // لا: lam then alef, one glyph.
        let runs = shape_line("لا");
        assert_eq!(runs[0].glyphs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].glyphs[0].text, "\u{627}\u{644}");
    }

    #[test]
    fn mixed_lines_keep_latin_left_of_arabic_and_switch_fonts_per_script() {
        let runs = shape_line("Client: شركة 東京 Ltd");
        let faces: Vec<usize> = runs.iter().map(|r| r.face).collect();
        assert_eq!(faces, [0, 1, 0, 2, 0], "{:?}", text(&runs));
        let all: String = runs
            .iter()
            .flat_map(|r| r.glyphs.iter().map(|g| g.text.as_str()))
            .collect();
        assert!(all.starts_with("Client: "), "{all}");
        assert!(all.contains("東京") && all.ends_with(" Ltd"), "{all}");
    }

    #[test]
    fn characters_no_font_has_become_question_marks() {
        let runs = shape_line("ok 😀");
        let all: String = runs
            .iter()
            .flat_map(|r| r.glyphs.iter().map(|g| g.text.as_str()))
            .collect();
        assert_eq!(all, "ok ?");
    }
}
