//! Whole-file structure checks of JPEG and PNG, fed chunk by chunk.
//!
//! Why: most JPEG decoders (zune-jpeg, jpeg-decoder, libjpeg-turbo) decode a
//! file cut short without an error, filling the missing part with grey, and
//! a PDF reader shows an embedded JPEG the same way. The only reliable sign
//! of a cut photo is its structure: a JPEG ends with an end-of-image marker
//! (EOI) after its entropy-coded data, a PNG with an `IEND` chunk. One
//! [`ImageScan`] walks the markers (JPEG) or chunks (PNG) as bytes arrive, in
//! constant memory (a few hundred bytes of frame header at most), so an
//! upload is checked while it is spooled and a fetched photo in one pass
//! that decodes nothing.
//!
//! The JPEG frame header ([`Frame`], with each component's sampling
//! factors) is known as soon as its bytes have passed, so the cost of
//! decoding a photo (`jobs::cost`) can be judged before the rest arrives.
//!
//! Never panics on any input: every read is bounds-checked (fuzzed by the
//! exhaustive-prefix tests below).

/// Which kind of image the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
        }
    }
}

/// A JPEG's frame header (SOFn) with what a decoder sizes its buffers by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The SOF marker's second byte: 0xC0 baseline, 0xC2 progressive, ...
    pub marker: u8,
    pub precision: u8,
    pub width: u32,
    pub height: u32,
    /// Horizontal and vertical sampling factors of each component.
    pub sampling: Vec<(u8, u8)>,
}

impl Frame {
    /// Progressive JPEGs (SOF2, SOF6, SOF10, SOF14) make a decoder keep
    /// every coefficient of the image until the last scan.
    pub fn is_progressive(&self) -> bool {
        matches!(self.marker, 0xC2 | 0xC6 | 0xCA | 0xCE)
    }
}

/// Where a file that ends early was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Before the image data: nothing of the picture can be decoded.
    Headers,
    /// Inside the entropy-coded data, or after a scan without the
    /// end-of-image marker: decoders show the part that arrived and grey.
    ImageData,
}

/// What a finished scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub kind: ImageKind,
    /// Pixel size from the header, when the header arrived whole.
    pub size: Option<(u32, u32)>,
    /// `None` for a whole file; where it was cut otherwise.
    pub cut: Option<Cut>,
}

impl Scanned {
    /// The reason a cut file is shown degraded, or `None` when whole.
    pub fn cut_reason(&self) -> Option<&'static str> {
        match self.cut? {
            Cut::Headers => Some("truncated inside its headers"),
            Cut::ImageData => Some("truncated: decoded partly (no end-of-image marker)"),
        }
    }
}

/// Why the bytes are not a usable JPEG or PNG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("not a JPEG or PNG image")]
    NotAnImage,
    #[error("{0}")]
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Jpeg {
    /// Expecting 0xFF that starts a marker.
    MarkerStart,
    /// After 0xFF: fill bytes or the marker code.
    MarkerCode,
    /// Reading a segment's two length bytes (`got` of them so far).
    Length {
        marker: u8,
        got: u8,
        hi: u8,
    },
    /// Inside a segment's body.
    Body {
        marker: u8,
        left: usize,
    },
    /// Entropy-coded data after a start-of-scan.
    Entropy,
    /// 0xFF inside entropy-coded data.
    EntropyFf,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Png {
    /// Reading a chunk's length and type (8 bytes, `got` so far).
    Head {
        got: u8,
    },
    /// Inside a chunk's data and CRC.
    Data {
        left: u64,
        iend: bool,
        ihdr: bool,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first bytes, until the kind is known.
    Magic,
    Jpeg(Jpeg),
    Png(Png),
}

/// The longest SOF segment: 6 bytes and 3 per component (255 at most).
const MAX_SOF: usize = 6 + 3 * 255;
const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A streaming structure check; see the module documentation.
#[derive(Debug, Clone)]
pub struct ImageScan {
    state: State,
    /// Magic bytes, then the current PNG chunk head or IHDR data, then the
    /// current SOF segment: never more than [`MAX_SOF`] bytes.
    buf: Vec<u8>,
    seen: u64,
    frame: Option<Frame>,
    png_size: Option<(u32, u32)>,
    /// PNG chunks begun.
    chunks: u32,
    /// A JPEG scan or a PNG `IDAT` began: a cut from here on leaves part
    /// of the picture.
    data_started: bool,
}

impl Default for ImageScan {
    fn default() -> Self {
        ImageScan::new()
    }
}

impl ImageScan {
    pub fn new() -> ImageScan {
        ImageScan {
            state: State::Magic,
            buf: Vec::with_capacity(16),
            seen: 0,
            frame: None,
            png_size: None,
            chunks: 0,
            data_started: false,
        }
    }

    /// Scan all of `bytes` at once.
    pub fn whole(bytes: &[u8]) -> Result<Scanned, ScanError> {
        let mut s = ImageScan::new();
        s.feed(bytes)?;
        s.finish()
    }

    /// The frame header of the JPEG `bytes`, reading no further than it.
    pub fn frame_of(bytes: &[u8]) -> Option<Frame> {
        let mut s = ImageScan::new();
        for chunk in bytes.chunks(4096) {
            s.feed(chunk).ok()?;
            if s.frame.is_some() {
                return s.frame;
            }
        }
        None
    }

    /// The JPEG frame header, once it has passed.
    pub fn frame(&self) -> Option<&Frame> {
        self.frame.as_ref()
    }

    /// The kind, once the first bytes have passed.
    pub fn kind(&self) -> Option<ImageKind> {
        match self.state {
            State::Magic => None,
            State::Jpeg(_) => Some(ImageKind::Jpeg),
            State::Png(_) => Some(ImageKind::Png),
        }
    }

    /// Bytes fed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Feed the next bytes of the file.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), ScanError> {
        while !chunk.is_empty() {
            let used = match self.state {
                State::Magic => self.magic(chunk)?,
                State::Jpeg(j) => self.jpeg(j, chunk)?,
                State::Png(p) => self.png(p, chunk)?,
            };
            self.seen += used as u64;
            chunk = &chunk[used..];
        }
        Ok(())
    }

    /// The verdict once every byte was fed.
    pub fn finish(self) -> Result<Scanned, ScanError> {
        let (kind, size, done) = match self.state {
            // Fewer bytes than a JPEG's SOI or a PNG's signature.
            State::Magic => return Err(ScanError::NotAnImage),
            State::Jpeg(j) => (
                ImageKind::Jpeg,
                self.frame.as_ref().map(|f| (f.width, f.height)),
                j == Jpeg::Done,
            ),
            State::Png(p) => (ImageKind::Png, self.png_size, p == Png::Done),
        };
        let in_data = self.data_started;
        let cut = match (done, in_data) {
            (true, _) => None,
            (false, true) => Some(Cut::ImageData),
            (false, false) => Some(Cut::Headers),
        };
        Ok(Scanned { kind, size, cut })
    }

    /// One byte at a time: at most 8 of them pass through here.
    fn magic(&mut self, chunk: &[u8]) -> Result<usize, ScanError> {
        self.buf.push(chunk[0]);
        if self.buf == [0xFF, 0xD8] {
            self.buf.clear();
            self.state = State::Jpeg(Jpeg::MarkerStart);
        } else if self.buf == [0xFF] {
            // Either a JPEG's SOI or nothing known yet.
        } else if !PNG_MAGIC.starts_with(&self.buf) {
            return Err(ScanError::NotAnImage);
        } else if self.buf.len() == PNG_MAGIC.len() {
            self.buf.clear();
            self.state = State::Png(Png::Head { got: 0 });
        }
        Ok(1)
    }

    fn jpeg(&mut self, state: Jpeg, chunk: &[u8]) -> Result<usize, ScanError> {
        let at = self.seen;
        let b = chunk[0];
        let (next, used) = match state {
            Jpeg::MarkerStart => {
                if b != 0xFF {
                    return Err(ScanError::Malformed(format!(
                        "not a readable JPEG (no marker at byte {at})"
                    )));
                }
                (Jpeg::MarkerCode, 1)
            }
            Jpeg::MarkerCode => (self.marker(b)?, 1),
            Jpeg::Length { marker, got: 0, .. } => (
                Jpeg::Length {
                    marker,
                    got: 1,
                    hi: b,
                },
                1,
            ),
            Jpeg::Length { marker, hi, .. } => {
                let len = usize::from(u16::from_be_bytes([hi, b]));
                if len < 2 {
                    return Err(ScanError::Malformed(format!(
                        "not a readable JPEG (segment length {len} at byte {at})"
                    )));
                }
                self.buf.clear();
                (self.body_or_end(marker, len - 2)?, 1)
            }
            Jpeg::Body { marker, left } => {
                let take = left.min(chunk.len());
                if is_sof(marker) && self.buf.len() < MAX_SOF {
                    let keep = take.min(MAX_SOF - self.buf.len());
                    self.buf.extend_from_slice(&chunk[..keep]);
                }
                (self.body_or_end(marker, left - take)?, take)
            }
            Jpeg::Entropy => match chunk.iter().position(|&c| c == 0xFF) {
                Some(i) => (Jpeg::EntropyFf, i + 1),
                None => (Jpeg::Entropy, chunk.len()),
            },
            Jpeg::EntropyFf => match b {
                // Stuffed zero, restart markers, fill: still image data.
                0x00 | 0xD0..=0xD7 => (Jpeg::Entropy, 1),
                0xFF => (Jpeg::EntropyFf, 1),
                // Another marker: tables or the next scan (progressive).
                other => (self.marker(other)?, 1),
            },
            // Bytes after EOI (camera padding, appended data) are ignored.
            Jpeg::Done => (Jpeg::Done, chunk.len()),
        };
        self.state = State::Jpeg(next);
        Ok(used)
    }

    /// The state after marker code `m`.
    fn marker(&mut self, m: u8) -> Result<Jpeg, ScanError> {
        Ok(match m {
            0xFF => Jpeg::MarkerCode,
            0xD9 => {
                if self.frame.is_none() {
                    return Err(ScanError::Malformed(
                        "a JPEG that ends before its frame header".into(),
                    ));
                }
                Jpeg::Done
            }
            0x01 | 0xD0..=0xD7 => Jpeg::MarkerStart,
            0xD8 => {
                return Err(ScanError::Malformed(
                    "not a readable JPEG (a second start-of-image marker)".into(),
                ));
            }
            0x00 => {
                return Err(ScanError::Malformed(format!(
                    "not a readable JPEG (no marker at byte {})",
                    self.seen
                )));
            }
            marker => Jpeg::Length {
                marker,
                got: 0,
                hi: 0,
            },
        })
    }

    /// Inside a segment with `left` bytes to go, or what follows it.
    fn body_or_end(&mut self, marker: u8, left: usize) -> Result<Jpeg, ScanError> {
        if left > 0 {
            return Ok(Jpeg::Body { marker, left });
        }
        if is_sof(marker) {
            if self.frame.is_some() {
                return Err(ScanError::Malformed(
                    "not a readable JPEG (two frame headers)".into(),
                ));
            }
            self.frame = Some(parse_sof(marker, &self.buf)?);
            self.buf = Vec::new();
        }
        if marker == 0xDA {
            if self.frame.is_none() {
                return Err(ScanError::Malformed(
                    "a JPEG without a frame header before its image data".into(),
                ));
            }
            self.data_started = true;
            return Ok(Jpeg::Entropy);
        }
        Ok(Jpeg::MarkerStart)
    }

    fn png(&mut self, state: Png, chunk: &[u8]) -> Result<usize, ScanError> {
        let (next, used) = match state {
            Png::Head { got } => {
                let take = (8 - usize::from(got)).min(chunk.len());
                self.buf.extend_from_slice(&chunk[..take]);
                if self.buf.len() < 8 {
                    (
                        Png::Head {
                            got: self.buf.len() as u8,
                        },
                        take,
                    )
                } else {
                    let len =
                        u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                    let kind = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
                    self.buf.clear();
                    if len > 0x7FFF_FFFF || !kind.iter().all(u8::is_ascii_alphabetic) {
                        return Err(ScanError::Malformed(format!(
                            "not a readable PNG (bad chunk header at byte {})",
                            self.seen
                        )));
                    }
                    let ihdr = &kind == b"IHDR";
                    if (self.chunks == 0) != ihdr {
                        return Err(ScanError::Malformed(
                            "not a readable PNG (IHDR is not the first chunk)".into(),
                        ));
                    }
                    self.chunks += 1;
                    self.data_started |= &kind == b"IDAT";
                    (
                        Png::Data {
                            left: u64::from(len) + 4,
                            iend: &kind == b"IEND",
                            ihdr,
                        },
                        take,
                    )
                }
            }
            Png::Data { left, iend, ihdr } => {
                let take = (left.min(chunk.len() as u64)) as usize;
                if ihdr && self.buf.len() < 8 {
                    let keep = take.min(8 - self.buf.len());
                    self.buf.extend_from_slice(&chunk[..keep]);
                    if self.buf.len() == 8 {
                        let w = u32::from_be_bytes([
                            self.buf[0],
                            self.buf[1],
                            self.buf[2],
                            self.buf[3],
                        ]);
                        let h = u32::from_be_bytes([
                            self.buf[4],
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                        ]);
                        self.png_size = Some((w, h));
                    }
                }
                let left = left - take as u64;
                let next = match (left, iend) {
                    (0, true) => Png::Done,
                    (0, false) => {
                        self.buf.clear();
                        Png::Head { got: 0 }
                    }
                    _ => Png::Data { left, iend, ihdr },
                };
                (next, take)
            }
            Png::Done => (Png::Done, chunk.len()),
        };
        self.state = State::Png(next);
        Ok(used)
    }
}

fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

fn parse_sof(marker: u8, seg: &[u8]) -> Result<Frame, ScanError> {
    let short = || ScanError::Malformed("not a readable JPEG (a short frame header)".into());
    if seg.len() < 6 {
        return Err(short());
    }
    let n = usize::from(seg[5]);
    let comps = seg.get(6..6 + 3 * n).ok_or_else(short)?;
    let sampling: Vec<(u8, u8)> = comps.chunks(3).map(|c| (c[1] >> 4, c[1] & 0x0F)).collect();
    if n == 0
        || sampling
            .iter()
            .any(|&(h, v)| !(1..=4).contains(&h) || !(1..=4).contains(&v))
    {
        return Err(ScanError::Malformed(
            "not a readable JPEG (bad components in its frame header)".into(),
        ));
    }
    let height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
    let width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
    if width == 0 || height == 0 {
        return Err(ScanError::Malformed(format!(
            "not a readable JPEG ({width}x{height} pixels)"
        )));
    }
    Ok(Frame {
        marker,
        precision: seg[0],
        width,
        height,
        sampling,
    })
}

#[cfg(test)]
mod tests;
