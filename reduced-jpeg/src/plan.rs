//! Geometry of a scaled decode, from the frame header alone: the output
//! size, how many coefficients each component keeps, the planes and their
//! upsampling, and from those the bytes the decode holds.

use crate::header::Frame;
use crate::store::Store;
use crate::{Error, Keep};

/// One component's share of the decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompGeom {
    /// Coefficients kept per block side, and samples per block side out of
    /// the IDCT (1, 2, 4 or 8).
    pub k: usize,
    /// Blocks across and down, padded to whole MCUs.
    pub bw: usize,
    pub bh: usize,
    /// Real samples across and down after the IDCT.
    pub dw: usize,
    pub dh: usize,
    /// Output pixels per sample across and down.
    pub hx: usize,
    pub vx: usize,
}

/// The whole decode's geometry at one scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub width: usize,
    pub height: usize,
    pub comps: Vec<CompGeom>,
    /// libjpeg's triangle upsampling applies (more than one sample per block).
    pub fancy: bool,
}

/// Fixed-size state not proportional to the image: Huffman and quantisation
/// tables, and up to three folded components' weights (12 KiB each: i64
/// and i32 copies); row scratch is counted separately. An allowance,
/// rounded up.
const FIXED_BYTES: u64 = 48 * 1024;

impl Geometry {
    pub(crate) fn new(frame: &Frame, scale_denom: u8) -> Result<Geometry, Error> {
        let k = match scale_denom {
            1 | 2 | 4 | 8 => 8 / usize::from(scale_denom),
            d => return Err(Error::InvalidScale(d)),
        };
        let (w, h) = (usize::from(frame.width), usize::from(frame.height));
        let (hmax, vmax) = (frame.h_max(), frame.v_max());
        let (mcus_x, mcus_y) = frame.mcus();
        let comps = frame
            .components
            .iter()
            .map(|c| {
                let (ch, cv) = (usize::from(c.h), usize::from(c.v));
                // jdmaster.c: a subsampled component gets a larger IDCT
                // instead of upsampling where the ratio is a power of two
                // (4:2:0 chroma at 1/4 is decoded at 4x4 per block).
                let mut kc = k;
                while kc < 8 && (hmax * k) % (ch * kc * 2) == 0 && (vmax * k) % (cv * kc * 2) == 0 {
                    kc *= 2;
                }
                let (h_in, v_in) = (ch * kc / k, cv * kc / k);
                if h_in == 0 || v_in == 0 || hmax % h_in != 0 || vmax % v_in != 0 {
                    return Err(Error::Unsupported("fractional sampling-factor ratios"));
                }
                Ok(CompGeom {
                    k: kc,
                    bw: mcus_x * ch,
                    bh: mcus_y * cv,
                    dw: (w * ch * kc).div_ceil(hmax * 8),
                    dh: (h * cv * kc).div_ceil(vmax * 8),
                    hx: hmax / h_in,
                    vx: vmax / v_in,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Geometry {
            width: (w * k).div_ceil(8),
            height: (h * k).div_ceil(8),
            comps,
            fancy: k > 1,
        })
    }

    /// Bytes of one component's store of coefficients (`store::Store`).
    pub(crate) fn coefficient_bytes(c: &CompGeom, keep: Keep) -> u64 {
        (c.bw * c.bh * Store::bytes_per_block(keep, c.k)) as u64
    }

    /// Bytes of one component's plane of IDCT output.
    pub(crate) fn plane_bytes(c: &CompGeom) -> u64 {
        (c.bw * c.k * c.bh * c.k) as u64
    }

    /// The most the decode holds at once, in bytes: for a progressive
    /// image, while the planes are filled, the coefficients of the
    /// components not yet done and the planes made so far (each
    /// component's coefficients are freed once its plane is filled), then
    /// the planes, the output and a row per component; for a sequential
    /// one, planes filled block by block, then the same conversion.
    pub(crate) fn held_bytes(&self, progressive: bool, channels: usize, keep: Keep) -> u64 {
        let planes: u64 = self.comps.iter().map(Self::plane_bytes).sum();
        let output = (self.width * self.height * channels) as u64;
        let rows = (self.comps.len() * self.width) as u64;
        let converting = planes + output + rows;
        let filling = if progressive {
            // Component i's plane is made once the coefficients of the
            // ones before it are freed (`decoder::finish`).
            (0..self.comps.len())
                .map(|i| {
                    let made: u64 = self.comps[..=i].iter().map(Self::plane_bytes).sum();
                    let stored: u64 = self.comps[i..]
                        .iter()
                        .map(|c| Self::coefficient_bytes(c, keep))
                        .sum();
                    made + stored
                })
                .max()
                .unwrap_or(0)
        } else {
            planes
        };
        FIXED_BYTES + filling.max(converting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Component;

    fn frame(w: u16, h: u16, sampling: &[(u8, u8)]) -> Frame {
        Frame {
            width: w,
            height: h,
            progressive: true,
            components: sampling
                .iter()
                .enumerate()
                .map(|(i, &(h, v))| Component {
                    id: i as u8 + 1,
                    h,
                    v,
                    tq: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn chroma_of_420_at_a_quarter_is_a_4x4_idct_without_upsampling() {
        let g = Geometry::new(&frame(1001, 667, &[(2, 2), (1, 1), (1, 1)]), 4).unwrap();
        assert_eq!((g.width, g.height), (251, 167));
        assert_eq!((g.comps[0].k, g.comps[0].hx, g.comps[0].vx), (2, 1, 1));
        assert_eq!((g.comps[1].k, g.comps[1].hx, g.comps[1].vx), (4, 1, 1));
        assert_eq!((g.comps[1].dw, g.comps[1].dh), (251, 167));
        // 4:2:2 cannot double both ways: 2x2 IDCT and 2x horizontal upsampling.
        let g = Geometry::new(&frame(64, 64, &[(2, 1), (1, 1), (1, 1)]), 4).unwrap();
        assert_eq!((g.comps[1].k, g.comps[1].hx, g.comps[1].vx), (2, 2, 1));
    }

    #[test]
    fn held_bytes_of_a_progressive_444_photo_at_a_quarter() {
        // 5760x3840, 4:4:4: 345,600 blocks per component.
        let g = Geometry::new(&frame(5760, 3840, &[(1, 1), (1, 1), (1, 1)]), 4).unwrap();
        let floor = 3 * 345_600 * 128;
        // DC, 2x2 folded sums, history and sign masks.
        let coefs = 3 * 345_600 * (2 + 8 + 8 + 8);
        // Filling the first plane: every component's coefficients and one
        // plane (the later steps hold less).
        let plane = 1440 * 960;
        assert_eq!(
            g.held_bytes(true, 3, Keep::Reduced),
            FIXED_BYTES + coefs + plane
        );
        assert!(g.held_bytes(true, 3, Keep::Reduced) * 4 < floor);
    }

    #[test]
    fn scales_other_than_1_2_4_8_are_refused() {
        let f = frame(8, 8, &[(1, 1)]);
        assert!(matches!(Geometry::new(&f, 3), Err(Error::InvalidScale(3))));
    }
}
