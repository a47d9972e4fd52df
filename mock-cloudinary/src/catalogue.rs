//! The catalogue grammar: which public ids name a synthetic photo, and of
//! what size.
//!
//! | public id | size | target bytes |
//! |---|---|---|
//! | `oomlab/camera-{n}` | 4000x3000 | 3,000,000 |
//! | `oomlab/phone-{n}` | 2160x3840 | 700,000 |
//! | `oomlab/small-{n}` | 1280x960 | 250,000 |
//! | `oomlab/{w}x{h}-{kb}k-{n}` | w x h | kb x 1000 |
//!
//! All ids of one size share one generated scene and JPEG quality; `{n}`
//! (any decimal number) draws the photo's grain, so each number's pixels
//! differ while size, subsampling and compressed size (so decode cost) stay
//! the same (see [`crate::store::catalogue_photo`]).

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
}

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
    let spec = match kind {
        "camera" => PhotoSpec {
            width: 4000,
            height: 3000,
            target_bytes: 3_000_000,
        },
        "phone" => PhotoSpec {
            width: 2160,
            height: 3840,
            target_bytes: 700_000,
        },
        "small" => PhotoSpec {
            width: 1280,
            height: 960,
            target_bytes: 250_000,
        },
        custom => parse_custom(custom)?,
    };
    Some(CatalogueId { spec, n })
}

/// `{w}x{h}-{kb}k`
fn parse_custom(kind: &str) -> Option<PhotoSpec> {
    let (size, kb) = kind.split_once('-')?;
    let (w, h) = size.split_once('x')?;
    let width: u32 = w.parse().ok()?;
    let height: u32 = h.parse().ok()?;
    let kb: u64 = kb.strip_suffix('k')?.parse().ok()?;
    let sides_ok = (8..=MAX_SIDE).contains(&width) && (8..=MAX_SIDE).contains(&height);
    (sides_ok && (1..=MAX_KB).contains(&kb)).then_some(PhotoSpec {
        width,
        height,
        target_bytes: kb * 1000,
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
                target_bytes: 60_000
            }
        );
        assert_eq!(custom.n, 3);
    }

    #[test]
    fn other_ids_are_not_catalogue() {
        for id in [
            "camera-1",
            "oomlab/camera",
            "oomlab/camera-x",
            "oomlab/9x9999999-1k-1",
            "oomlab/640x480-0k-1",
            "other/small-1",
        ] {
            assert_eq!(parse_catalogue_id(id), None, "{id}");
        }
    }
}
