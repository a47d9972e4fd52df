//! The entropy-coded bit stream and Huffman tables (ITU T.81 Annex C and
//! section F.2.2).
//!
//! Derived from jpeg-decoder 0.3 (`src/huffman.rs`, MIT OR Apache-2.0,
//! Copyright (c) 2016 The jpeg-decoder Developers): the 8-bit lookup table
//! with the `maxcode`/`delta` fallback and the code derivation of Figures
//! C.1 and C.2. Changed here: the reader works on a byte slice and never
//! fails at the end of the data. Like libjpeg it then supplies zero bits,
//! but it records that it did ([`BitReader::overran`]) so that the scan
//! stops and the decode is reported partial instead of decoding garbage.

/// Bits looked up in one step; longer codes take the slow path.
const LUT_BITS: u32 = 8;

/// One Huffman table (a DHT entry), ready for decoding.
#[derive(Clone)]
pub(crate) struct HuffmanTable {
    values: Vec<u8>,
    /// `delta[l]`: index into `values` minus the first code of length l+1.
    delta: [i32; 16],
    /// Largest code of length l+1, or -1 if there is none.
    maxcode: [i32; 16],
    /// (value, code length) for every 8-bit prefix whose code fits in it.
    lut: [(u8, u8); 1 << LUT_BITS],
}

impl HuffmanTable {
    /// Build a table from the DHT's 16 code-length counts and its values.
    /// `None` when the counts describe more codes than fit their lengths.
    pub(crate) fn new(counts: &[u8; 16], values: &[u8]) -> Option<HuffmanTable> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total != values.len() || total == 0 || total > 256 {
            return None;
        }
        // Figures C.1 and C.2: sizes and codes in order.
        let mut codes = Vec::with_capacity(total);
        let mut code = 0u32;
        for (len_minus_1, &count) in counts.iter().enumerate() {
            let len = len_minus_1 as u32 + 1;
            for _ in 0..count {
                if code >= 1 << len {
                    return None;
                }
                codes.push((code, len));
                code += 1;
            }
            code <<= 1;
        }
        let mut delta = [0i32; 16];
        let mut maxcode = [-1i32; 16];
        let mut lut = [(0u8, 0u8); 1 << LUT_BITS];
        let mut j = 0usize;
        for (l, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            delta[l] = j as i32 - codes[j].0 as i32;
            j += usize::from(count);
            maxcode[l] = codes[j - 1].0 as i32;
        }
        for (i, &(code, len)) in codes.iter().enumerate() {
            if len <= LUT_BITS {
                let spare = LUT_BITS - len;
                let start = (code << spare) as usize;
                for slot in &mut lut[start..start + (1 << spare)] {
                    *slot = (values[i], len as u8);
                }
            }
        }
        Some(HuffmanTable {
            values: values.to_vec(),
            delta,
            maxcode,
            lut,
        })
    }
}

/// A bad Huffman code: the entropy-coded data is corrupt.
#[derive(Debug)]
pub(crate) struct BadCode;

/// Reads the entropy-coded segment of one scan, bit by bit, stopping at the
/// first marker (or the end of the data) and never reading past it.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load; at a marker, the position of its 0xFF.
    pos: usize,
    /// Loaded bits, left-aligned.
    bits: u64,
    nbits: u32,
    /// A marker (or the end of the data) has been reached: no more bytes.
    stopped: bool,
    overran: bool,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            bits: 0,
            nbits: 0,
            stopped: false,
            overran: false,
        }
    }

    /// Where the bytes not yet loaded start (at a marker once stopped).
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// More bits were consumed than the segment holds: what was decoded
    /// from then on came from zero padding.
    pub(crate) fn overran(&self) -> bool {
        self.overran
    }

    fn fill(&mut self) {
        while self.nbits <= 56 && !self.stopped {
            let Some(&byte) = self.data.get(self.pos) else {
                self.stopped = true;
                return;
            };
            if byte != 0xFF {
                self.pos += 1;
                self.push(byte);
                continue;
            }
            // 0xFF: a stuffed data byte (FF 00), or fill bytes and a marker
            // (libjpeg's reading: any run of FF, then 00 means data).
            let mut next = self.pos + 1;
            while self.data.get(next) == Some(&0xFF) {
                next += 1;
            }
            match self.data.get(next) {
                Some(0) => {
                    self.pos = next + 1;
                    self.push(0xFF);
                }
                Some(_) => {
                    self.pos = next - 1;
                    self.stopped = true;
                }
                None => {
                    self.pos = self.data.len();
                    self.stopped = true;
                }
            }
        }
    }

    fn push(&mut self, byte: u8) {
        self.bits |= u64::from(byte) << (56 - self.nbits);
        self.nbits += 8;
    }

    fn peek(&mut self, count: u32) -> u32 {
        debug_assert!((1..=16).contains(&count));
        if self.nbits < count {
            self.fill();
        }
        // Missing bits read as zeros, as libjpeg supplies them.
        (self.bits >> (64 - count)) as u32
    }

    fn consume(&mut self, count: u32) {
        if count > self.nbits {
            self.overran = true;
            self.bits = 0;
            self.nbits = 0;
        } else {
            self.bits <<= count;
            self.nbits -= count;
        }
    }

    /// `count` (0..=16) raw bits.
    pub(crate) fn bits(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        let v = self.peek(count);
        self.consume(count);
        v
    }

    /// One bit, as a bool.
    pub(crate) fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    /// `count` bits as a signed value (F.2.2.1, EXTEND).
    pub(crate) fn receive_extend(&mut self, count: u32) -> i32 {
        if count == 0 {
            return 0;
        }
        let v = self.bits(count) as i32;
        if v < 1 << (count - 1) {
            v - (1 << count) + 1
        } else {
            v
        }
    }

    /// Decode one Huffman symbol.
    pub(crate) fn decode(&mut self, table: &HuffmanTable) -> Result<u8, BadCode> {
        let prefix = self.peek(16);
        let (value, len) = table.lut[(prefix >> (16 - LUT_BITS)) as usize];
        if len > 0 {
            self.consume(u32::from(len));
            return Ok(value);
        }
        for l in LUT_BITS..16 {
            let code = (prefix >> (15 - l)) as i32;
            if code <= table.maxcode[l as usize] {
                self.consume(l + 1);
                let index = code + table.delta[l as usize];
                return table.values.get(index as usize).copied().ok_or(BadCode);
            }
        }
        Err(BadCode)
    }

    /// At a restart interval's end: drop the padding bits, skip to the next
    /// marker and, if it is RSTn, step over it. Returns the marker's number
    /// (0..=7), or `None` when the next marker is not a restart (the scan's
    /// data ended early).
    pub(crate) fn restart(&mut self) -> Option<u8> {
        self.bits = 0;
        self.nbits = 0;
        // Garbage before the marker is discarded, as libjpeg does.
        while !self.stopped {
            self.fill();
            self.bits = 0;
            self.nbits = 0;
        }
        let marker = *self.data.get(self.pos + 1)?;
        if (0xD0..=0xD7).contains(&marker) {
            self.pos += 2;
            self.stopped = false;
            Some(marker - 0xD0)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffed_bytes_are_data_and_a_marker_stops_the_reader() {
        let data = [0xFF, 0x00, 0xA5, 0xFF, 0xD9];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.bits(8), 0xFF);
        assert_eq!(r.bits(8), 0xA5);
        assert!(!r.overran());
        assert_eq!(r.bits(4), 0, "zeros after the marker");
        assert!(r.overran());
        assert_eq!(r.position(), 3, "stopped at the marker's 0xFF");
    }

    #[test]
    fn codes_of_every_length_decode() {
        // One code of each length 1..=16 except the last slot: 0, 10, 110, ...
        let mut counts = [1u8; 16];
        counts[15] = 1;
        let values: Vec<u8> = (0..16).collect();
        let t = HuffmanTable::new(&counts, &values).unwrap();
        // Length 12: eleven 1s then a 0.
        let data = [0xFF, 0x00, 0xE0, 0x00];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.decode(&t).unwrap(), 11);
        assert_eq!(r.decode(&t).unwrap(), 0);
    }

    #[test]
    fn oversubscribed_counts_are_refused() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(HuffmanTable::new(&counts, &[1, 2, 3]).is_none());
    }

    #[test]
    fn restart_steps_over_rst_and_reports_its_number() {
        let data = [0b1010_1111, 0xFF, 0xD3, 0x80];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.bits(4), 0b1010);
        assert_eq!(r.restart(), Some(3));
        assert!(r.bit());
    }
}
