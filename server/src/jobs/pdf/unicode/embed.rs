//! A bundled font as PDF objects: a `/Type0` font with `/Identity-H`
//! encoding (two-byte codes that are CIDs), its `/CIDFontType2` descendant
//! with the glyphs' widths, a font descriptor, the subset font file
//! (`/FontFile2`, only the glyphs the document draws, Flate-compressed)
//! and a `/ToUnicode` CMap so that the text extracts (PDF 32000-1, 9.7 and
//! 9.10.3).
//!
//! CIDs are the glyphs' ids in the subset: subsetter's remapper numbers
//! glyphs in the order they are first drawn (`.notdef` is 0), so a glyph's
//! CID is known when its page is written, before the subset is made at the
//! end (composite glyphs' parts are numbered after every drawn glyph and
//! keep those numbers). `/CIDToGIDMap /Identity` then says CID = glyph id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use subsetter::GlyphRemapper;

use super::faces::Face;

/// A PDF object's body, for the writer to number and place.
pub enum PdfObject {
    Dict(String),
    Stream { dict: String, data: Vec<u8> },
}

/// The glyphs of one font that a document draws.
#[derive(Default)]
pub struct UsedGlyphs {
    remapper: GlyphRemapper,
    /// Width in thousandths of an em, by CID.
    widths: BTreeMap<u16, u16>,
    /// The text a CID stands for (the first seen when one glyph stands for
    /// several, as a space glyph may for U+0020 and U+00A0).
    text: BTreeMap<u16, String>,
}

impl UsedGlyphs {
    /// The CID of glyph `id` of `face`, recording its width and its text.
    pub fn cid(&mut self, face: &Face, id: u16, text: &str) -> u16 {
        let cid = self.remapper.remap(id);
        self.widths.entry(cid).or_insert_with(|| {
            let adv = face
                .shaper
                .glyph_hor_advance(rustybuzz::ttf_parser::GlyphId(id));
            face.per_mille(f32::from(adv.unwrap_or(0))).round() as u16
        });
        if !text.is_empty() {
            self.text.entry(cid).or_insert_with(|| text.to_string());
        }
        cid
    }

    /// The width the font dictionary gives `cid`, in thousandths of an em.
    pub fn width(&self, cid: u16) -> f32 {
        f32::from(self.widths.get(&cid).copied().unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.widths.is_empty()
    }

    /// The objects of the font: the `/Type0` dictionary as object
    /// `type0_id` (the id the pages name), the others numbered by `alloc`.
    pub fn objects(
        &self,
        face: &Face,
        type0_id: usize,
        mut alloc: impl FnMut() -> usize,
    ) -> anyhow::Result<Vec<(usize, PdfObject)>> {
        let subset = subsetter::subset(face.data, 0, &self.remapper)
            .map_err(|e| anyhow::anyhow!("subsetting {}: {e}", face.name))?;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&subset)?;
        let packed = z.finish()?;
        let base = format!("{}+{}", self.subset_tag(), face.name);
        let (cid_font, descriptor, file, cmap) = (alloc(), alloc(), alloc(), alloc());
        let f = &face.shaper;
        let scale = |v: i16| face.per_mille(f32::from(v)).round();
        let bbox = f.global_bounding_box();
        let cap = f.capital_height().unwrap_or(f.ascender());
        Ok(vec![
            (
                type0_id,
                PdfObject::Dict(format!(
                    "<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /Identity-H /DescendantFonts [{cid_font} 0 R] /ToUnicode {cmap} 0 R >>"
                )),
            ),
            (
                cid_font,
                PdfObject::Dict(format!(
                    "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {descriptor} 0 R /DW 0 /W [{}] /CIDToGIDMap /Identity >>",
                    self.widths_array()
                )),
            ),
            (
                descriptor,
                // Flags 4: symbolic, as the glyphs are reached by CID, not
                // by a standard character set.
                PdfObject::Dict(format!(
                    "<< /Type /FontDescriptor /FontName /{base} /Flags 4 /FontBBox [{} {} {} {}] /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {file} 0 R >>",
                    scale(bbox.x_min),
                    scale(bbox.y_min),
                    scale(bbox.x_max),
                    scale(bbox.y_max),
                    scale(f.ascender()),
                    scale(f.descender()),
                    scale(cap),
                )),
            ),
            (
                file,
                PdfObject::Stream {
                    dict: format!("/Filter /FlateDecode /Length1 {}", subset.len()),
                    data: packed,
                },
            ),
            (
                cmap,
                PdfObject::Stream {
                    dict: String::new(),
                    data: self.to_unicode().into_bytes(),
                },
            ),
        ])
    }

    /// `/W`: runs of consecutive CIDs, `first [w1 w2 ...]`.
    fn widths_array(&self) -> String {
        let mut out = String::new();
        let mut last: Option<u16> = None;
        for (&cid, &w) in &self.widths {
            if last.is_some_and(|l| l + 1 == cid) {
                let _ = write!(out, " {w}");
            } else {
                if last.is_some() {
                    out.push_str("] ");
                }
                let _ = write!(out, "{cid} [{w}");
            }
            last = Some(cid);
        }
        if last.is_some() {
            out.push(']');
        }
        out
    }

    /// Six capital letters naming this subset (PDF 32000-1, 9.6.4), from
    /// the glyphs it holds, so two documents with the same glyphs agree.
    fn subset_tag(&self) -> String {
        let mut h: u32 = 2_166_136_261;
        for g in self.remapper.remapped_gids() {
            for b in g.to_be_bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
            }
        }
        (0..6)
            .map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8))
            .collect()
    }

    /// The `/ToUnicode` CMap: each CID to the UTF-16BE of its text.
    fn to_unicode(&self) -> String {
        let mut out = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
        );
        let entries: Vec<(&u16, &String)> = self.text.iter().collect();
        // At most 100 entries per block (PDF 32000-1, 9.10.3).
        for block in entries.chunks(100) {
            let _ = writeln!(out, "{} beginbfchar", block.len());
            for (cid, text) in block {
                let _ = write!(out, "<{cid:04X}> <");
                for unit in text.encode_utf16() {
                    let _ = write!(out, "{unit:04X}");
                }
                out.push_str(">\n");
            }
            out.push_str("endbfchar\n");
        }
        out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::faces::faces;
    use super::*;

    #[test]
    fn cids_are_numbered_as_first_drawn_and_map_back_to_their_text() {
        let face = &faces()[0];
        let id = |c| face.shaper.glyph_index(c).unwrap().0;
        let mut used = UsedGlyphs::default();
        assert_eq!(used.cid(face, id('b'), "b"), 1);
        assert_eq!(used.cid(face, id('a'), "a"), 2);
        assert_eq!(used.cid(face, id('b'), "b"), 1);
        assert!(used.width(1) > 300.0 && used.width(1) < 800.0);
        assert_eq!(
            used.widths_array(),
            format!("1 [{} {}]", used.width(1), used.width(2))
        );
        let cmap = used.to_unicode();
        assert!(
            cmap.contains("2 beginbfchar\n<0001> <0062>\n<0002> <0061>\n"),
            "{cmap}"
        );
        let tag = used.subset_tag();
        assert!(tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn the_embedded_file_is_a_small_subset() {
        let face = &faces()[2];
        let mut used = UsedGlyphs::default();
        for c in "東京".chars() {
            used.cid(face, face.shaper.glyph_index(c).unwrap().0, &c.to_string());
        }
        let objects = used.objects(face, 10, {
            let mut n = 10;
            move || {
                n += 1;
                n
            }
        });
        let objects = objects.unwrap();
        assert_eq!(objects.len(), 5);
        assert_eq!(objects[0].0, 10);
        let file = objects
            .iter()
            .find_map(|(_, o)| match o {
                PdfObject::Stream { dict, data } if dict.contains("Length1") => Some(data.len()),
                _ => None,
            })
            .unwrap();
        // The whole font is about 4 MB.
        assert!(file < 20_000, "{file} bytes");
    }
}
