//! From component planes to output pixels: chroma upsampling and colour
//! conversion, row by row.
//!
//! Both follow libjpeg-turbo (jdsample.c, jdcolor.c) so that a decode here
//! gives the same pixels as its scaled decode: "fancy" (triangle)
//! upsampling for 2x horizontal, 2x vertical and 2x2, with its rounding
//! biases and its edge rule (the first and last sample repeat), only when
//! the scale leaves more than one sample per block (libjpeg has no context
//! rows at 1/8) and the plane is wider than 2; plain replication otherwise.
//! Rows above the first and below the last real row repeat them, as
//! libjpeg's context rows do.

/// One component's samples after the IDCT, and how they map to the output.
pub(crate) struct Plane {
    pub data: Vec<u8>,
    /// Samples per row (the padded block columns times k).
    pub stride: usize,
    /// Rows held (the padded block rows times k).
    pub rows: usize,
    /// Real samples across and down (libjpeg's downsampled_width/height).
    pub dw: usize,
    pub dh: usize,
    /// Output pixels per sample across and down.
    pub hx: usize,
    pub vx: usize,
}

/// How the components turn into pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    Gray,
    YCbCr,
    Rgb,
    /// `inverted`: 0 means full ink, as Adobe writes CMYK.
    Cmyk {
        inverted: bool,
    },
    Ycck,
}

impl Model {
    pub(crate) fn channels(self) -> usize {
        if self == Model::Gray { 1 } else { 3 }
    }
}

/// Upsample row `y` of plane `p` into `out` (one value per output column).
fn upsample_row(p: &Plane, y: usize, fancy: bool, out: &mut [u8]) {
    let row = |r: usize| &p.data[r.min(p.rows - 1) * p.stride..][..p.stride];
    let last = p.dh.saturating_sub(1);
    // libjpeg's fancy paths need at least 3 samples across for 2x.
    let fancy_h = fancy && p.hx == 2 && p.dw > 2;
    let fancy_v = fancy && p.vx == 2;
    if fancy_v {
        let near = (y / 2).min(last);
        let far = if y.is_multiple_of(2) {
            near.saturating_sub(1)
        } else {
            (near + 1).min(last)
        };
        let (a, b) = (row(near), row(far));
        let sum = |i: usize| 3 * u32::from(a[i]) + u32::from(b[i]);
        if fancy_h {
            let end = p.dw - 1;
            for (x, o) in out.iter_mut().enumerate() {
                let i = (x / 2).min(end);
                let v = if x % 2 == 0 {
                    let left = if i == 0 { sum(i) } else { sum(i - 1) };
                    (3 * sum(i) + left + 8) >> 4
                } else {
                    let right = if i == end { sum(i) } else { sum(i + 1) };
                    (3 * sum(i) + right + 7) >> 4
                };
                *o = v as u8;
            }
        } else if p.hx == 1 {
            let bias = if y.is_multiple_of(2) { 1 } else { 2 };
            for (x, o) in out.iter_mut().enumerate() {
                *o = ((sum(x.min(p.stride - 1)) + bias) >> 2) as u8;
            }
        } else {
            box_row(a, p.hx, out);
        }
        return;
    }
    let src = row(y / p.vx);
    if fancy_h && p.vx == 1 {
        let end = p.dw - 1;
        for (x, o) in out.iter_mut().enumerate() {
            let i = (x / 2).min(end);
            let c = 3 * u32::from(src[i]);
            let v = if x % 2 == 0 {
                if i == 0 {
                    u32::from(src[0])
                } else {
                    (c + u32::from(src[i - 1]) + 1) >> 2
                }
            } else if i == end {
                u32::from(src[i])
            } else {
                (c + u32::from(src[i + 1]) + 2) >> 2
            };
            *o = v as u8;
        }
    } else {
        box_row(src, p.hx, out);
    }
}

fn box_row(src: &[u8], hx: usize, out: &mut [u8]) {
    for (x, o) in out.iter_mut().enumerate() {
        *o = src[(x / hx).min(src.len() - 1)];
    }
}

/// jdcolor.c's YCbCr to RGB: 16-bit fixed point, rounded as libjpeg's
/// tables are.
fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const ONE_HALF: i32 = 1 << 15;
    let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    let r = y + ((91881 * cr + ONE_HALF) >> 16);
    let g = y + ((-22554 * cb + ONE_HALF - 46802 * cr) >> 16);
    let b = y + ((116130 * cb + ONE_HALF) >> 16);
    [r, g, b].map(|v| v.clamp(0, 255) as u8)
}

/// RGB of a CMYK sample as libjpeg would output it (for Adobe files: 255 is
/// no ink). The conversion is the naive one, without a colour profile.
pub fn cmyk_to_rgb(cmyk: [u8; 4], inverted: bool) -> [u8; 3] {
    let ink = |v: u8| {
        if inverted {
            u32::from(v)
        } else {
            255 - u32::from(v)
        }
    };
    let k = ink(cmyk[3]);
    [0, 1, 2].map(|i| ((ink(cmyk[i]) * k + 127) / 255) as u8)
}

/// Fill `out` (`width` x `height` pixels of `model.channels()` bytes) from
/// the planes.
pub(crate) fn convert(
    planes: &[Plane],
    model: Model,
    width: usize,
    height: usize,
    fancy: bool,
    out: &mut [u8],
) {
    let ch = model.channels();
    let mut rows: Vec<Vec<u8>> = planes.iter().map(|_| vec![0u8; width]).collect();
    for (y, line) in out.chunks_exact_mut(width * ch).take(height).enumerate() {
        for (p, r) in planes.iter().zip(rows.iter_mut()) {
            upsample_row(p, y, fancy, r);
        }
        match model {
            Model::Gray => line.copy_from_slice(&rows[0]),
            Model::Rgb | Model::YCbCr => {
                for (x, px) in line.chunks_exact_mut(3).enumerate() {
                    let (a, b, c) = (rows[0][x], rows[1][x], rows[2][x]);
                    let rgb = if model == Model::Rgb {
                        [a, b, c]
                    } else {
                        ycc_to_rgb(a, b, c)
                    };
                    px.copy_from_slice(&rgb);
                }
            }
            Model::Cmyk { inverted } => {
                for (x, px) in line.chunks_exact_mut(3).enumerate() {
                    let cmyk = [rows[0][x], rows[1][x], rows[2][x], rows[3][x]];
                    px.copy_from_slice(&cmyk_to_rgb(cmyk, inverted));
                }
            }
            Model::Ycck => {
                for (x, px) in line.chunks_exact_mut(3).enumerate() {
                    // jdcolor.c's ycck_cmyk_convert, then Adobe's inverted CMYK.
                    let [r, g, b] = ycc_to_rgb(rows[0][x], rows[1][x], rows[2][x]);
                    let cmyk = [255 - r, 255 - g, 255 - b, rows[3][x]];
                    px.copy_from_slice(&cmyk_to_rgb(cmyk, true));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycc_conversion_matches_libjpeg_reference_values() {
        // Grey stays grey; pure colours land where libjpeg puts them.
        assert_eq!(ycc_to_rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(ycc_to_rgb(76, 85, 255), [254, 0, 0]);
        assert_eq!(ycc_to_rgb(29, 255, 107), [0, 0, 254]);
    }

    #[test]
    fn fancy_h2v1_keeps_edges_and_blends_three_to_one() {
        let p = Plane {
            data: vec![0, 100, 200, 40],
            stride: 4,
            rows: 1,
            dw: 3,
            dh: 1,
            hx: 2,
            vx: 1,
        };
        let mut out = [0u8; 6];
        upsample_row(&p, 0, true, &mut out);
        // (3*0+0+1)>>2.. first is the sample; then 3:1 blends; last repeats.
        assert_eq!(out, [0, 25, 75, 125, 175, 200]);
        upsample_row(&p, 0, false, &mut out);
        assert_eq!(out, [0, 0, 100, 100, 200, 200]);
    }

    #[test]
    fn inverted_cmyk_with_no_ink_is_white() {
        assert_eq!(cmyk_to_rgb([255, 255, 255, 255], true), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb([0, 0, 0, 0], false), [255, 255, 255]);
        assert_eq!(cmyk_to_rgb([255, 0, 255, 255], true), [255, 0, 255]);
    }
}
