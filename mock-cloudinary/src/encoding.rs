//! How a catalogue photo is stored as JPEG: baseline or progressive,
//! chroma subsampling, colour model (YCbCr, grayscale, CMYK) and an EXIF
//! orientation tag, as cameras, phones and editors write them.
//!
//! Encoded with `jpeg-encoder` (0.7), which can write all of these:
//! progressive scans (`set_progressive`), any sampling factor
//! (`set_sampling_factor`: 4:2:0, 4:2:2, 4:4:4), `ColorType::Luma` and
//! `ColorType::Cmyk` (with the Adobe APP14 marker), and an EXIF APP1
//! segment (`add_exif_metadata`). The `image` crate's own JPEG encoder
//! (0.25.10, read in its source) writes baseline only (SOF0), with one
//! fixed subsampling and no CMYK (it can add EXIF), so it cannot make these.

use crate::transform::Rgb;

/// Chroma subsampling of a YCbCr JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chroma {
    /// Chroma halved both ways (phones, most cameras).
    S420,
    /// Chroma halved horizontally (some cameras and editors).
    S422,
    /// Full chroma (editors at high quality).
    S444,
}

/// The colour model stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Colour {
    /// YCbCr, three components.
    #[default]
    Ycbcr,
    /// One component.
    Gray,
    /// Four components, Adobe CMYK (print workflows, scans).
    Cmyk,
}

/// How a photo is encoded. The default is the encoder's baseline YCbCr
/// with its own subsampling (4:2:0 below quality 90, 4:4:4 from 90), which
/// is what the catalogue's first kinds (`camera`, `phone`, `small`) have
/// always been, byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Encoding {
    /// Progressive scans instead of one baseline scan.
    pub progressive: bool,
    /// Subsampling; `None`: the encoder's default for the quality.
    pub chroma: Option<Chroma>,
    /// Colour model.
    pub colour: Colour,
    /// EXIF orientation tag (1..=8); `None`: no EXIF segment. With 6 the
    /// stored pixels are the upright picture turned 90 degrees
    /// counter-clockwise, as a phone stores a portrait.
    pub orientation: Option<u8>,
}

impl Encoding {
    /// Whether the stored pixels are the upright picture turned a quarter
    /// (orientations 5 to 8), so the upright picture has the swapped size.
    pub fn swaps_sides(&self) -> bool {
        matches!(self.orientation, Some(5..=8))
    }
}

/// Encode `rgb` (the stored pixels) at `quality` as `encoding` says.
pub fn encode_jpeg(
    rgb: &Rgb,
    quality: u8,
    encoding: &Encoding,
) -> Result<Vec<u8>, image::ImageError> {
    let side = |s: u32| {
        u16::try_from(s).map_err(|_| {
            image::ImageError::Limits(image::error::LimitError::from_kind(
                image::error::LimitErrorKind::DimensionError,
            ))
        })
    };
    let (w, h) = (side(rgb.width)?, side(rgb.height)?);
    let mut out = Vec::with_capacity(rgb.pixels.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    if encoding.progressive {
        encoder.set_progressive(true);
    }
    if let Some(chroma) = encoding.chroma {
        encoder.set_sampling_factor(match chroma {
            Chroma::S420 => jpeg_encoder::SamplingFactor::R_4_2_0,
            Chroma::S422 => jpeg_encoder::SamplingFactor::R_4_2_2,
            Chroma::S444 => jpeg_encoder::SamplingFactor::R_4_4_4,
        });
    }
    let err = |e: jpeg_encoder::EncodingError| image::ImageError::IoError(std::io::Error::other(e));
    if let Some(tag) = encoding.orientation {
        encoder
            .add_exif_metadata(&exif_orientation(tag))
            .map_err(err)?;
    }
    match encoding.colour {
        Colour::Ycbcr => encoder.encode(&rgb.pixels, w, h, jpeg_encoder::ColorType::Rgb),
        Colour::Gray => encoder.encode(&luma(rgb), w, h, jpeg_encoder::ColorType::Luma),
        Colour::Cmyk => encoder.encode(&cmyk(rgb), w, h, jpeg_encoder::ColorType::Cmyk),
    }
    .map_err(err)?;
    Ok(out)
}

/// A TIFF structure (little-endian) with one IFD entry: Orientation
/// (0x0112, SHORT, 1 value). `add_exif_metadata` prepends `Exif\0\0`.
pub fn exif_orientation(tag: u8) -> Vec<u8> {
    let mut t = Vec::with_capacity(26);
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after
    t.extend_from_slice(&1u16.to_le_bytes()); // one entry
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    t.extend_from_slice(&1u32.to_le_bytes()); // one value
    t.extend_from_slice(&u32::from(tag).to_le_bytes()); // value, left-justified
    t.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    t
}

/// Rec. 601 luma, as JPEG's YCbCr uses.
fn luma(rgb: &Rgb) -> Vec<u8> {
    rgb.pixels
        .chunks_exact(3)
        .map(|p| {
            let y = 299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]);
            (y / 1000) as u8
        })
        .collect()
}

/// Naive CMYK ink amounts (K = 1 - max(R, G, B); 255 = full ink).
/// jpeg-encoder stores them inverted, as Adobe applications write CMYK
/// JPEGs (255 = no ink, with the Adobe marker), so that decoders that
/// follow Photoshop's convention show the right colours. (Inverting them
/// here as well, as this did before, stored ink amounts under the Adobe
/// marker: every such decoder showed the catalogue's CMYK photos in
/// inverted colours.)
fn cmyk(rgb: &Rgb) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.pixels.len() / 3 * 4);
    for p in rgb.pixels.chunks_exact(3) {
        let max = p[0].max(p[1]).max(p[2]);
        let k = 255 - max;
        let ink = |c: u8| {
            if max == 0 {
                0
            } else {
                ((u32::from(max - c) * 255) / u32::from(max)) as u8
            }
        };
        out.extend([ink(p[0]), ink(p[1]), ink(p[2]), k]);
    }
    out
}

/// `rgb` turned 90 degrees counter-clockwise: what a phone stores for a
/// portrait it tags with orientation 6 (a viewer turns it back clockwise).
pub fn rotate_ccw(rgb: &Rgb) -> Rgb {
    let (w, h) = (rgb.width as usize, rgb.height as usize);
    let mut pixels = vec![0u8; w * h * 3];
    // Stored (x', y') of size h x w holds upright (x, y) = (w - 1 - y', x').
    for yp in 0..w {
        for xp in 0..h {
            let (x, y) = (w - 1 - yp, xp);
            let src = (y * w + x) * 3;
            let dst = (yp * h + xp) * 3;
            pixels[dst..dst + 3].copy_from_slice(&rgb.pixels[src..src + 3]);
        }
    }
    Rgb {
        width: h as u32,
        height: w as u32,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use crate::catalogue::parse_catalogue_id;
    use crate::store::catalogue_photo;

    /// What the frame header and the APP segments say.
    #[derive(Debug, Default)]
    struct Markers {
        progressive: bool,
        width: u16,
        height: u16,
        /// (h, v) sampling factors per component.
        sampling: Vec<(u8, u8)>,
        exif: bool,
        adobe: bool,
    }

    fn markers(jpeg: &[u8]) -> Markers {
        let mut m = Markers::default();
        let mut i = 2;
        while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
            let marker = jpeg[i + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            let seg = &jpeg[i + 4..i + 2 + len];
            match marker {
                0xC0 | 0xC2 => {
                    m.progressive = marker == 0xC2;
                    m.height = u16::from_be_bytes([seg[1], seg[2]]);
                    m.width = u16::from_be_bytes([seg[3], seg[4]]);
                    m.sampling = (0..usize::from(seg[5]))
                        .map(|k| (seg[7 + 3 * k] >> 4, seg[7 + 3 * k] & 15))
                        .collect();
                }
                0xE1 => m.exif = seg.starts_with(b"Exif\0\0II*\0"),
                0xEE => m.adobe = seg.starts_with(b"Adobe"),
                0xDA => break,
                _ => {}
            }
            i += 2 + len;
        }
        m
    }

    fn photo(id: &str) -> Vec<u8> {
        catalogue_photo(parse_catalogue_id(id).unwrap(), 1)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn progressive_and_subsampling_are_written_as_asked() {
        let m = markers(&photo("oomlab/64x48-4k-progressive-422-1"));
        assert!(m.progressive);
        assert_eq!(m.sampling, [(2, 1), (1, 1), (1, 1)], "4:2:2");
        let m = markers(&photo("oomlab/64x48-4k-progressive-420-1"));
        assert!(m.progressive);
        assert_eq!(m.sampling, [(2, 2), (1, 1), (1, 1)], "4:2:0");
        let m = markers(&photo("oomlab/64x48-4k-444-1"));
        assert!(!m.progressive);
        assert_eq!(m.sampling, [(1, 1), (1, 1), (1, 1)]);
    }

    #[test]
    fn gray_and_cmyk_photos_have_one_and_four_components() {
        let gray = photo("oomlab/64x48-3k-gray-1");
        assert_eq!(markers(&gray).sampling.len(), 1);
        assert!(image::load_from_memory(&gray).is_ok());
        let cmyk = markers(&photo("oomlab/64x48-4k-cmyk-1"));
        assert_eq!(cmyk.sampling.len(), 4);
        assert!(cmyk.adobe, "CMYK needs the Adobe marker");
    }

    /// Mean blue of the pixels where `pick(x, y)`.
    fn mean_blue(img: &image::RgbImage, pick: impl Fn(u32, u32) -> bool) -> f64 {
        let values: Vec<f64> = img
            .enumerate_pixels()
            .filter(|(x, y, _)| pick(*x, *y))
            .map(|(_, _, p)| f64::from(p[2]))
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    }

    #[test]
    fn a_portrait_is_stored_on_its_side_with_orientation_6() {
        let jpeg = photo("oomlab/64x48-5k-exif6-1");
        let m = markers(&jpeg);
        assert!(m.exif);
        assert_eq!((m.width, m.height), (64, 48), "stored landscape");
        // The sky (blue) is on top of the upright picture, so on the left of
        // the stored one: a viewer turns it clockwise.
        let stored = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        let left = mean_blue(&stored, |x, _| x < 10);
        let right = mean_blue(&stored, |x, _| x >= 54);
        assert!(left > right + 40.0, "left {left}, right {right}");
    }

    #[test]
    fn default_encoding_is_the_catalogues_old_bytes() {
        let id = parse_catalogue_id("oomlab/64x48-4k-1").unwrap();
        let rgb = crate::synth::synthesize(64, 48, 3, 8);
        let old = crate::transform::encode(&rgb, crate::grammar::Format::Jpeg, 80).unwrap();
        assert_eq!(
            super::encode_jpeg(&rgb, 80, &id.spec.encoding).unwrap(),
            old
        );
    }
}
