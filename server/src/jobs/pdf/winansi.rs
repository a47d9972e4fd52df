//! Text for the PDF base-14 fonts, which both canvases declare with
//! `/Encoding /WinAnsiEncoding` (PDF 32000-1, Annex D.2; effectively
//! Windows-1252): one byte per character, Latin-1 plus typographic
//! punctuation, the euro sign, Š/š, Ž/ž, Œ/œ and Ÿ.
//!
//! Why not more: the base-14 fonts are never embedded, and the reader's
//! built-in Helvetica has glyphs for WinAnsi only. Other scripts (Arabic,
//! Cyrillic, Greek, CJK) and Latin letters outside it (ł, ő, ş, č) need a
//! TrueType font embedded in the document; until then they are shown as
//! `?`, the substitution printpdf makes too, so both assembly modes print
//! the same text.

/// Shown for a character WinAnsi has no byte for.
pub const REPLACEMENT: char = '?';

/// The WinAnsi byte of `c`, or `None` when the encoding has none.
pub fn byte(c: char) -> Option<u8> {
    // ASCII's printable range and Latin-1's upper half are WinAnsi as is.
    if let cp @ (0x20..=0x7E | 0xA0..=0xFF) = u32::from(c) {
        return u8::try_from(cp).ok();
    }
    // 0x80..=0x9F: where Windows-1252 puts what Latin-1 leaves to control
    // codes. 0x81, 0x8D, 0x8F, 0x90 and 0x9D are unassigned.
    Some(match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '\u{2018}' => 0x91,
        '\u{2019}' => 0x92,
        '\u{201C}' => 0x93,
        '\u{201D}' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    })
}

/// `s` as the characters the fonts can show: control characters (a
/// newline in a comment) become spaces, characters outside WinAnsi become
/// [`REPLACEMENT`].
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else if byte(c).is_some() {
                c
            } else {
                REPLACEMENT
            }
        })
        .collect()
}

/// `s` as WinAnsi bytes (after [`printable`]'s substitutions).
pub fn encode(s: &str) -> Vec<u8> {
    printable(s)
        .chars()
        .map(|c| byte(c).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_1_and_windows_1252_characters_have_their_byte() {
        assert_eq!(encode("Café"), b"Caf\xE9");
        assert_eq!(
            encode("Müller Straße España"),
            b"M\xFCller Stra\xDFe Espa\xF1a"
        );
        assert_eq!(
            encode("€ – — “x” ‘y’ … Œ š Ÿ"),
            b"\x80 \x96 \x97 \x93x\x94 \x91y\x92 \x85 \x8C \x9A \x9F"
        );
        assert_eq!(encode("\u{A0}¿ÿ"), b"\xA0\xBF\xFF");
    }

    #[test]
    fn other_scripts_become_question_marks_and_controls_spaces() {
        assert_eq!(printable("محمد"), "????");
        assert_eq!(printable("Łódź"), "?ód?");
        assert_eq!(printable("a\nb\tc"), "a b c");
        assert_eq!(printable("😀"), "?", "one mark per character, not per byte");
        // C1 controls are not the Windows-1252 punctuation at those bytes.
        assert_eq!(encode("\u{80}\u{9F}"), b"  ");
    }
}
