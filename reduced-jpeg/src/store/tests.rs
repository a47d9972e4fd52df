use super::*;
use crate::idct::idct;

#[test]
fn kept_slots_are_the_low_frequency_square() {
    let s = slots(2);
    let kept: Vec<usize> = (0..64).filter(|&z| s[z] != DROPPED).collect();
    assert_eq!(
        kept,
        vec![0, 1, 2, 4],
        "zigzag 0,1,2,4 are (0,0),(0,1),(1,0),(1,1)"
    );
    assert_eq!(slots(4).iter().filter(|&&v| v != DROPPED).count(), 16);
    assert_eq!(slots(8).iter().filter(|&&v| v != DROPPED).count(), 64);
    assert_eq!(slots(1).iter().filter(|&&v| v != DROPPED).count(), 1);
}

#[test]
fn a_dropped_coefficient_keeps_only_its_history_bit() {
    let s = slots(2);
    let mut coefs = [0i16; 4];
    let mut history = 0u64;
    let mut b = KeptBlock {
        coefs: &mut coefs,
        history: &mut history,
        slots: &s,
    };
    b.set(3, 5); // zigzag 3 is (2,0): dropped at k = 2
    b.set(2, -4); // (1,0): kept, slot 2
    assert!(b.nonzero(3) && b.nonzero(2) && !b.nonzero(5));
    b.refine(2, 1);
    b.refine(3, 1);
    assert_eq!(coefs, [0, 0, -5, 0]);
    assert_eq!(history, 1 << 3);
}

#[test]
fn the_reduced_idcts_read_49_and_25_coefficients() {
    let w4 = Weights::new(4, &[1; 64]);
    let w2 = Weights::new(2, &[1; 64]);
    // AC only: DC is kept apart.
    assert_eq!(w4.read.count_ones(), 48);
    assert_eq!(w2.read.count_ones(), 24);
    let read = |w: &Weights, row: usize, col: usize| {
        let zz = UNZIGZAG
            .iter()
            .position(|&n| usize::from(n) == row * 8 + col);
        w.read & (1 << zz.unwrap()) != 0
    };
    assert!(read(&w4, 7, 5) && !read(&w4, 4, 1) && !read(&w4, 0, 4));
    assert!(read(&w2, 7, 7) && read(&w2, 0, 3) && !read(&w2, 2, 0) && !read(&w2, 1, 6));
}

/// A small deterministic PRNG (xorshift64*).
fn rng(state: &mut u64) -> i64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as i64
}

/// A block as an encoder at quality ~85 leaves it: large low frequencies,
/// sparse small high ones (natural order).
fn random_block(state: &mut u64) -> [i16; 64] {
    let mut b = [0i16; 64];
    b[0] = (rng(state) % 120 - 60) as i16;
    for (i, c) in b.iter_mut().enumerate().skip(1) {
        let (row, col) = (i / 8, i % 8);
        let scale = 40 / (1 + row + col) as i64;
        if rng(state) % 3 != 0 {
            *c = (rng(state) % (2 * scale + 1) - scale) as i16;
        }
    }
    b
}

/// Feed `block` to a folded store as libjpeg-turbo's progressive script
/// sends it (a first scan at `Al` = 1, then a refinement at `Al` = 0) and
/// return the k x k samples.
fn folded(k: usize, block: &[i16; 64], quant: &[u16; 64]) -> Vec<u8> {
    let weights = Weights::new(k, quant);
    let (mut dc, mut history, mut negative) = (0i16, 0u64, 0u64);
    let mut sums = vec![0i16; k * k];
    let mut b = FoldedBlock {
        dc: &mut dc,
        sums: &mut sums,
        history: &mut history,
        negative: &mut negative,
        weights: &weights,
    };
    // First scans: the value without its lowest bit (rounded towards 0,
    // as the encoder's point transform does).
    for (zz, &natural) in UNZIGZAG.iter().enumerate() {
        let v = block[usize::from(natural)];
        if zz == 0 {
            b.set(0, (v >> 1) << 1);
        } else {
            b.set(zz, (v / 2) * 2);
        }
    }
    // Refinements: the lowest bit, as a correction bit of an old non-zero
    // coefficient or as a new coefficient of magnitude 1.
    for (zz, &natural) in UNZIGZAG.iter().enumerate() {
        let v = block[usize::from(natural)];
        if zz == 0 {
            if v & 1 != 0 {
                b.refine_dc(0);
            }
        } else if v.abs() & 1 != 0 {
            if b.nonzero(zz) {
                b.refine(zz, 1);
            } else {
                b.set(zz, v.signum());
            }
        }
    }
    let q0 = quant[0];
    let mut out = vec![0u8; k * k];
    folded_samples(k, dc, q0, &sums, &mut out, k);
    out
}

#[test]
fn a_folded_block_is_within_one_of_libjpeg_turbos_reduced_idct() {
    let mut state = 0x5EED_F01D;
    let quant: [u16; 64] = std::array::from_fn(|i| 2 + (i / 8 + i % 8) as u16 * 3);
    let mut differing = 0;
    let mut samples = 0;
    for _ in 0..2000 {
        let block = random_block(&mut state);
        for k in [4usize, 2] {
            let mut exact = [0u8; 16];
            idct(k, &block, &quant, &mut exact, k);
            let ours = folded(k, &block, &quant);
            for (a, b) in ours.iter().zip(&exact) {
                assert!(a.abs_diff(*b) <= 1, "k={k}: {ours:?} vs {exact:?}");
                differing += usize::from(a != b);
                samples += 1;
            }
        }
    }
    // Most samples are libjpeg-turbo's exactly: 3,246 of 40,000 (8.1%)
    // differ by one on these dense blocks (every third coefficient
    // non-zero, far busier than a photo's).
    assert!(differing * 10 < samples, "{differing} of {samples} differ");
}

#[test]
fn corrupt_values_saturate_the_folded_sums() {
    let weights = Weights::new(4, &[u16::MAX; 64]);
    let (mut dc, mut history, mut negative) = (0i16, 0u64, 0u64);
    let mut sums = [0i16; 16];
    let mut b = FoldedBlock {
        dc: &mut dc,
        sums: &mut sums,
        history: &mut history,
        negative: &mut negative,
        weights: &weights,
    };
    for _ in 0..4 {
        for zz in 1..64 {
            b.set(zz, i16::MIN);
            b.refine(zz, 1 << 14);
        }
    }
    b.set(0, i16::MIN);
    let mut out = [0u8; 16];
    folded_samples(4, dc, u16::MAX, &sums, &mut out, 4);
    assert!(sums.iter().any(|&s| s == i16::MIN || s == i16::MAX));
}
