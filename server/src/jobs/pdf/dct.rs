//! Which JPEGs a PDF can carry as they are. Both canvases embed a photo's
//! bytes unchanged as a `DCTDecode` image with `/BitsPerComponent 8`; PDF's
//! DCT filter decodes 8-bit sequential and progressive Huffman JPEGs only
//! (PDF 32000-1, 7.4.8). A 12-bit JPEG, a lossless, hierarchical or
//! arithmetic-coded one would make an invalid document that readers show
//! blank or refuse, so such a photo is refused from its frame header, before
//! anything is decoded, with the reason: the job shows "image not available"
//! and names why in its warnings.

/// The frame header (SOFn) of a JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The SOF marker's second byte: 0xC0 baseline .. 0xCF.
    pub marker: u8,
    /// Bits per sample: 8 or 12 for DCT JPEGs, 2..=16 for lossless ones.
    pub precision: u8,
    pub width: u16,
    pub height: u16,
    pub components: u8,
}

impl Frame {
    /// The coding process, as the JPEG standard names it.
    pub fn process(&self) -> &'static str {
        match self.marker {
            0xC0 => "baseline",
            0xC1 => "extended sequential",
            0xC2 => "progressive",
            0xC3 => "lossless",
            0xC5..=0xC7 | 0xCD..=0xCF => "hierarchical",
            _ => "arithmetic-coded",
        }
    }
}

/// Read the frame header, skipping the segments before it. Reads only
/// headers; never panics on truncated or hostile input.
pub fn read_frame(jpeg: &[u8]) -> Result<Frame, String> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err("is not a JPEG (no start-of-image marker)".into());
    }
    let mut i = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if jpeg.get(i) != Some(&0xFF) {
            return Err(format!("is not a readable JPEG (no marker at byte {i})"));
        }
        while jpeg.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = jpeg.get(i) else {
            return Err("is a JPEG cut short inside its headers".into());
        };
        i += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => {
                return Err("is a JPEG without a frame header before its image data".into());
            }
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (jpeg.get(i), jpeg.get(i + 1)) else {
            return Err("is a JPEG cut short inside its headers".into());
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Err(format!("is not a readable JPEG (segment length {len})"));
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let seg = jpeg
                .get(i + 2..i + len)
                .filter(|s| s.len() >= 6)
                .ok_or("is a JPEG cut short inside its frame header")?;
            return Ok(Frame {
                marker,
                precision: seg[0],
                height: u16::from_be_bytes([seg[1], seg[2]]),
                width: u16::from_be_bytes([seg[3], seg[4]]),
                components: seg[5],
            });
        }
        i += len;
    }
}

/// `Ok` when the JPEG can be embedded unchanged as an 8-bit `DCTDecode`
/// image; otherwise why not, as a phrase that follows "photo N".
pub fn check_embeddable(jpeg: &[u8]) -> Result<Frame, String> {
    let f = read_frame(jpeg)?;
    let sof = format!("SOF{}", f.marker - 0xC0);
    let dct = matches!(f.marker, 0xC0..=0xC2);
    if dct && f.precision != 8 {
        return Err(format!(
            "is a {}-bit JPEG ({sof}, {}); a PDF embeds 8-bit JPEGs only",
            f.precision,
            f.process()
        ));
    }
    if !dct {
        return Err(format!(
            "is a {} JPEG ({sof}, {}-bit), which a PDF cannot embed (baseline or progressive 8-bit only)",
            f.process(),
            f.precision
        ));
    }
    if !matches!(f.components, 1 | 3 | 4) {
        return Err(format!(
            "is a JPEG of {} colour components; a PDF embeds grey, RGB or CMYK",
            f.components
        ));
    }
    Ok(f)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A JPEG's headers up to its frame: SOI, an APP0 segment, then SOF
    /// `marker` with `precision` bits, 64x48, 3 components, then SOS. Not
    /// decodable, as a header check needs no more.
    pub(crate) fn jpeg_header_bytes(marker: u8, precision: u8) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0x00]);
        b.extend_from_slice(&[0xFF, 0xFF, marker, 0x00, 17, precision, 0, 48, 0, 64, 3]);
        for id in 1..=3u8 {
            b.extend_from_slice(&[id, 0x11, 0]);
        }
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
        b
    }

    #[test]
    fn an_8_bit_baseline_or_progressive_jpeg_is_embeddable() {
        for marker in [0xC0, 0xC1, 0xC2] {
            let f = check_embeddable(&jpeg_header_bytes(marker, 8)).unwrap();
            assert_eq!((f.width, f.height, f.components), (64, 48, 3));
        }
    }

    #[test]
    fn a_12_bit_jpeg_is_refused_naming_its_precision() {
        let err = check_embeddable(&jpeg_header_bytes(0xC1, 12)).unwrap_err();
        assert!(err.contains("12-bit") && err.contains("SOF1"), "{err}");
        let err = check_embeddable(&jpeg_header_bytes(0xC2, 12)).unwrap_err();
        assert!(
            err.contains("12-bit") && err.contains("progressive"),
            "{err}"
        );
    }

    #[test]
    fn lossless_hierarchical_and_arithmetic_jpegs_are_refused() {
        for (marker, word) in [
            (0xC3, "lossless"),
            (0xC5, "hierarchical"),
            (0xC9, "arithmetic"),
        ] {
            let err = check_embeddable(&jpeg_header_bytes(marker, 8)).unwrap_err();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors_not_panics() {
        let full = jpeg_header_bytes(0xC0, 8);
        for cut in 0..full.len() {
            // Every prefix ends before or inside the frame header, except
            // those that already hold the whole of it.
            let _ = read_frame(&full[..cut]);
        }
        assert!(read_frame(&full[..20]).is_err());
        assert!(read_frame(b"\x89PNG\r\n\x1a\n").is_err());
        assert!(read_frame(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x01]).is_err());
        assert!(read_frame(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08]).is_err());
        assert!(read_frame(&[0xFF, 0xD8, 0xFF]).is_err());
    }
}
