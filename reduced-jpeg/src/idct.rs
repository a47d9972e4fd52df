//! Dequantisation and the scaled inverse DCT: an 8x8 block of coefficients
//! to k x k samples (k = 8, 4, 2, 1).
//!
//! These are libjpeg-turbo's integer routines, ported line by line so that
//! a block decodes to the same samples as there: `jpeg_idct_islow`
//! (jidctint.c) for 8x8 and `jpeg_idct_4x4`, `jpeg_idct_2x2`,
//! `jpeg_idct_1x1` (jidctred.c) for the reduced sizes (libjpeg-turbo
//! selects exactly these for scales 8/8, 4/8, 2/8, 1/8, and its SIMD
//! versions are bit-exact with them). jidctred's reduced transforms read
//! the odd high-frequency coefficients too (rows and columns 5, 6, 7 for
//! 4x4; 3, 5, 7 for 2x2): they compute the box average of the full 8x8
//! IDCT. A progressive decode here keeps only the k x k lowest
//! coefficients, so the others are zero in its blocks, and its output
//! differs from libjpeg-turbo's by those coefficients' contribution (the
//! tests measure it); a sequential decode has the whole block at hand and
//! passes it in, and matches libjpeg-turbo exactly.
//!
//! Arithmetic is in i64 (libjpeg's JLONG on 64-bit Linux) so that corrupt,
//! huge coefficients cannot overflow; `clamp` stands in for libjpeg's
//! range-limit table, which gives the same result for every in-range value.

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

const FIX_0_211164243: i64 = 1730;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_509795579: i64 = 4176;
const FIX_0_541196100: i64 = 4433;
const FIX_0_601344887: i64 = 4926;
const FIX_0_720959822: i64 = 5906;
const FIX_0_765366865: i64 = 6270;
const FIX_0_850430095: i64 = 6967;
const FIX_0_899976223: i64 = 7373;
const FIX_1_061594337: i64 = 8697;
const FIX_1_175875602: i64 = 9633;
const FIX_1_272758580: i64 = 10426;
const FIX_1_451774981: i64 = 11893;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_172734803: i64 = 17799;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;
const FIX_3_624509785: i64 = 29692;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// A sample from an IDCT output (centred on 0): shift to 0..=255 and clamp.
fn sample(x: i64) -> u8 {
    (x + 128).clamp(0, 255) as u8
}

/// Dequantise and transform `coef` (natural order) to `k` x `k` samples at
/// `out[0..]`, rows `stride` apart.
pub(crate) fn idct(k: usize, coef: &[i16; 64], quant: &[u16; 64], out: &mut [u8], stride: usize) {
    let mut dq = [0i64; 64];
    for ((d, &c), &q) in dq.iter_mut().zip(coef).zip(quant) {
        *d = i64::from(c) * i64::from(q);
    }
    match k {
        8 => islow(&dq, out, stride),
        4 => red4(&dq, out, stride),
        2 => red2(&dq, out, stride),
        _ => out[0] = sample(descale(dq[0], 3)),
    }
}

fn islow(d: &[i64; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 64];
    for col in 0..8 {
        let c = |r: usize| d[r * 8 + col];
        if (1..8).all(|r| c(r) == 0) {
            let dc = c(0) << PASS1_BITS;
            for r in 0..8 {
                ws[r * 8 + col] = dc;
            }
            continue;
        }
        let o = islow_1d([c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)]);
        for (r, v) in o.into_iter().enumerate() {
            ws[r * 8 + col] = descale(v, CONST_BITS - PASS1_BITS);
        }
    }
    for row in 0..8 {
        let w = &ws[row * 8..row * 8 + 8];
        let o = islow_1d([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        for (x, v) in o.into_iter().enumerate() {
            out[row * stride + x] = sample(descale(v, CONST_BITS + PASS1_BITS + 3));
        }
    }
}

/// One 8-point pass of jpeg_idct_islow, before its final descale.
fn islow_1d(i: [i64; 8]) -> [i64; 8] {
    let z1 = (i[2] + i[6]) * FIX_0_541196100;
    let tmp2 = z1 - i[6] * FIX_1_847759065;
    let tmp3 = z1 + i[2] * FIX_0_765366865;
    let tmp0 = (i[0] + i[4]) << CONST_BITS;
    let tmp1 = (i[0] - i[4]) << CONST_BITS;
    let (tmp10, tmp13, tmp11, tmp12) = (tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2);

    let (t0, t1, t2, t3) = (i[7], i[5], i[3], i[1]);
    let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
    let z5 = (z3 + z4) * FIX_1_175875602;
    let t0 = t0 * FIX_0_298631336;
    let t1 = t1 * FIX_2_053119869;
    let t2 = t2 * FIX_3_072711026;
    let t3 = t3 * FIX_1_501321110;
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    let (t0, t1, t2, t3) = (t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4);
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// jidctred's 4-point pass: outputs 0..=3 from inputs 0, 1, 2, 3, 5, 6, 7.
fn red4_1d(i: [i64; 8]) -> [i64; 4] {
    let tmp0 = i[0] << (CONST_BITS + 1);
    let tmp2 = i[2] * FIX_1_847759065 + i[6] * -FIX_0_765366865;
    let (tmp10, tmp12) = (tmp0 + tmp2, tmp0 - tmp2);
    let (z1, z2, z3, z4) = (i[7], i[5], i[3], i[1]);
    let tmp0 =
        z1 * -FIX_0_211164243 + z2 * FIX_1_451774981 + z3 * -FIX_2_172734803 + z4 * FIX_1_061594337;
    let tmp2 =
        z1 * -FIX_0_509795579 + z2 * -FIX_0_601344887 + z3 * FIX_0_899976223 + z4 * FIX_2_562915447;
    [tmp10 + tmp2, tmp12 + tmp0, tmp12 - tmp0, tmp10 - tmp2]
}

fn red4(d: &[i64; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 32];
    for col in (0..8).filter(|&c| c != 4) {
        let c = |r: usize| d[r * 8 + col];
        if [1, 2, 3, 5, 6, 7].iter().all(|&r| c(r) == 0) {
            let dc = c(0) << PASS1_BITS;
            for r in 0..4 {
                ws[r * 8 + col] = dc;
            }
            continue;
        }
        let o = red4_1d([c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)]);
        for (r, v) in o.into_iter().enumerate() {
            ws[r * 8 + col] = descale(v, CONST_BITS - PASS1_BITS + 1);
        }
    }
    for row in 0..4 {
        let w = &ws[row * 8..row * 8 + 8];
        let o = red4_1d([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        for (x, v) in o.into_iter().enumerate() {
            out[row * stride + x] = sample(descale(v, CONST_BITS + PASS1_BITS + 3 + 1));
        }
    }
}

/// jidctred's 2-point pass: outputs 0 and 1 from inputs 0, 1, 3, 5, 7.
fn red2_1d(i: [i64; 8]) -> [i64; 2] {
    let tmp10 = i[0] << (CONST_BITS + 2);
    let tmp0 = i[7] * -FIX_0_720959822
        + i[5] * FIX_0_850430095
        + i[3] * -FIX_1_272758580
        + i[1] * FIX_3_624509785;
    [tmp10 + tmp0, tmp10 - tmp0]
}

fn red2(d: &[i64; 64], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 16];
    for col in [0, 1, 3, 5, 7] {
        let c = |r: usize| d[r * 8 + col];
        if [1, 3, 5, 7].iter().all(|&r| c(r) == 0) {
            let dc = c(0) << PASS1_BITS;
            ws[col] = dc;
            ws[8 + col] = dc;
            continue;
        }
        let o = red2_1d([c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7)]);
        ws[col] = descale(o[0], CONST_BITS - PASS1_BITS + 2);
        ws[8 + col] = descale(o[1], CONST_BITS - PASS1_BITS + 2);
    }
    for row in 0..2 {
        let w = &ws[row * 8..row * 8 + 8];
        let o = red2_1d([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        for (x, v) in o.into_iter().enumerate() {
            out[row * stride + x] = sample(descale(v, CONST_BITS + PASS1_BITS + 3 + 2));
        }
    }
}

/// The share of each of the k x k samples (row-major) of jidctred's
/// transform (k = 4 or 2) in a dequantised coefficient of 1 at `natural`:
/// the transform without the roundings of its two descales, which is
/// linear. Zero where the transform does not read the coefficient.
pub(crate) fn linear_response(k: usize, natural: usize) -> [f64; 16] {
    let pass = |i: [i64; 8]| -> [i64; 4] {
        if k == 4 {
            red4_1d(i)
        } else {
            let o = red2_1d(i);
            [o[0], o[1], 0, 0]
        }
    };
    // Both passes' descale shifts.
    let shift = if k == 4 {
        (CONST_BITS - PASS1_BITS + 1) + (CONST_BITS + PASS1_BITS + 3 + 1)
    } else {
        (CONST_BITS - PASS1_BITS + 2) + (CONST_BITS + PASS1_BITS + 3 + 2)
    };
    let (row, col) = (natural / 8, natural % 8);
    let mut column = [0i64; 8];
    column[row] = 1;
    let ws = pass(column);
    let mut out = [0.0; 16];
    for y in 0..k {
        let mut line = [0i64; 8];
        line[col] = ws[y];
        let o = pass(line);
        for x in 0..k {
            out[y * k + x] = o[x] as f64 / f64::from(1u32 << 16) / f64::from(1u32 << (shift - 16));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 8x8 IDCT of one coefficient, in floating point (A.3.3).
    fn reference(coef: &[i16; 64]) -> [f64; 64] {
        let c = |u: usize| if u == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
        let mut out = [0.0; 64];
        for y in 0..8 {
            for x in 0..8 {
                let mut s = 0.0;
                for v in 0..8 {
                    for u in 0..8 {
                        let cos = |p: usize, f: usize| {
                            ((2 * p + 1) as f64 * f as f64 * std::f64::consts::PI / 16.0).cos()
                        };
                        s += c(u) * c(v) * f64::from(coef[v * 8 + u]) * cos(x, u) * cos(y, v);
                    }
                }
                out[y * 8 + x] = s / 4.0 + 128.0;
            }
        }
        out
    }

    fn block() -> [i16; 64] {
        let mut coef = [0i16; 64];
        for (i, c) in coef.iter_mut().enumerate() {
            *c = ((i as i32 * 37 % 23) - 11) as i16 * (8 - (i / 8 + i % 8) as i16 / 2);
        }
        coef[0] = 240;
        coef
    }

    #[test]
    fn the_8x8_transform_is_within_one_of_the_exact_idct() {
        let coef = block();
        let exact = reference(&coef);
        let mut out = [0u8; 64];
        idct(8, &coef, &[1; 64], &mut out, 8);
        for (o, e) in out.iter().zip(exact) {
            assert!(
                (f64::from(*o) - e.clamp(0.0, 255.0)).abs() <= 1.0,
                "{o} vs {e}"
            );
        }
    }

    #[test]
    fn reduced_transforms_are_box_averages_of_the_full_one() {
        // jidctred's outputs are the mean of the 8x8 IDCT over each
        // (8/k) x (8/k) cell: check against the exact transform.
        let coef = block();
        let exact = reference(&coef);
        for k in [4usize, 2, 1] {
            let cell = 8 / k;
            let mut out = [0u8; 16];
            idct(k, &coef, &[1; 64], &mut out, k);
            for y in 0..k {
                for x in 0..k {
                    let mean: f64 = (0..cell)
                        .flat_map(|dy| (0..cell).map(move |dx| (dy, dx)))
                        .map(|(dy, dx)| exact[(y * cell + dy) * 8 + x * cell + dx])
                        .sum::<f64>()
                        / (cell * cell) as f64;
                    let got = f64::from(out[y * k + x]);
                    assert!(
                        (got - mean).abs() <= 1.0,
                        "k={k} ({x},{y}): {got} vs {mean}"
                    );
                }
            }
        }
    }

    #[test]
    fn corrupt_huge_coefficients_clamp_instead_of_overflowing() {
        let coef = [i16::MIN; 64];
        let mut out = [0u8; 64];
        for k in [8, 4, 2, 1] {
            idct(k, &coef, &[u16::MAX; 64], &mut out, 8);
        }
    }
}
