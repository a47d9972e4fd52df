//! The catalogue grammar: which public ids name a synthetic photo, and of
//! what size.
//!
//! | public id | size | target bytes |
//! |---|---|---|
//! | `oomlab/camera-{n}` | 4000x3000 | 3,000,000 |
//! | `oomlab/phone-{n}` | 2160x3840 | 700,000 |
//! | `oomlab/small-{n}` | 1280x960 | 250,000 |
//! | `oomlab/progressive-{n}` | 4000x3000, progressive 4:2:0 | 3,000,000 |
//! | `oomlab/progressive422-{n}` | 4224x3168, progressive 4:2:2 | 3,500,000 |
//! | `oomlab/portrait-{n}` | 4032x3024 stored, EXIF orientation 6 (a phone portrait, upright 3024x4032), baseline 4:2:0 | 2,500,000 |
//! | `oomlab/gray-{n}` | 3000x2000 grayscale, baseline | 1,000,000 |
//! | `oomlab/cmyk-{n}` | 3000x2000 Adobe CMYK, baseline | 2,000,000 |
//! | `oomlab/mixed-{n}` | one of the above by `{n}`, see [`MIXED`] | |
//! | `oomlab/{w}x{h}-{kb}k[-{flag}]*-{n}` | w x h | kb x 1000 |
//!
//! Flags of a custom size (any order): `progressive`, `420`, `422`, `444`,
//! `gray`, `cmyk`, `exif6` (or `exif1`..`exif8`), e.g.
//! `oomlab/64x48-4k-progressive-422-1`. `camera`, `phone`, `small` and a
//! custom size without flags are the encoder's baseline YCbCr (4:2:0 below
//! quality 90).
//!
//! All ids of one size and encoding share one generated scene and JPEG
//! quality; `{n}` (any decimal number) draws the photo's grain, so each
//! number's pixels differ while size, subsampling and compressed size (so
//! decode cost) stay the same (see [`crate::store::catalogue_photo`]).

use crate::encoding::{Chroma, Colour, Encoding};

/// Largest side of a custom catalogue size.
pub const MAX_SIDE: u32 = 8_000;
/// Largest target size of a custom catalogue entry, in KB.
pub const MAX_KB: u64 = 30_000;

/// What a catalogue id asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PhotoSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Target JPEG size in bytes.
    pub target_bytes: u64,
    /// How it is stored.
    pub encoding: Encoding,
}

/// The photos `mixed-{n}` draws from: number `n` is entry `n % 20` of this
/// table, so any 20 consecutive numbers hold exactly these shares:
///
/// | share | kind | why |
/// |---|---|---|
/// | 4/20 | `portrait` (phone, EXIF 6) | site photos come from phones; half of them portraits |
/// | 4/20 | phone landscape 4032x3024, baseline 4:2:0, 2.5 MB | as above |
/// | 3/20 | `progressive` (4:2:0) | progressive: 5/20 = 25%, the share in the survey below (11 of 45, 24%) |
/// | 2/20 | `progressive422` | |
/// | 3/20 | camera 4000x3000 baseline 4:2:2, 3 MB | 4:2:2: 5/20 = 25% with the progressive ones (survey: 11 of 45, 24%) |
/// | 2/20 | edited export 1920x1280 baseline 4:4:4, 0.8 MB | 4:4:4: 10% (survey: 17 of 45, 38%; wallpapers are exported at high quality more often than site photos) |
/// | 1/20 | `gray` | survey: 1 of 45 |
/// | 1/20 | `cmyk` | none in the survey; one so the path is exercised |
///
/// The survey: the 45 JPEGs of at least 1 megapixel in Debian 12's
/// `gnome-backgrounds`, `mate-backgrounds`, `plasma-workspace-wallpapers`
/// and `ukui-wallpapers` packages (markers read with a 40-line script,
/// the photos are not in this repository). The phone share is
/// a modelling choice for a site-inspection app, not a measurement.
pub const MIXED: [&str; 20] = [
    "portrait",
    "progressive",
    "4032x3024-2500k-420",
    "4000x3000-3000k-422",
    "progressive422",
    "portrait",
    "1920x1280-800k-444",
    "4032x3024-2500k-420",
    "progressive",
    "gray",
    "portrait",
    "4000x3000-3000k-422",
    "4032x3024-2500k-420",
    "progressive422",
    "cmyk",
    "portrait",
    "progressive",
    "1920x1280-800k-444",
    "4032x3024-2500k-420",
    "4000x3000-3000k-422",
];

/// A catalogue id: the shared spec plus the per-URL number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueId {
    /// Size and target bytes.
    pub spec: PhotoSpec,
    /// The `{n}` suffix.
    pub n: u64,
}

/// Parse a public id against the catalogue grammar.
pub fn parse_catalogue_id(public_id: &str) -> Option<CatalogueId> {
    let name = public_id.strip_prefix("oomlab/")?;
    let (kind, n) = name.rsplit_once('-')?;
    let n: u64 = n.parse().ok()?;
    let kind = match kind {
        "mixed" => MIXED[(n % MIXED.len() as u64) as usize],
        other => other,
    };
    Some(CatalogueId {
        spec: parse_kind(kind)?,
        n,
    })
}

/// The spec of a kind (without its `-{n}`): a named kind or a custom size
/// with flags. `mixed` is not a kind of its own (it picks one by number).
pub fn parse_kind(kind: &str) -> Option<PhotoSpec> {
    let named = |width, height, target_bytes, encoding| {
        Some(PhotoSpec {
            width,
            height,
            target_bytes,
            encoding,
        })
    };
    let enc = |progressive, chroma, colour, orientation| Encoding {
        progressive,
        chroma,
        colour,
        orientation,
    };
    match kind {
        "camera" => named(4000, 3000, 3_000_000, Encoding::default()),
        "phone" => named(2160, 3840, 700_000, Encoding::default()),
        "small" => named(1280, 960, 250_000, Encoding::default()),
        "progressive" => named(
            4000,
            3000,
            3_000_000,
            enc(true, Some(Chroma::S420), Colour::Ycbcr, None),
        ),
        "progressive422" => named(
            4224,
            3168,
            3_500_000,
            enc(true, Some(Chroma::S422), Colour::Ycbcr, None),
        ),
        "portrait" => named(
            4032,
            3024,
            2_500_000,
            enc(false, Some(Chroma::S420), Colour::Ycbcr, Some(6)),
        ),
        "gray" => named(3000, 2000, 1_000_000, enc(false, None, Colour::Gray, None)),
        "cmyk" => named(3000, 2000, 2_000_000, enc(false, None, Colour::Cmyk, None)),
        custom => parse_custom(custom),
    }
}

/// `{w}x{h}-{kb}k[-{flag}]*`
fn parse_custom(kind: &str) -> Option<PhotoSpec> {
    let mut parts = kind.split('-');
    let (w, h) = parts.next()?.split_once('x')?;
    let width: u32 = w.parse().ok()?;
    let height: u32 = h.parse().ok()?;
    let kb: u64 = parts.next()?.strip_suffix('k')?.parse().ok()?;
    let mut encoding = Encoding::default();
    for flag in parts {
        match flag {
            "progressive" => encoding.progressive = true,
            "420" => encoding.chroma = Some(Chroma::S420),
            "422" => encoding.chroma = Some(Chroma::S422),
            "444" => encoding.chroma = Some(Chroma::S444),
            "gray" => encoding.colour = Colour::Gray,
            "cmyk" => encoding.colour = Colour::Cmyk,
            exif => {
                let tag: u8 = exif.strip_prefix("exif")?.parse().ok()?;
                encoding.orientation = Some(tag).filter(|t| (1..=8).contains(t));
                encoding.orientation?;
            }
        }
    }
    let sides_ok = (8..=MAX_SIDE).contains(&width) && (8..=MAX_SIDE).contains(&height);
    (sides_ok && (1..=MAX_KB).contains(&kb)).then_some(PhotoSpec {
        width,
        height,
        target_bytes: kb * 1000,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_kinds_and_custom_sizes_parse() {
        let camera = parse_catalogue_id("oomlab/camera-12").unwrap();
        assert_eq!(
            (camera.spec.width, camera.spec.height, camera.n),
            (4000, 3000, 12)
        );
        let custom = parse_catalogue_id("oomlab/640x480-60k-3").unwrap();
        assert_eq!(
            custom.spec,
            PhotoSpec {
                width: 640,
                height: 480,
                target_bytes: 60_000,
                encoding: Encoding::default(),
            }
        );
        assert_eq!(custom.n, 3);
        let flagged = parse_catalogue_id("oomlab/64x48-4k-progressive-422-exif6-2").unwrap();
        assert_eq!(
            flagged.spec.encoding,
            Encoding {
                progressive: true,
                chroma: Some(Chroma::S422),
                colour: Colour::Ycbcr,
                orientation: Some(6),
            }
        );
    }

    #[test]
    fn mixed_draws_every_entry_of_its_table_once_in_twenty_numbers() {
        let mut progressive = 0;
        let mut portraits = 0;
        for n in 1..=20 {
            let spec = parse_catalogue_id(&format!("oomlab/mixed-{n}"))
                .unwrap()
                .spec;
            progressive += usize::from(spec.encoding.progressive);
            portraits += usize::from(spec.encoding.orientation == Some(6));
        }
        assert_eq!((progressive, portraits), (5, 4));
        for kind in MIXED {
            assert!(parse_kind(kind).is_some(), "{kind}");
        }
    }

    #[test]
    fn other_ids_are_not_catalogue() {
        for id in [
            "camera-1",
            "oomlab/camera",
            "oomlab/camera-x",
            "oomlab/9x9999999-1k-1",
            "oomlab/640x480-0k-1",
            "oomlab/640x480-1k-sepia-1",
            "oomlab/640x480-1k-exif9-1",
            "oomlab/mixed",
            "other/small-1",
        ] {
            assert_eq!(parse_catalogue_id(id), None, "{id}");
        }
    }
}
