//! A JPEG decoder for reduced-scale output (1/2, 1/4, 1/8) that holds only
//! what the scaled output needs.
//!
//! A progressive JPEG's coefficients can only be turned into pixels after
//! the last scan, so every common decoder holds all of them: 64 x 2 bytes
//! per 8x8 block (the "coefficient floor"; 132.7 MB for a 5760x3840 4:4:4
//! photo). A decode at scale 1/s outputs k x k samples per block (k =
//! 8/s), and this decoder holds only what those need: at 1/8 the DC
//! coefficient; at 1/4 and 1/2 the DC and k x k sums into which each AC
//! coefficient's share of the output is folded as it arrives (libjpeg's
//! reduced IDCTs read high-frequency coefficients too, so keeping only the
//! k x k lowest ones is not enough; see `store`), plus two bits per
//! coefficient (non-zero, negative) that the successive-approximation
//! refinement scans need. At 1/4 that is 26 bytes per block instead of
//! 128. Sequential (baseline) JPEGs need no coefficient store at all: each
//! block goes through the IDCT as soon as it is decoded.
//!
//! The IDCT, upsampling and colour conversion are libjpeg-turbo's integer
//! routines, so a sequential JPEG decodes to exactly libjpeg-turbo's scaled
//! pixels, and so does a progressive one at 1/1 and (for components with a
//! 1x1 IDCT) at 1/8; a folded progressive decode at 1/4 or 1/2 is within a
//! unit or two of them (the missing rounding between the IDCT's passes and
//! the sums' 1/16-sample steps).
//!
//! Supported: baseline and extended sequential and progressive Huffman
//! JPEG, 8-bit; grey, YCbCr, RGB, CMYK and YCCK (Adobe APP14); any
//! sampling factors whose ratios are powers of two (4:4:4, 4:2:2, 4:2:0,
//! 4:4:0, 4:1:1, ...); restart intervals; partial MCUs. Unsupported (an
//! [`Error::Unsupported`]): 12-bit samples, arithmetic coding, lossless
//! and hierarchical JPEG, height given by DNL, 2-component images.
//!
//! # Layout
//! - `header`: markers and segments (SOF, SOS, DQT, DHT, DRI, JFIF, Adobe,
//!   EXIF orientation).
//! - `huffman`: the entropy-coded bit stream and Huffman tables.
//! - `scan`: the blocks of one scan into the reduced store.
//! - `store`: what a progressive decode keeps of each block (kept
//!   coefficients, or coefficients folded into their share of the output).
//! - `plan`: output size and per-component geometry from the header, and
//!   the bytes the decode will hold.
//! - `idct`: dequantisation and the scaled IDCTs.
//! - `color`: upsampling and colour conversion.
//! - `decoder`: the marker loop that ties them together.
#![forbid(unsafe_code)]

mod color;
mod decoder;
mod header;
mod huffman;
mod idct;
mod plan;
mod scan;
mod store;

use std::fmt;

pub use color::cmyk_to_rgb;

/// Bytes a decode may hold unless the caller says otherwise
/// ([`decode_with_limit`]): enough for a 1/1 decode of a 100 MP photo.
pub const DEFAULT_MAX_HELD_BYTES: u64 = 1 << 30;

/// Why a JPEG could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The data does not start with a JPEG SOI marker.
    NotJpeg,
    /// A valid JPEG that uses a feature this decoder does not implement.
    Unsupported(&'static str),
    /// A header segment is invalid.
    Malformed(&'static str),
    /// The data ends before the first scan.
    Truncated,
    /// The decode would hold more than the limit (checked from the header,
    /// before anything is allocated).
    TooLarge { needed: u64, limit: u64 },
    /// The scale denominator is not 1, 2, 4 or 8.
    InvalidScale(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotJpeg => write!(f, "not a JPEG (no SOI marker)"),
            Error::Unsupported(what) => write!(f, "unsupported JPEG: {what}"),
            Error::Malformed(what) => write!(f, "malformed JPEG: {what}"),
            Error::Truncated => write!(f, "JPEG data ends before the image data"),
            Error::TooLarge { needed, limit } => write!(
                f,
                "decoding would hold {needed} bytes, over the {limit}-byte limit"
            ),
            Error::InvalidScale(d) => write!(f, "scale 1/{d}: only 1, 2, 4 and 8 are supported"),
        }
    }
}

impl std::error::Error for Error {}

/// Layout of [`Decoded::pixels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorType {
    /// One byte per pixel.
    Gray8,
    /// Three bytes per pixel, R G B.
    Rgb8,
}

/// A decoded image, in stored orientation.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Rows top to bottom, no padding.
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub color: ColorType,
    /// EXIF orientation (1..=8; 1 when absent). **Not applied**: the pixels
    /// are as stored, the caller turns them (see [`Decoded::swaps_sides`]).
    pub orientation: u8,
    /// Part of the image is missing or damaged (the data ended early or a
    /// scan's data was corrupt): what could be decoded is there, the rest
    /// is grey or less refined. Callers should count the photo as degraded.
    pub partial: bool,
}

impl Decoded {
    /// The orientation turns the picture by 90 degrees (5..=8): upright,
    /// its width is `height`.
    pub fn swaps_sides(&self) -> bool {
        self.orientation >= 5
    }
}

/// What the header says, read without decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub progressive: bool,
    /// EXIF orientation (1..=8; 1 when absent).
    pub orientation: u8,
    frame: header::Frame,
}

impl Header {
    /// Read the segments before the first scan.
    pub fn read(bytes: &[u8]) -> Result<Header, Error> {
        decoder::read_header(bytes)
    }

    fn new(frame: header::Frame, tables: &header::Tables) -> Header {
        Header {
            width: u32::from(frame.width),
            height: u32::from(frame.height),
            components: frame.components.len() as u8,
            progressive: frame.progressive,
            orientation: tables.orientation.unwrap_or(1),
            frame,
        }
    }

    /// Output size at `1 / scale_denom` (rounded up, as libjpeg does).
    pub fn scaled_size(&self, scale_denom: u8) -> Result<(u32, u32), Error> {
        let g = plan::Geometry::new(&self.frame, scale_denom)?;
        Ok((g.width as u32, g.height as u32))
    }

    /// Bytes of every DCT coefficient of the image (64 x 2 bytes per block
    /// of each component, padded to whole MCUs): what a common progressive
    /// decoder holds until its last scan, whatever the output scale.
    pub fn coefficient_floor(&self) -> u64 {
        plan::Geometry::new(&self.frame, 1)
            .map(|g| {
                g.comps
                    .iter()
                    .map(|c| plan::Geometry::coefficient_bytes(c, Keep::All))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The most bytes a decode at `1 / scale_denom` storing `keep` holds
    /// at once (coefficients, planes, output and a fixed allowance for
    /// tables), from the header alone: for a memory cap before decoding.
    pub fn held_bytes(&self, scale_denom: u8, keep: Keep) -> Result<u64, Error> {
        let g = plan::Geometry::new(&self.frame, scale_denom)?;
        let channels = if self.components == 1 { 1 } else { 3 };
        Ok(g.held_bytes(self.progressive, channels, keep))
    }
}

/// Which DCT coefficients a progressive decode stores until its last scan.
/// Sequential JPEGs store none, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// What the scaled IDCT needs, and no more: the point of this crate,
    /// and what [`decode`] does. At 1/8 the DC coefficient; at 1/4 and 1/2
    /// each AC coefficient is folded into k x k sums of its share of the
    /// output as it arrives, plus two bits (non-zero, negative) per
    /// coefficient for the refinement scans. Within a unit or two of
    /// libjpeg-turbo's samples (see the crate docs).
    #[default]
    Reduced,
    /// All 64 per block (the coefficient floor of every common decoder):
    /// libjpeg-turbo's scaled output to the bit, at libjpeg-turbo's cost.
    All,
}

/// Decode `bytes` at `1 / scale_denom` (1, 2, 4 or 8), holding at most
/// [`DEFAULT_MAX_HELD_BYTES`].
pub fn decode(bytes: &[u8], scale_denom: u8) -> Result<Decoded, Error> {
    decode_with_limit(bytes, scale_denom, DEFAULT_MAX_HELD_BYTES)
}

/// Decode `bytes` at `1 / scale_denom`, refusing ([`Error::TooLarge`]) when
/// the decode would hold more than `max_held_bytes`.
pub fn decode_with_limit(
    bytes: &[u8],
    scale_denom: u8,
    max_held_bytes: u64,
) -> Result<Decoded, Error> {
    decode_keeping(bytes, scale_denom, max_held_bytes, Keep::Reduced)
}

/// [`decode_with_limit`], choosing which coefficients a progressive decode
/// stores ([`Keep`]).
pub fn decode_keeping(
    bytes: &[u8],
    scale_denom: u8,
    max_held_bytes: u64,
    keep: Keep,
) -> Result<Decoded, Error> {
    decoder::decode(bytes, scale_denom, max_held_bytes, keep)
}

/// The largest scale denominator (8, 4, 2, else 1) whose output of a
/// `width` x `height` image still covers `want_w` x `want_h`.
pub fn scale_to_cover(width: u32, height: u32, want_w: u32, want_h: u32) -> u8 {
    [8u8, 4, 2]
        .into_iter()
        .find(|&d| {
            width.div_ceil(u32::from(d)) >= want_w && height.div_ceil(u32::from(d)) >= want_h
        })
        .unwrap_or(1)
}

/// Decode at the smallest size that still covers `want_w` x `want_h`
/// stored pixels ([`scale_to_cover`]), within `max_held_bytes`.
pub fn decode_to_cover(
    bytes: &[u8],
    want_w: u32,
    want_h: u32,
    max_held_bytes: u64,
) -> Result<Decoded, Error> {
    let h = Header::read(bytes)?;
    let d = scale_to_cover(h.width, h.height, want_w, want_h);
    decode_with_limit(bytes, d, max_held_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cover_scale_rounds_up_like_libjpeg() {
        assert_eq!(scale_to_cover(4000, 3000, 1200, 900), 2);
        assert_eq!(scale_to_cover(6028, 3391, 1200, 675), 4);
        assert_eq!(scale_to_cover(9600, 7200, 1200, 900), 8);
        assert_eq!(scale_to_cover(1000, 800, 1200, 960), 1);
        assert_eq!(scale_to_cover(1201, 801, 601, 401), 2);
    }

    #[test]
    fn non_jpeg_input_is_refused() {
        assert_eq!(decode(b"\x89PNG", 4).unwrap_err(), Error::NotJpeg);
        assert_eq!(decode(b"", 4).unwrap_err(), Error::NotJpeg);
        assert_eq!(
            decode(b"\xFF\xD8", 4).unwrap_err(),
            Error::Malformed("no frame header")
        );
    }
}
