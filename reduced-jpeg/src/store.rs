//! What a progressive decode keeps of each block until its last scan.
//!
//! Two stores, chosen per component ([`Store::new`]):
//!
//! - **kept** coefficients ([`KeptBlock`]): the k x k lowest frequencies of
//!   each block plus one history bit per dropped coefficient. Used where
//!   that is everything the scaled IDCT reads: at 1/8 (`jpeg_idct_1x1`
//!   reads only DC) and for 8x8 IDCTs (every coefficient is kept), and for
//!   [`Keep::All`].
//! - **folded** coefficients ([`FoldedBlock`]), for the 2x2 and 4x4 IDCTs
//!   of 1/4 and 1/2. libjpeg-turbo's reduced IDCTs (jidctred.c) do not read
//!   only the k x k square: `jpeg_idct_4x4` reads rows and columns 0-3 and
//!   5-7, `jpeg_idct_2x2` rows and columns 0, 1, 3, 5, 7 (they compute the
//!   box average of the full 8x8 IDCT). Storing those would be 49 and 25
//!   coefficients a block. But apart from the rounding between its two
//!   passes the transform is linear, so each AC coefficient's share of the
//!   k x k output can be added to k x k sums as its value arrives, and the
//!   coefficient itself forgotten: its first scan adds its value's share,
//!   each refinement bit one more step's. Refinements need to know whether
//!   a coefficient is non-zero (the history bit, as in the kept store) and
//!   its sign (which way a refinement bit moves it): two bits per
//!   coefficient. DC is kept exactly (its share is uniform).
//!
//! The folded sums are i16 in 1/16 of a sample ([`FRAC`]): the rounding of
//! each addition and the missing rounding between the IDCT's passes put a
//! folded block within a unit or two of libjpeg-turbo's samples (the tests
//! measure it); the sums saturate instead of wrapping on corrupt data.
//!
//! One difference for non-conforming streams only: libjpeg skips a
//! refinement bit whose bit is already set in the coefficient (a
//! refinement scan repeated at the same `Al`); a folded coefficient's value
//! is not there to look at, so the step is added again.

use crate::Keep;
use crate::header::UNZIGZAG;
use crate::idct;

/// For each zigzag position, its index among the kept k x k coefficients
/// (row-major), or `DROPPED`.
pub(crate) type Slots = [u8; 64];
pub(crate) const DROPPED: u8 = u8::MAX;

/// Fractional bits of a folded sum: 1/16 of a sample. With i16 that spans
/// +-2048 samples, far beyond what a valid block's AC share can reach.
pub(crate) const FRAC: u32 = 4;

pub(crate) fn slots(k: usize) -> Slots {
    let mut s = [DROPPED; 64];
    for (zz, &natural) in UNZIGZAG.iter().enumerate() {
        let (row, col) = (usize::from(natural) / 8, usize::from(natural) % 8);
        if row < k && col < k {
            s[zz] = (row * k + col) as u8;
        }
    }
    s
}

/// The operations a progressive scan performs on one block (G.1.2).
pub(crate) trait Block {
    /// The AC coefficient at zigzag position `zz` is non-zero.
    fn nonzero(&self, zz: usize) -> bool;
    /// Bit z set: the coefficient at zigzag position z is non-zero (AC
    /// positions only: bit 0 is not looked at).
    fn nonzero_mask(&self) -> u64;
    /// The first value of a coefficient (DC or AC first scan).
    fn set(&mut self, zz: usize, value: i16);
    /// A DC refinement bit: sets bit `al` of the DC coefficient.
    fn refine_dc(&mut self, al: u8);
    /// A correction bit of 1 for a coefficient with history: its magnitude
    /// grows by `p1`.
    fn refine(&mut self, zz: usize, p1: i16);
}

/// A block of the kept store.
pub(crate) struct KeptBlock<'a> {
    pub coefs: &'a mut [i16],
    /// Bit z set: the dropped coefficient at zigzag position z is non-zero.
    pub history: &'a mut u64,
    pub slots: &'a Slots,
}

impl Block for KeptBlock<'_> {
    fn nonzero(&self, zz: usize) -> bool {
        match self.slots[zz] {
            DROPPED => *self.history & (1 << zz) != 0,
            s => self.coefs[usize::from(s)] != 0,
        }
    }

    fn nonzero_mask(&self) -> u64 {
        let mut mask = *self.history;
        for (zz, &slot) in self.slots.iter().enumerate().skip(1) {
            if slot != DROPPED && self.coefs[usize::from(slot)] != 0 {
                mask |= 1 << zz;
            }
        }
        mask
    }

    fn set(&mut self, zz: usize, value: i16) {
        match self.slots[zz] {
            DROPPED => {
                if value != 0 {
                    *self.history |= 1 << zz;
                }
            }
            s => self.coefs[usize::from(s)] = value,
        }
    }

    fn refine_dc(&mut self, al: u8) {
        self.coefs[0] |= 1 << al;
    }

    fn refine(&mut self, zz: usize, p1: i16) {
        if let Some(c) = self.coefs.get_mut(usize::from(self.slots[zz]))
            && *c & p1 == 0
        {
            *c = if *c >= 0 {
                c.wrapping_add(p1)
            } else {
                c.wrapping_sub(p1)
            };
        }
    }
}

/// Fractional bits of a weight below a sum's unit: the shares are computed
/// in integers (an f64 `round` per sample is a libm call on x86-64's
/// baseline, and was most of a 1/2 decode's time).
const WEIGHT_BITS: u32 = 16;

/// Each AC coefficient's share of the k x k samples per unit of its
/// quantised value, in 1/2^(FRAC + WEIGHT_BITS) of a sample, by zigzag
/// position.
pub(crate) struct Weights {
    pub per_coef: Box<[[i64; 16]; 64]>,
    /// The same weights as i32, for [`FoldedBlock::add`]'s fast path
    /// (every weight fits: `max_weight` < 2^31).
    narrow: Box<[[i32; 16]; 64]>,
    /// The largest |weight|.
    max_weight: i64,
    /// Bit z set: the IDCT reads zigzag position z (its weights are not all
    /// zero).
    pub read: u64,
}

impl Weights {
    pub(crate) fn new(k: usize, quant: &[u16; 64]) -> Weights {
        let mut per_coef = Box::new([[0i64; 16]; 64]);
        let mut read = 0u64;
        for (zz, &natural) in UNZIGZAG.iter().enumerate().skip(1) {
            let natural = usize::from(natural);
            let response = idct::linear_response(k, natural);
            let scale = f64::from(quant[natural]) * f64::from(1u32 << (FRAC + WEIGHT_BITS));
            for (w, r) in per_coef[zz].iter_mut().zip(response) {
                *w = (r * scale).round() as i64;
            }
            if response.iter().any(|&r| r != 0.0) {
                read |= 1 << zz;
            }
        }
        let max_weight = per_coef
            .iter()
            .flatten()
            .map(|w| w.abs())
            .max()
            .unwrap_or(0);
        // A weight over i32 (only for quantisation steps beyond 8-bit
        // tables' 255) turns the fast path off through `max_weight`.
        let narrow = Box::new(per_coef.map(|ws| ws.map(|w| i32::try_from(w).unwrap_or(0))));
        Weights {
            per_coef,
            narrow,
            max_weight,
            read,
        }
    }
}

/// A block of the folded store.
pub(crate) struct FoldedBlock<'a> {
    pub dc: &'a mut i16,
    /// k x k shares of the AC coefficients so far, in 1/2^FRAC sample.
    pub sums: &'a mut [i16],
    /// Bit z set: the AC coefficient at zigzag position z is non-zero.
    pub history: &'a mut u64,
    /// Bit z set: ... and negative.
    pub negative: &'a mut u64,
    pub weights: &'a Weights,
}

impl FoldedBlock<'_> {
    fn add(&mut self, zz: usize, step: i16) {
        if self.weights.read & (1 << zz) == 0 {
            return;
        }
        // The fast path, to the bit the same sums: when |step x weight| +
        // half < 2^31 the products fit an i32, and then every share is in
        // i16's range (x >> 16 of an i32), so a saturating i16 add is the
        // clamp of the exact sum. In i32 and i16 the 16 lanes vectorise;
        // in i64 they did not (no 64-bit vector multiply on x86-64's
        // baseline), and this loop was most of a 1/2 decode's time. It
        // covers refinements and the small first values that are nearly
        // all of a photo's coefficients; large or corrupt ones take the
        // i64 path.
        if i64::from(step).abs() * self.weights.max_weight < (1 << 31) - (1 << WEIGHT_BITS) {
            let step = i32::from(step);
            let half = 1i32 << (WEIGHT_BITS - 1);
            for (s, &w) in self.sums.iter_mut().zip(&self.weights.narrow[zz]) {
                let share = ((step * w + half) >> WEIGHT_BITS) as i16;
                *s = s.saturating_add(share);
            }
            return;
        }
        let step = i64::from(step);
        let half = 1i64 << (WEIGHT_BITS - 1);
        for (s, &w) in self.sums.iter_mut().zip(&self.weights.per_coef[zz]) {
            let share = (step * w + half) >> WEIGHT_BITS;
            *s = (i64::from(*s) + share).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
        }
    }
}

impl Block for FoldedBlock<'_> {
    fn nonzero(&self, zz: usize) -> bool {
        *self.history & (1 << zz) != 0
    }

    fn nonzero_mask(&self) -> u64 {
        *self.history
    }

    fn set(&mut self, zz: usize, value: i16) {
        if zz == 0 {
            *self.dc = value;
            return;
        }
        if value == 0 {
            return;
        }
        *self.history |= 1 << zz;
        if value < 0 {
            *self.negative |= 1 << zz;
        }
        self.add(zz, value);
    }

    fn refine_dc(&mut self, al: u8) {
        *self.dc |= 1 << al;
    }

    fn refine(&mut self, zz: usize, p1: i16) {
        let step = if *self.negative & (1 << zz) != 0 {
            p1.wrapping_neg()
        } else {
            p1
        };
        self.add(zz, step);
    }
}

/// One component's store for a progressive decode.
pub(crate) enum Store {
    Kept {
        /// Coefficients stored per block side.
        k: usize,
        coefs: Vec<i16>,
        /// One mask per block; empty when nothing is dropped (k = 8).
        history: Vec<u64>,
        slots: Slots,
    },
    Folded {
        k: usize,
        dc: Vec<i16>,
        sums: Vec<i16>,
        history: Vec<u64>,
        negative: Vec<u64>,
        /// Set at the component's first scan, when its quantisation table
        /// is latched.
        weights: Option<Weights>,
    },
}

/// Whether a component whose IDCT outputs `k` x `k` samples folds its
/// coefficients.
fn folds(keep: Keep, k: usize) -> bool {
    keep == Keep::Reduced && (k == 2 || k == 4)
}

impl Store {
    /// The store for `blocks` blocks of a component with a `k` x `k` IDCT.
    pub(crate) fn new(keep: Keep, k: usize, blocks: usize) -> Store {
        if folds(keep, k) {
            return Store::Folded {
                k,
                dc: vec![0; blocks],
                sums: vec![0; blocks * k * k],
                history: vec![0; blocks],
                negative: vec![0; blocks],
                weights: None,
            };
        }
        let k = if keep == Keep::Reduced { k } else { 8 };
        Store::Kept {
            k,
            coefs: vec![0; blocks * k * k],
            history: if k < 8 { vec![0; blocks] } else { Vec::new() },
            slots: slots(k),
        }
    }

    /// Bytes per block of the store [`Store::new`] makes.
    pub(crate) fn bytes_per_block(keep: Keep, k: usize) -> usize {
        if folds(keep, k) {
            return 2 + 2 * k * k + 8 + 8;
        }
        let k = if keep == Keep::Reduced { k } else { 8 };
        2 * k * k + if k < 8 { 8 } else { 0 }
    }

    /// Latch the component's quantisation table (at its first scan).
    pub(crate) fn latch(&mut self, quant: &[u16; 64]) {
        if let Store::Folded { k, weights, .. } = self
            && weights.is_none()
        {
            *weights = Some(Weights::new(*k, quant));
        }
    }
}

/// The k x k samples of a folded block: DC's share (exact: a dequantised
/// DC of d gives d / 8 in every sample) plus the folded AC shares,
/// rounded as libjpeg descales, shifted to 0..=255 and clamped.
pub(crate) fn folded_samples(
    k: usize,
    dc: i16,
    q0: u16,
    sums: &[i16],
    out: &mut [u8],
    stride: usize,
) {
    let dc = (i64::from(dc) * i64::from(q0)) << (FRAC - 3);
    for y in 0..k {
        for x in 0..k {
            let v = (dc + i64::from(sums[y * k + x]) + (1 << (FRAC - 1))) >> FRAC;
            out[y * stride + x] = (v + 128).clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests;
