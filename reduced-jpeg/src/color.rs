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

/// Scratch for one plane's upsampled row, and the column sums of a fancy
/// 2x2 row.
struct Scratch {
    row: Vec<u8>,
    sums: Vec<u16>,
}

/// Row `y` of the output for plane `p`: the plane's own row when it maps
/// one to one (no copy), else upsampled into `s.row`.
fn plane_row<'a>(p: &'a Plane, y: usize, fancy: bool, s: &'a mut Scratch) -> &'a [u8] {
    let width = s.row.len();
    if p.hx == 1 && p.vx == 1 && p.stride >= width {
        let r = y.min(p.rows - 1) * p.stride;
        return &p.data[r..r + width];
    }
    upsample_row(p, y, fancy, &mut s.row, &mut s.sums);
    &s.row
}

/// Upsample row `y` of plane `p` into `out` (one value per output column).
/// `sums`: scratch for fancy 2x2 (grown as needed).
///
/// Every path gives what libjpeg's per-pixel rules give (the reference
/// in the tests: the same rules written one output pixel at a time); the
/// interiors run as straight loops over zipped slices, without a branch,
/// a division or an index check per pixel, which the compiler vectorises.
fn upsample_row(p: &Plane, y: usize, fancy: bool, out: &mut [u8], sums: &mut Vec<u16>) {
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
        if fancy_h {
            // Vertical 3:1 sums first (at most 1020), then 3:1 across.
            let n = p.dw;
            sums.resize(n.max(sums.len()), 0);
            let s = &mut sums[..n];
            for ((s, &a), &b) in s.iter_mut().zip(&a[..n]).zip(&b[..n]) {
                *s = 3 * u16::from(a) + u16::from(b);
            }
            fancy_h2(s, out, 8, 7, 4);
        } else if p.hx == 1 {
            let bias = if y.is_multiple_of(2) { 1 } else { 2 };
            let n = out.len().min(p.stride);
            let (body, rest) = out.split_at_mut(n);
            for ((o, &a), &b) in body.iter_mut().zip(a).zip(b) {
                *o = ((3 * u16::from(a) + u16::from(b) + bias) >> 2) as u8;
            }
            let edge =
                ((3 * u16::from(a[p.stride - 1]) + u16::from(b[p.stride - 1]) + bias) >> 2) as u8;
            rest.fill(edge);
        } else {
            box_row(a, p.hx, out);
        }
        return;
    }
    let src = row(y / p.vx);
    if fancy_h && p.vx == 1 {
        fancy_h2(&src[..p.dw], out, 1, 2, 2);
    } else {
        box_row(src, p.hx, out);
    }
}

/// libjpeg's fancy 2x horizontal upsampling (h2v1 on samples, h2v2 on
/// the vertical sums): sample `i` gives `(3 s[i] + s[i-1] + even) >> shift`
/// and `(3 s[i] + s[i+1] + odd) >> shift`, the first and the last sample
/// standing in for their missing neighbour (which is libjpeg's edge rule:
/// `(4 s + even) >> shift` is `s` at the scale of the output). Output
/// columns past `2 s.len()` repeat the last sample's pair rule, as the
/// clamped index of the per-pixel rule does. `s` has at least 3 samples.
#[inline]
fn fancy_h2<T: Copy + Into<u32>>(s: &[T], out: &mut [u8], even: u32, odd: u32, shift: u32) {
    let end = s.len() - 1;
    let at = |x: usize| -> u8 {
        let i = (x / 2).min(end);
        let c = 3 * s[i].into();
        let v = if x.is_multiple_of(2) {
            c + s[i.saturating_sub(1)].into() + even
        } else {
            c + s[(i + 1).min(end)].into() + odd
        };
        (v >> shift) as u8
    };
    // Samples 1..lim have both neighbours and both outputs inside `out`.
    let lim = end.min(out.len() / 2);
    if lim > 1 {
        let pairs = out[2..2 * lim].chunks_exact_mut(2);
        for (((o, &l), &c), &r) in pairs.zip(&s[..lim - 1]).zip(&s[1..lim]).zip(&s[2..=lim]) {
            let c = 3 * c.into();
            o[0] = ((c + l.into() + even) >> shift) as u8;
            o[1] = ((c + r.into() + odd) >> shift) as u8;
        }
    }
    let width = out.len();
    for x in (0..2.min(width)).chain((2 * lim).max(2)..width) {
        out[x] = at(x);
    }
}

/// Plain replication: output column `x` takes sample `x / hx` (the last
/// sample past the end).
fn box_row(src: &[u8], hx: usize, out: &mut [u8]) {
    let n = match hx {
        1 => {
            let n = out.len().min(src.len());
            out[..n].copy_from_slice(&src[..n]);
            n
        }
        2 => {
            let n = (out.len() / 2).min(src.len());
            for (o, &v) in out.chunks_exact_mut(2).zip(&src[..n]) {
                o[0] = v;
                o[1] = v;
            }
            2 * n
        }
        _ => {
            let mut n = 0;
            for (o, &v) in out.chunks_mut(hx).zip(src) {
                o.fill(v);
                n += o.len();
            }
            n
        }
    };
    // Columns left over: an odd last column, or past the samples.
    for x in n..out.len() {
        out[x] = src[(x / hx).min(src.len() - 1)];
    }
}

/// jdcolor.c's YCbCr to RGB: 16-bit fixed point, rounded as libjpeg's
/// tables are.
#[inline]
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
#[inline]
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

/// Pixels converted per step: the colour conversions work on arrays of
/// this many samples, then interleave, so each step is a handful of vector
/// operations.
const LANES: usize = 16;

/// Convert one row of three planes' samples into interleaved RGB, `f`
/// taking a pixel's three samples. Whole steps of [`LANES`] pixels go
/// through fixed-size arrays; the rest one at a time.
#[inline]
fn three_to_rgb(line: &mut [u8], c: [&[u8]; 3], f: impl Fn(u8, u8, u8) -> [u8; 3]) {
    let n = line.len() / 3;
    let (c0, c1, c2) = (&c[0][..n], &c[1][..n], &c[2][..n]);
    let steps = line.chunks_exact_mut(3 * LANES);
    let s0 = c0.chunks_exact(LANES);
    let s1 = c1.chunks_exact(LANES);
    let s2 = c2.chunks_exact(LANES);
    let done = n / LANES * LANES;
    for (((o, a), b), d) in steps.zip(s0).zip(s1).zip(s2) {
        let mut rgb = [[0u8; LANES]; 3];
        for i in 0..LANES {
            let [r, g, bl] = f(a[i], b[i], d[i]);
            rgb[0][i] = r;
            rgb[1][i] = g;
            rgb[2][i] = bl;
        }
        for (i, px) in o.chunks_exact_mut(3).enumerate() {
            px[0] = rgb[0][i];
            px[1] = rgb[1][i];
            px[2] = rgb[2][i];
        }
    }
    for (x, px) in line.chunks_exact_mut(3).enumerate().skip(done) {
        px.copy_from_slice(&f(c0[x], c1[x], c2[x]));
    }
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
    let mut scratch: Vec<Scratch> = planes
        .iter()
        .map(|_| Scratch {
            row: vec![0u8; width],
            sums: Vec::new(),
        })
        .collect();
    for (y, line) in out.chunks_exact_mut(width * ch).take(height).enumerate() {
        let mut rows: [&[u8]; 4] = [&[]; 4];
        for ((p, s), r) in planes.iter().zip(scratch.iter_mut()).zip(rows.iter_mut()) {
            *r = plane_row(p, y, fancy, s);
        }
        let three = [rows[0], rows[1], rows[2]];
        match model {
            Model::Gray => line.copy_from_slice(&rows[0][..width]),
            Model::Rgb => three_to_rgb(line, three, |r, g, b| [r, g, b]),
            Model::YCbCr => three_to_rgb(line, three, ycc_to_rgb),
            Model::Cmyk { inverted } => {
                let k = &rows[3][..width];
                for ((x, px), &k) in line.chunks_exact_mut(3).enumerate().zip(k) {
                    let cmyk = [rows[0][x], rows[1][x], rows[2][x], k];
                    px.copy_from_slice(&cmyk_to_rgb(cmyk, inverted));
                }
            }
            Model::Ycck => {
                let k = &rows[3][..width];
                for ((x, px), &k) in line.chunks_exact_mut(3).enumerate().zip(k) {
                    // jdcolor.c's ycck_cmyk_convert, then Adobe's inverted CMYK.
                    let [r, g, b] = ycc_to_rgb(rows[0][x], rows[1][x], rows[2][x]);
                    let cmyk = [255 - r, 255 - g, 255 - b, k];
                    px.copy_from_slice(&cmyk_to_rgb(cmyk, true));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
