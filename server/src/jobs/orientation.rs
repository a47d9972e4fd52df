//! EXIF orientation, honoured by the `resize` embed mode only.
//!
//! Phones store a portrait as landscape pixels plus an EXIF Orientation tag
//! (6: turn 90 degrees clockwise to view). A PDF image has no EXIF: a mode
//! that re-encodes must turn the pixels itself, or the report shows the
//! photo on its side. `resize` does (on the small output, so the turn costs
//! the output's bytes, not the photo's). `passthrough`, `cdn_transform` and
//! `original` embed the JPEG bytes unchanged, as the modelled app does:
//! reportlab ignores EXIF, so its reports show phone portraits sideways, and
//! so do these modes' reports.

/// The Orientation tag (1..=8) in a TIFF structure (an EXIF APP1 segment
/// without its `Exif\0\0` header, as jpeg-decoder's `exif_data` returns
/// it); 1 (as stored) when absent or unreadable.
pub fn exif_orientation(tiff: &[u8]) -> u8 {
    read_orientation(tiff)
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

fn read_orientation(t: &[u8]) -> Option<u8> {
    let little = match t.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b: [u8; 2] = t.get(i..i + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b: [u8; 4] = t.get(i..i + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = u16_at(ifd)?;
    // Bounded by the entry count (at most 65,535) and the slice's length.
    (0..usize::from(entries))
        .map(|k| ifd + 2 + 12 * k)
        .find(|&e| u16_at(e) == Some(0x0112))
        .and_then(|e| u16_at(e + 8))
        .and_then(|v| u8::try_from(v).ok())
}

/// Whether orientation `o` turns the picture a quarter (the upright picture
/// has the stored picture's sides swapped).
pub fn swaps_sides(o: u8) -> bool {
    (5..=8).contains(&o)
}

/// The upright pixels of stored pixels `src` (`w` x `h`, `channels` bytes
/// per pixel) with orientation `o`, and their size.
pub fn to_upright(src: &[u8], w: u32, h: u32, channels: usize, o: u8) -> (Vec<u8>, u32, u32) {
    let (w, h) = (w as usize, h as usize);
    let (uw, uh) = if swaps_sides(o) { (h, w) } else { (w, h) };
    let mut out = vec![0u8; src.len()];
    for y in 0..uh {
        for x in 0..uw {
            // The stored pixel shown at upright (x, y), per the EXIF
            // definitions of the eight orientations.
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            let s = (sy * w + sx) * channels;
            let d = (y * uw + x) * channels;
            out[d..d + channels].copy_from_slice(&src[s..s + channels]);
        }
    }
    (out, uw as u32, uh as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiff(order: &[u8; 2], orientation: u16) -> Vec<u8> {
        let le = order == b"II";
        let u16b = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let u32b = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut t = order.to_vec();
        t.extend(u16b(42));
        t.extend(u32b(8));
        t.extend(u16b(2));
        // An unrelated entry first (ImageWidth), then Orientation.
        t.extend(u16b(0x0100));
        t.extend(u16b(3));
        t.extend(u32b(1));
        t.extend(u16b(640));
        t.extend([0, 0]);
        t.extend(u16b(0x0112));
        t.extend(u16b(3));
        t.extend(u32b(1));
        t.extend(u16b(orientation));
        t.extend([0, 0]);
        t.extend(u32b(0));
        t
    }

    #[test]
    fn the_orientation_tag_is_read_in_both_byte_orders() {
        assert_eq!(exif_orientation(&tiff(b"II", 6)), 6);
        assert_eq!(exif_orientation(&tiff(b"MM", 8)), 8);
        assert_eq!(exif_orientation(&tiff(b"II", 0)), 1, "out of range");
        assert_eq!(exif_orientation(&tiff(b"II", 6)[..20]), 1, "truncated");
        assert_eq!(exif_orientation(b"garbage"), 1);
    }

    #[test]
    fn orientation_6_turns_the_stored_picture_clockwise() {
        // Stored 3x2: a b c / d e f. Turned clockwise: d a / e b / f c.
        let src = b"abcdef";
        let (out, w, h) = to_upright(src, 3, 2, 1, 6);
        assert_eq!((w, h), (2, 3));
        assert_eq!(&out, b"daebfc");
        let (out, _, _) = to_upright(src, 3, 2, 1, 8);
        assert_eq!(&out, b"cfbead");
        let (out, w, h) = to_upright(src, 3, 2, 1, 3);
        assert_eq!((w, h, out.as_slice()), (3, 2, b"fedcba".as_slice()));
    }
}
