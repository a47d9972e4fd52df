use super::*;

/// The per-pixel rules as first written (one output pixel at a time, a
/// branch and a division each): what the straight loops must reproduce to
/// the bit.
mod reference {
    use super::super::{Model, Plane, cmyk_to_rgb, ycc_to_rgb};

    pub fn upsample_row(p: &Plane, y: usize, fancy: bool, out: &mut [u8]) {
        let row = |r: usize| &p.data[r.min(p.rows - 1) * p.stride..][..p.stride];
        let last = p.dh.saturating_sub(1);
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

    pub fn convert(
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
            for (x, px) in line.chunks_exact_mut(ch).enumerate() {
                let s = |i: usize| rows[i][x];
                let rgb = match model {
                    Model::Gray => {
                        px[0] = s(0);
                        continue;
                    }
                    Model::Rgb => [s(0), s(1), s(2)],
                    Model::YCbCr => ycc_to_rgb(s(0), s(1), s(2)),
                    Model::Cmyk { inverted } => cmyk_to_rgb([s(0), s(1), s(2), s(3)], inverted),
                    Model::Ycck => {
                        let [r, g, b] = ycc_to_rgb(s(0), s(1), s(2));
                        cmyk_to_rgb([255 - r, 255 - g, 255 - b, s(3)], true)
                    }
                };
                px.copy_from_slice(&rgb);
            }
        }
    }
}

/// A small deterministic generator (no dependencies in this crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
}

/// A plane of random samples for an output `width` x `height`, `hx` x `vx`
/// pixels per sample, padded as the decoder pads (whole blocks of `k`).
fn random_plane(
    rng: &mut Lcg,
    width: usize,
    height: usize,
    hx: usize,
    vx: usize,
    k: usize,
) -> Plane {
    let dw = width.div_ceil(hx);
    let dh = height.div_ceil(vx);
    let stride = dw.div_ceil(k) * k;
    let rows = dh.div_ceil(k) * k;
    Plane {
        data: (0..stride * rows).map(|_| rng.next() as u8).collect(),
        stride,
        rows,
        dw,
        dh,
        hx,
        vx,
    }
}

#[test]
fn every_row_path_matches_the_per_pixel_rules() {
    let mut rng = Lcg(0x5EED);
    let mut sums = Vec::new();
    for _ in 0..3000 {
        let hx = [1, 2, 4][rng.below(3)];
        let vx = [1, 2, 4][rng.below(3)];
        let k = [1, 2, 4, 8][rng.below(4)];
        let width = 1 + rng.below(70);
        let height = 1 + rng.below(9);
        let fancy = rng.below(2) == 1;
        let p = random_plane(&mut rng, width, height, hx, vx, k);
        // Wider outputs than the plane covers too (the clamped edges).
        for w in [width, width + 1 + rng.below(5)] {
            for y in 0..height + 2 {
                let mut want = vec![0u8; w];
                let mut got = vec![1u8; w];
                reference::upsample_row(&p, y, fancy, &mut want);
                upsample_row(&p, y, fancy, &mut got, &mut sums);
                assert_eq!(
                    got, want,
                    "hx {hx} vx {vx} k {k} dw {} stride {} width {w} row {y} fancy {fancy}",
                    p.dw, p.stride
                );
            }
        }
    }
}

#[test]
fn every_colour_model_matches_the_per_pixel_rules() {
    let mut rng = Lcg(0xC010);
    let models = [
        Model::Gray,
        Model::YCbCr,
        Model::Rgb,
        Model::Cmyk { inverted: true },
        Model::Cmyk { inverted: false },
        Model::Ycck,
    ];
    for _ in 0..300 {
        let model = models[rng.below(models.len())];
        let n = match model {
            Model::Gray => 1,
            Model::Cmyk { .. } | Model::Ycck => 4,
            _ => 3,
        };
        // Across the LANES boundary and not a multiple of it.
        let width = 1 + rng.below(3 * LANES + 7);
        let height = 1 + rng.below(6);
        let fancy = rng.below(2) == 1;
        let k = [1, 2, 4, 8][rng.below(4)];
        let (hc, vc) = [(1, 1), (2, 1), (2, 2), (1, 2)][rng.below(4)];
        let planes: Vec<Plane> = (0..n)
            .map(|i| {
                let (hx, vx) = if i == 0 || i == 3 { (1, 1) } else { (hc, vc) };
                random_plane(&mut rng, width, height, hx, vx, k)
            })
            .collect();
        let len = width * height * model.channels();
        let (mut want, mut got) = (vec![0u8; len], vec![1u8; len]);
        reference::convert(&planes, model, width, height, fancy, &mut want);
        convert(&planes, model, width, height, fancy, &mut got);
        assert_eq!(got, want, "{model:?} {width}x{height} fancy {fancy} k {k}");
    }
}

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
    let mut sums = Vec::new();
    upsample_row(&p, 0, true, &mut out, &mut sums);
    // (3*0+0+1)>>2.. first is the sample; then 3:1 blends; last repeats.
    assert_eq!(out, [0, 25, 75, 125, 175, 200]);
    upsample_row(&p, 0, false, &mut out, &mut sums);
    assert_eq!(out, [0, 0, 100, 100, 200, 200]);
}

#[test]
fn inverted_cmyk_with_no_ink_is_white() {
    assert_eq!(cmyk_to_rgb([255, 255, 255, 255], true), [255, 255, 255]);
    assert_eq!(cmyk_to_rgb([0, 0, 0, 0], false), [255, 255, 255]);
    assert_eq!(cmyk_to_rgb([255, 0, 255, 255], true), [255, 0, 255]);
}
