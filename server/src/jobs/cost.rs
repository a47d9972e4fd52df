//! What decoding a photo would hold, from its JPEG frame header alone
//! (`limits.max_decode_bytes`), so that a photo too costly to decode is
//! refused before a byte of it is decoded.
//!
//! A JPEG is coded in MCUs (minimum coded units) of 8x8 blocks per
//! component, each component `h` x `v` blocks per MCU by its sampling
//! factors. What a decoder holds:
//! - **progressive** (SOF2): every coefficient of the image until its last
//!   scan, 64 of 2 bytes per block of every component, padded to whole MCUs
//!   (jpeg-decoder and libjpeg-turbo alike). A 7680x7680 4:4:4 photo holds
//!   3 x 960 x 960 x 128 bytes = 337.5 MiB of coefficients, whatever its
//!   file size: a few hundred bytes of header can ask for it.
//! - **baseline**: a few MCU rows of samples (this model counts four).
//! - and the output: the decoded samples at the scale the embed mode
//!   decodes at (`resize`: the smallest IDCT scale covering `photos.max_px`,
//!   `jobs::decode`; `original`: full size). jpeg-decoder keeps its
//!   component planes at that scale besides the output (one more copy);
//!   libjpeg-turbo writes scanlines straight to it.
//!
//! With `photos.decoder = "reduced"` a progressive photo costs what
//! reduced-jpeg predicts from its header instead ([`job_decode_bytes_of`]):
//! its folded coefficients (26 bytes a block at 1/4, not 128), its planes
//! and its output.
//!
//! `passthrough` and `cdn_transform` never decode a photo in a job; an
//! upload is judged by the full-size decode whatever the profile, since a
//! stored photo outlives the profile that accepted it.

use super::decode::scale_denominator;
use super::photos::fit_within;
use crate::imagecheck::Frame;
use crate::settings::{EmbedMode, JpegDecoder, PhotoSettings};

/// MCU rows of samples a sequential decoder is counted to keep.
const BASELINE_MCU_ROWS: u64 = 4;

/// Bytes the decode of `frame` would hold in a job of these settings;
/// `None` when the embed mode never decodes it.
pub fn job_decode_bytes(frame: &Frame, photos: &PhotoSettings) -> Option<u64> {
    match photos.embed {
        EmbedMode::Passthrough | EmbedMode::CdnTransform => None,
        // zune-jpeg, as jpeg-decoder: planes and output at full size.
        EmbedMode::Original => Some(decode_bytes(frame, 1, true)),
        EmbedMode::Resize => {
            let (w, h) = fit_within(frame.width, frame.height, photos.max_px);
            let d = scale_denominator(frame.width, frame.height, w, h);
            Some(decode_bytes(
                frame,
                u64::from(d),
                photos.decoder == JpegDecoder::JpegDecoder,
            ))
        }
    }
}

/// [`job_decode_bytes`] with the photo's bytes at hand: a progressive photo
/// decoded by `reduced` costs what reduced-jpeg predicts from its header
/// (its folded store, planes and output), not its coefficient floor.
pub fn job_decode_bytes_of(jpeg: &[u8], frame: &Frame, photos: &PhotoSettings) -> Option<u64> {
    let reduced = photos.embed == EmbedMode::Resize
        && photos.decoder == JpegDecoder::Reduced
        && frame.is_progressive();
    if !reduced {
        return job_decode_bytes(frame, photos);
    }
    let (w, h) = fit_within(frame.width, frame.height, photos.max_px);
    let d = scale_denominator(frame.width, frame.height, w, h);
    reduced_jpeg::Header::read(jpeg)
        .and_then(|header| header.held_bytes(d as u8, reduced_jpeg::Keep::Reduced))
        .ok()
        .or_else(|| job_decode_bytes(frame, photos))
}

/// Bytes a full-size decode of `frame` would hold (uploads).
pub fn upload_decode_bytes(frame: &Frame) -> u64 {
    decode_bytes(frame, 1, true)
}

/// The model of the module documentation at IDCT scale 1/`denominator`.
pub fn decode_bytes(frame: &Frame, denominator: u64, keeps_planes: bool) -> u64 {
    let (w, h) = (u64::from(frame.width), u64::from(frame.height));
    let hmax = frame
        .sampling
        .iter()
        .map(|s| u64::from(s.0))
        .max()
        .unwrap_or(1);
    let vmax = frame
        .sampling
        .iter()
        .map(|s| u64::from(s.1))
        .max()
        .unwrap_or(1);
    let mcus_x = w.div_ceil(8 * hmax);
    let mcus_y = h.div_ceil(8 * vmax);
    let blocks: u64 = frame
        .sampling
        .iter()
        .map(|&(hi, vi)| mcus_x * u64::from(hi) * mcus_y * u64::from(vi))
        .sum();
    let held = if frame.is_progressive() {
        blocks * 64 * 2
    } else {
        let per_mcu_row: u64 = frame
            .sampling
            .iter()
            .map(|&(hi, vi)| mcus_x * u64::from(hi) * 8 * u64::from(vi) * 8)
            .sum();
        per_mcu_row * BASELINE_MCU_ROWS
    };
    let components = frame.sampling.len() as u64;
    let channels = if components == 1 {
        1
    } else {
        components.max(3)
    };
    let d = denominator.max(1);
    let scaled = w.div_ceil(d) * h.div_ceil(d);
    let planes = if keeps_planes { scaled * components } else { 0 };
    held + scaled * channels + planes
}

/// `bytes` in MiB with one decimal, for messages.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(marker: u8, w: u32, h: u32, sampling: &[(u8, u8)]) -> Frame {
        Frame {
            marker,
            precision: 8,
            width: w,
            height: h,
            sampling: sampling.to_vec(),
        }
    }

    #[test]
    fn a_7680_square_progressive_444_holds_its_coefficients() {
        let f = frame(0xC2, 7680, 7680, &[(1, 1); 3]);
        let coefficients = 3 * 960 * 960 * 128;
        let full = 7680 * 7680;
        assert_eq!(upload_decode_bytes(&f), coefficients + full * 3 + full * 3);
        let resize = PhotoSettings {
            embed: EmbedMode::Resize,
            max_px: 1200,
            decoder: JpegDecoder::LibjpegTurbo,
            ..PhotoSettings::default()
        };
        // Scaled 1/4 (1920 covers 1200): the coefficients stay.
        assert_eq!(
            job_decode_bytes(&f, &resize),
            Some(coefficients + 1920 * 1920 * 3)
        );
    }

    #[test]
    fn a_baseline_phone_photo_costs_about_its_output() {
        // 4000x3000 4:2:0: MCUs of 16x16.
        let f = frame(0xC0, 4000, 3000, &[(2, 2), (1, 1), (1, 1)]);
        let out = 4000 * 3000 * 3;
        let rows = 250 * (16 * 16 + 64 + 64) * 4;
        assert_eq!(upload_decode_bytes(&f), rows + out + out);
        let passthrough = PhotoSettings {
            embed: EmbedMode::Passthrough,
            ..PhotoSettings::default()
        };
        assert_eq!(job_decode_bytes(&f, &passthrough), None);
    }
}
