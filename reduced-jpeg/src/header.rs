//! Markers and the segments that describe the image (ITU T.81 Annex B):
//! the frame (SOF), scans (SOS), tables (DQT, DHT), the restart interval
//! (DRI), and the application segments that change how pixels are read
//! (JFIF, Adobe APP14's colour transform, EXIF orientation).

use crate::Error;
use crate::huffman::HuffmanTable;

/// Natural (row-major) index of the coefficient at each zigzag position.
pub(crate) const UNZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One colour component of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    /// Horizontal sampling factor (1..=4).
    pub h: u8,
    /// Vertical sampling factor (1..=4).
    pub v: u8,
    /// Quantisation table slot (0..=3).
    pub tq: u8,
}

/// The frame header (SOF0, SOF1 or SOF2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u16,
    pub height: u16,
    pub progressive: bool,
    pub components: Vec<Component>,
}

impl Frame {
    pub fn h_max(&self) -> usize {
        self.components
            .iter()
            .map(|c| usize::from(c.h))
            .max()
            .unwrap_or(1)
    }
    pub fn v_max(&self) -> usize {
        self.components
            .iter()
            .map(|c| usize::from(c.v))
            .max()
            .unwrap_or(1)
    }
    /// MCUs across and down for interleaved scans.
    pub fn mcus(&self) -> (usize, usize) {
        (
            usize::from(self.width).div_ceil(8 * self.h_max()),
            usize::from(self.height).div_ceil(8 * self.v_max()),
        )
    }
}

/// One component's part in a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanComponent {
    /// Index into the frame's components.
    pub index: usize,
    pub dc_table: usize,
    pub ac_table: usize,
}

/// A scan header (SOS).
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    pub components: Vec<ScanComponent>,
    /// Spectral selection start and end (zigzag positions).
    pub ss: u8,
    pub se: u8,
    /// Successive approximation: bit position high (0 on a first scan) and low.
    pub ah: u8,
    pub al: u8,
}

/// Every marker segment's effect on decoding, kept while reading the file.
#[derive(Default)]
pub(crate) struct Tables {
    /// Quantisation tables in natural order.
    pub quant: [Option<[u16; 64]>; 4],
    pub dc: [Option<HuffmanTable>; 4],
    pub ac: [Option<HuffmanTable>; 4],
    /// MCUs per restart interval (0: none).
    pub restart_interval: u16,
    pub jfif: bool,
    /// The Adobe APP14 segment's transform flag, when present.
    pub adobe_transform: Option<u8>,
    /// EXIF orientation (1..=8), when present and valid.
    pub orientation: Option<u8>,
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed(what)
}

/// Read a big-endian u16 at `pos`.
pub(crate) fn be16(data: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(pos)?, *data.get(pos + 1)?]))
}

/// The body of the marker segment whose length field is at `pos`, and the
/// position after it.
pub(crate) fn segment(data: &[u8], pos: usize) -> Result<(&[u8], usize), Error> {
    let len = usize::from(be16(data, pos).ok_or(Error::Truncated)?);
    if len < 2 {
        return Err(malformed("marker segment length under 2"));
    }
    let body = data.get(pos + 2..pos + len).ok_or(Error::Truncated)?;
    Ok((body, pos + len))
}

/// Position of the next marker's code byte at or after `pos` (skipping
/// stuffed bytes, restart markers of a scan and fill bytes), or `None` at the
/// end of the data.
pub(crate) fn next_marker(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let ff = pos + data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        let mut code = ff + 1;
        while data.get(code) == Some(&0xFF) {
            code += 1;
        }
        match *data.get(code)? {
            0x00 | 0xD0..=0xD7 => pos = code + 1,
            _ => return Some(code),
        }
    }
}

/// Parse SOF0/1/2. Everything this decoder does not do is `Unsupported`.
pub(crate) fn parse_frame(body: &[u8], progressive: bool) -> Result<Frame, Error> {
    if body.len() < 6 {
        return Err(Error::Truncated);
    }
    if body[0] != 8 {
        return Err(Error::Unsupported("sample precision other than 8 bits"));
    }
    let height = u16::from_be_bytes([body[1], body[2]]);
    let width = u16::from_be_bytes([body[3], body[4]]);
    if height == 0 {
        return Err(Error::Unsupported("height given by a DNL marker"));
    }
    if width == 0 {
        return Err(malformed("zero width"));
    }
    let n = usize::from(body[5]);
    if !matches!(n, 1 | 3 | 4) {
        return Err(Error::Unsupported("component count other than 1, 3 or 4"));
    }
    if body.len() < 6 + 3 * n {
        return Err(Error::Truncated);
    }
    let mut components: Vec<Component> = Vec::with_capacity(n);
    for c in body[6..6 + 3 * n].chunks_exact(3) {
        let (h, v, tq) = (c[1] >> 4, c[1] & 15, c[2]);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(malformed("sampling factor outside 1..=4"));
        }
        if tq > 3 {
            return Err(malformed("quantisation table slot over 3"));
        }
        if components.iter().any(|o| o.id == c[0]) {
            return Err(malformed("two components with one id"));
        }
        components.push(Component { id: c[0], h, v, tq });
    }
    Ok(Frame {
        width,
        height,
        progressive,
        components,
    })
}

/// Parse a DQT segment into `tables` (it may hold several tables).
pub(crate) fn parse_dqt(body: &[u8], tables: &mut Tables) -> Result<(), Error> {
    let mut rest = body;
    while let Some((&pq_tq, after)) = rest.split_first() {
        let (precision, slot) = (pq_tq >> 4, usize::from(pq_tq & 15));
        if slot > 3 || precision > 1 {
            return Err(malformed("DQT slot over 3 or precision over 16 bits"));
        }
        let size = if precision == 0 { 64 } else { 128 };
        let values = after.get(..size).ok_or(Error::Truncated)?;
        let mut table = [0u16; 64];
        for (zz, &natural) in UNZIGZAG.iter().enumerate() {
            table[usize::from(natural)] = if precision == 0 {
                u16::from(values[zz])
            } else {
                u16::from_be_bytes([values[2 * zz], values[2 * zz + 1]])
            };
        }
        tables.quant[slot] = Some(table);
        rest = &after[size..];
    }
    Ok(())
}

/// Parse a DHT segment into `tables` (it may hold several tables).
pub(crate) fn parse_dht(body: &[u8], tables: &mut Tables) -> Result<(), Error> {
    let mut rest = body;
    while let Some((&tc_th, after)) = rest.split_first() {
        let (class, slot) = (tc_th >> 4, usize::from(tc_th & 15));
        if class > 1 || slot > 3 {
            return Err(malformed("DHT class over 1 or slot over 3"));
        }
        let counts: [u8; 16] = after
            .get(..16)
            .ok_or(Error::Truncated)?
            .try_into()
            .map_err(|_| Error::Truncated)?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = after.get(16..16 + total).ok_or(Error::Truncated)?;
        let table =
            HuffmanTable::new(&counts, values).ok_or(malformed("invalid Huffman code lengths"))?;
        if class == 0 {
            tables.dc[slot] = Some(table);
        } else {
            tables.ac[slot] = Some(table);
        }
        rest = &after[16 + total..];
    }
    Ok(())
}

/// Parse an SOS header against the frame.
pub(crate) fn parse_sos(body: &[u8], frame: &Frame) -> Result<Scan, Error> {
    let n = usize::from(*body.first().ok_or(Error::Truncated)?);
    if !(1..=4).contains(&n) || body.len() < 1 + 2 * n + 3 {
        return Err(malformed("SOS component count or length"));
    }
    let mut components: Vec<ScanComponent> = Vec::with_capacity(n);
    for c in body[1..1 + 2 * n].chunks_exact(2) {
        let index = frame
            .components
            .iter()
            .position(|fc| fc.id == c[0])
            .ok_or(malformed("SOS names a component not in the frame"))?;
        if components.iter().any(|s| s.index == index) {
            return Err(malformed("SOS names a component twice"));
        }
        let (dc_table, ac_table) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        if dc_table > 3 || ac_table > 3 {
            return Err(malformed("SOS Huffman table slot over 3"));
        }
        components.push(ScanComponent {
            index,
            dc_table,
            ac_table,
        });
    }
    let p = 1 + 2 * n;
    let (ss, se, ah, al) = (body[p], body[p + 1], body[p + 2] >> 4, body[p + 2] & 15);
    if frame.progressive {
        // G.1.1.1.1: DC and AC never share a scan; AC scans hold one component.
        let valid = ss <= se && se <= 63 && (ss > 0 || se == 0) && (ss == 0 || n == 1);
        if !valid || al > 13 || ah > 13 {
            return Err(malformed("progressive scan parameters"));
        }
    } else if n > 1 {
        // Interleaved sequential scans: the MCU must fit in 10 blocks.
        let blocks: usize = components
            .iter()
            .map(|s| {
                let c = frame.components[s.index];
                usize::from(c.h) * usize::from(c.v)
            })
            .sum();
        if blocks > 10 {
            return Err(malformed("more than 10 blocks in an MCU"));
        }
    }
    Ok(Scan {
        components,
        ss,
        se,
        ah,
        al,
    })
}

/// Read an APPn segment's effect: JFIF (APP0), EXIF orientation (APP1),
/// Adobe's colour transform (APP14).
pub(crate) fn parse_app(marker: u8, body: &[u8], tables: &mut Tables) {
    match marker {
        0xE0 if body.starts_with(b"JFIF\0") => tables.jfif = true,
        0xE1 if body.starts_with(b"Exif\0\0") => {
            if let Some(o) = exif_orientation(&body[6..]) {
                tables.orientation = Some(o);
            }
        }
        0xEE if body.len() >= 12 && body.starts_with(b"Adobe") => {
            tables.adobe_transform = Some(body[11]);
        }
        _ => {}
    }
}

/// The Orientation tag (0x0112) of IFD0 of a TIFF structure, if valid.
pub(crate) fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let big = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |p: usize| -> Option<u16> {
        let b = [*tiff.get(p)?, *tiff.get(p + 1)?];
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |p: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(p..p + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries).find_map(|i| {
        let e = ifd.checked_add(2 + 12 * i)?;
        // Tag 0x0112, type SHORT (3): the value sits in the entry itself.
        if u16_at(e)? != 0x0112 || u16_at(e + 2)? != 3 {
            return None;
        }
        let v = u16_at(e + 8)?;
        (1..=8).contains(&v).then_some(v as u8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_is_read_in_both_byte_orders() {
        let le = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0";
        assert_eq!(exif_orientation(le), Some(6));
        let be = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0";
        assert_eq!(exif_orientation(be), Some(8));
        // Out of range values and truncated entries are ignored.
        let bad = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x09\0\0\0";
        assert_eq!(exif_orientation(bad), None);
        assert_eq!(exif_orientation(&le[..15]), None);
    }

    #[test]
    fn next_marker_skips_stuffing_restarts_and_fill_bytes() {
        let data = [1, 0xFF, 0x00, 2, 0xFF, 0xD2, 3, 0xFF, 0xFF, 0xDA];
        assert_eq!(next_marker(&data, 0), Some(9));
        assert_eq!(next_marker(&data[..9], 0), None);
    }

    #[test]
    fn twelve_bit_frames_are_unsupported() {
        let body = [12, 0, 8, 0, 8, 1, 1, 0x11, 0];
        assert!(matches!(
            parse_frame(&body, false),
            Err(Error::Unsupported(_))
        ));
    }
}
