//! Decoding the entropy-coded data of one scan (ITU T.81 F.2 and G.1.2):
//! baseline/extended sequential blocks, and progressive DC first/refine and
//! AC first/refine scans with EOB runs, with restart intervals.
//!
//! The block-level logic follows jpeg-decoder 0.3 (`src/decoder.rs`,
//! `decode_block`, `decode_block_successive_approximation`,
//! `refine_non_zeroes`; MIT OR Apache-2.0, Copyright (c) 2016 The
//! jpeg-decoder Developers) and libjpeg's jdphuff.c, rewritten to work on a
//! [`Block`] of a reduced store (`store`): a refinement pass needs to know
//! which coefficients are non-zero and nothing else to parse (a coefficient
//! with history takes one correction bit, one without counts towards the
//! zero run); what a value or a correction bit does is the store's.

use crate::header::{Frame, Scan, Tables, UNZIGZAG};
use crate::huffman::{BadCode, BitReader, HuffmanTable};
use crate::store::Block;

/// Why a scan stopped before its last MCU.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The data ended, a Huffman code was invalid, or a restart marker was
    /// missing: what follows in this scan is lost.
    Corrupt,
}

impl From<BadCode> for Stop {
    fn from(_: BadCode) -> Stop {
        Stop::Corrupt
    }
}

/// Per-scan decoding state shared by the block decoders.
pub(crate) struct ScanState<'t> {
    pub scan: &'t Scan,
    pub dc: Vec<Option<&'t HuffmanTable>>,
    pub ac: Vec<Option<&'t HuffmanTable>>,
    pub pred: [i32; 4],
    pub eobrun: u32,
}

impl<'t> ScanState<'t> {
    pub(crate) fn new(scan: &'t Scan, tables: &'t Tables) -> ScanState<'t> {
        ScanState {
            scan,
            dc: scan
                .components
                .iter()
                .map(|s| tables.dc[s.dc_table].as_ref())
                .collect(),
            ac: scan
                .components
                .iter()
                .map(|s| tables.ac[s.ac_table].as_ref())
                .collect(),
            pred: [0; 4],
            eobrun: 0,
        }
    }

    /// A sequential block, all 64 coefficients in natural order.
    pub(crate) fn sequential(
        &mut self,
        r: &mut BitReader,
        i: usize,
        block: &mut [i16; 64],
    ) -> Result<(), Stop> {
        let (dc, ac) = (
            self.dc[i].ok_or(Stop::Corrupt)?,
            self.ac[i].ok_or(Stop::Corrupt)?,
        );
        *block = [0; 64];
        let s = r.decode(dc)?;
        if s > 15 {
            return Err(Stop::Corrupt);
        }
        self.pred[i] = self.pred[i].wrapping_add(r.receive_extend(u32::from(s)));
        block[0] = self.pred[i] as i16;
        let mut k = 1;
        while k < 64 {
            let rs = r.decode(ac)?;
            let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += run;
            if k > 63 {
                return Err(Stop::Corrupt);
            }
            block[usize::from(UNZIGZAG[k])] = r.receive_extend(size) as i16;
            k += 1;
        }
        Ok(())
    }

    /// One block of a progressive scan.
    pub(crate) fn progressive(
        &mut self,
        r: &mut BitReader,
        i: usize,
        b: &mut impl Block,
    ) -> Result<(), Stop> {
        let (ss, se, ah, al) = (
            usize::from(self.scan.ss),
            usize::from(self.scan.se),
            self.scan.ah,
            self.scan.al,
        );
        if ss == 0 {
            if ah == 0 {
                let s = r.decode(self.dc[i].ok_or(Stop::Corrupt)?)?;
                if s > 15 {
                    return Err(Stop::Corrupt);
                }
                self.pred[i] = self.pred[i].wrapping_add(r.receive_extend(u32::from(s)));
                b.set(0, (self.pred[i] << al) as i16);
            } else if r.bit() {
                b.refine_dc(al);
            }
            return Ok(());
        }
        let ac = self.ac[i].ok_or(Stop::Corrupt)?;
        if ah == 0 {
            self.ac_first(r, ac, b, ss, se, al)
        } else {
            self.ac_refine(r, ac, b, ss, se, al)
        }
    }

    fn ac_first(
        &mut self,
        r: &mut BitReader,
        ac: &HuffmanTable,
        b: &mut impl Block,
        ss: usize,
        se: usize,
        al: u8,
    ) -> Result<(), Stop> {
        if self.eobrun > 0 {
            self.eobrun -= 1;
            return Ok(());
        }
        let mut k = ss;
        while k <= se {
            let rs = r.decode(ac)?;
            let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run < 15 {
                    // EOBn: this block and 2^n - 1 + (n bits) more end here.
                    self.eobrun = (1 << run) - 1 + r.bits(run);
                    break;
                }
                k += 16;
                continue;
            }
            k += run as usize;
            if k > 63 {
                return Err(Stop::Corrupt);
            }
            b.set(k, (r.receive_extend(size) << al) as i16);
            k += 1;
        }
        Ok(())
    }

    fn ac_refine(
        &mut self,
        r: &mut BitReader,
        ac: &HuffmanTable,
        b: &mut impl Block,
        ss: usize,
        se: usize,
        al: u8,
    ) -> Result<(), Stop> {
        let p1: i16 = 1 << al;
        let mut k = ss;
        if self.eobrun == 0 {
            while k <= se {
                let rs = r.decode(ac)?;
                let (mut run, size) = (i32::from(rs >> 4), rs & 15);
                let mut value = 0i16;
                if size != 0 {
                    // Only magnitude 1 is valid here; libjpeg warns and
                    // goes on, reading the sign bit either way.
                    if size != 1 {
                        return Err(Stop::Corrupt);
                    }
                    value = if r.bit() { p1 } else { p1.wrapping_neg() };
                } else if run != 15 {
                    self.eobrun = (1 << run) + r.bits(run as u32);
                    break;
                }
                // Step over `run` coefficients without history, refining the
                // ones with history on the way; land on the next zero.
                while k <= se {
                    if b.nonzero(k) {
                        if r.bit() {
                            b.refine(k, p1);
                        }
                    } else {
                        if run == 0 {
                            break;
                        }
                        run -= 1;
                    }
                    k += 1;
                }
                if value != 0 && k <= se {
                    b.set(k, value);
                }
                k += 1;
            }
        }
        if self.eobrun > 0 {
            // In an EOB run: only refinement bits for coefficients with
            // history, in zigzag order. Visiting only the set bits of the
            // history mask (most of a block's 63 are zero) instead of every
            // position was a sixth of a 1/2 decode's time.
            if k <= se {
                let upto = if se >= 63 {
                    u64::MAX
                } else {
                    (1u64 << (se + 1)) - 1
                };
                let mut pending = b.nonzero_mask() & upto & !((1u64 << k) - 1);
                while pending != 0 {
                    let zz = pending.trailing_zeros() as usize;
                    if r.bit() {
                        b.refine(zz, p1);
                    }
                    pending &= pending - 1;
                }
            }
            self.eobrun -= 1;
        }
        Ok(())
    }

    pub(crate) fn reset(&mut self) {
        self.pred = [0; 4];
        self.eobrun = 0;
    }
}

/// Walk the scan's blocks in stream order, calling `block(state, reader,
/// scan component, block x, block y)` for each, and handling restart
/// intervals. Blocks of a non-interleaved scan cover the component's own
/// extent; an interleaved scan's MCUs cover the padded frame (A.2).
pub(crate) fn for_each_block(
    frame: &Frame,
    state: &mut ScanState,
    r: &mut BitReader,
    restart_interval: u16,
    mut block: impl FnMut(&mut ScanState, &mut BitReader, usize, usize, usize) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let scan = state.scan;
    let (mcus_x, mcus_y) = if scan.components.len() == 1 {
        let c = frame.components[scan.components[0].index];
        let w = (usize::from(frame.width) * usize::from(c.h)).div_ceil(frame.h_max());
        let h = (usize::from(frame.height) * usize::from(c.v)).div_ceil(frame.v_max());
        (w.div_ceil(8), h.div_ceil(8))
    } else {
        frame.mcus()
    };
    let interval = usize::from(restart_interval);
    let mut expected_rst = 0u8;
    for mcu in 0..mcus_x * mcus_y {
        if interval > 0 && mcu > 0 && mcu % interval == 0 {
            match r.restart() {
                Some(n) if n == expected_rst => {}
                _ => return Err(Stop::Corrupt),
            }
            expected_rst = (expected_rst + 1) % 8;
            state.reset();
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        if scan.components.len() == 1 {
            block(state, r, 0, mx, my)?;
        } else {
            for (i, s) in scan.components.iter().enumerate() {
                let c = frame.components[s.index];
                let (h, v) = (usize::from(c.h), usize::from(c.v));
                for by in 0..v {
                    for bx in 0..h {
                        block(state, r, i, mx * h + bx, my * v + by)?;
                    }
                }
            }
        }
        if r.overran() {
            return Err(Stop::Corrupt);
        }
    }
    Ok(())
}
