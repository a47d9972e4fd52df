//! The marker loop: reads segments in order, allocates once the frame is
//! known (after checking the size against the cap), decodes each scan into
//! the reduced coefficients (progressive) or straight into the planes
//! (sequential), then turns the planes into pixels.
//!
//! Damage policy: anything wrong before the first scan is an [`Error`];
//! once a scan has been decoded, damage (bad entropy data, a missing
//! restart marker, a broken segment, the data ending before EOI) stops
//! what it touches and the result is returned with `partial = true`, as
//! libjpeg warns and goes on.

use crate::color::{self, Model, Plane};
use crate::header::{self, Frame, Tables};
use crate::huffman::BitReader;
use crate::idct::idct;
use crate::plan::{CompGeom, Geometry};
use crate::scan::{self, ScanState, Stop};
use crate::store::{FoldedBlock, KeptBlock, Store, folded_samples};
use crate::{ColorType, Decoded, Error, Header, Keep};

/// What the decode holds once the frame is known.
struct Image {
    frame: Frame,
    geometry: Geometry,
    /// Progressive: per component; empty for sequential.
    coefficients: Vec<Store>,
    /// Sequential: filled as blocks arrive; progressive: after the last scan.
    planes: Vec<Plane>,
    /// Quantisation tables as latched at each component's first scan.
    quant: Vec<Option<[u16; 64]>>,
    /// A DC scan has been seen for the component.
    dc_seen: Vec<bool>,
}

/// Read every segment before the first scan: the header and the tables.
pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let mut tables = Tables::default();
    let mut pos = start(data)?;
    let mut frame = None;
    loop {
        let at = header::next_marker(data, pos).ok_or(Error::Truncated)?;
        let marker = data[at];
        if marker == 0xD9 || marker == 0xDA {
            break;
        }
        let (body, next) = header::segment(data, at + 1)?;
        segment_effect(marker, body, &mut tables, &mut frame)?;
        pos = next;
    }
    let frame = frame.ok_or(Error::Malformed("no frame header before the first scan"))?;
    Ok(Header::new(frame, &tables))
}

fn start(data: &[u8]) -> Result<usize, Error> {
    if data.len() < 2 || data[..2] != [0xFF, 0xD8] {
        return Err(Error::NotJpeg);
    }
    Ok(2)
}

/// Apply a table, frame or application segment. SOS and EOI are the
/// caller's.
fn segment_effect(
    marker: u8,
    body: &[u8],
    tables: &mut Tables,
    frame: &mut Option<Frame>,
) -> Result<(), Error> {
    match marker {
        0xC0..=0xC2 => {
            if frame.is_some() {
                return Err(Error::Malformed("a second frame header"));
            }
            *frame = Some(header::parse_frame(body, marker == 0xC2)?);
        }
        0xC3 => return Err(Error::Unsupported("lossless JPEG")),
        0xC5..=0xC7 => return Err(Error::Unsupported("hierarchical JPEG")),
        0xC9..=0xCF => {
            return Err(Error::Unsupported("arithmetic coding"));
        }
        0xC4 => header::parse_dht(body, tables)?,
        0xDB => header::parse_dqt(body, tables)?,
        0xDD => {
            tables.restart_interval = header::be16(body, 0).ok_or(Error::Truncated)?;
        }
        0xE0..=0xEF => header::parse_app(marker, body, tables),
        _ => {}
    }
    Ok(())
}

/// Decode `data` at `1 / scale_denom`, refusing to hold more than
/// `max_bytes`.
pub(crate) fn decode(
    data: &[u8],
    scale_denom: u8,
    max_bytes: u64,
    keep: Keep,
) -> Result<Decoded, Error> {
    let mut tables = Tables::default();
    let mut frame = None;
    let mut image: Option<Image> = None;
    let mut scans = 0usize;
    let mut partial = false;
    let mut pos = start(data)?;
    loop {
        let Some(at) = header::next_marker(data, pos) else {
            // No EOI: the file was cut short.
            partial = true;
            break;
        };
        let marker = data[at];
        if marker == 0xD9 {
            break;
        }
        let step = header::segment(data, at + 1).and_then(|(body, next)| {
            if marker == 0xDA {
                let img = image
                    .as_mut()
                    .ok_or(Error::Malformed("a scan before the frame"))?;
                let scan = header::parse_sos(body, &img.frame)?;
                let (end, complete) = decode_scan(img, &scan, &tables, data, next);
                partial |= !complete;
                scans += 1;
                return Ok(end);
            }
            // The frame moved into `image`, so `segment_effect` cannot see
            // it: refuse a second one here, as `read_header` does (a file
            // whose header does not read must not decode; libjpeg: "two SOF
            // markers"). Found by the coverage-guided fuzzer.
            if matches!(marker, 0xC0..=0xC2) && image.is_some() {
                return Err(Error::Malformed("a second frame header"));
            }
            segment_effect(marker, body, &mut tables, &mut frame)?;
            if image.is_none()
                && let Some(f) = frame.take()
            {
                image = Some(allocate(f, scale_denom, max_bytes, keep)?);
            }
            Ok(next)
        });
        match step {
            Ok(next) => pos = next,
            // Damage after a scan: keep what was decoded.
            Err(e) if scans > 0 && !matches!(e, Error::Unsupported(_)) => {
                partial = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let Some(img) = image else {
        return Err(Error::Malformed("no frame header"));
    };
    if scans == 0 {
        return Err(Error::Truncated);
    }
    partial |= img.dc_seen.iter().any(|&seen| !seen);
    let model = color_model(&img.frame, &tables);
    finish(img, model, tables.orientation.unwrap_or(1), partial)
}

fn allocate(frame: Frame, scale_denom: u8, max_bytes: u64, keep: Keep) -> Result<Image, Error> {
    let geometry = Geometry::new(&frame, scale_denom)?;
    // Checked before anything proportional to the image is allocated.
    let channels = if frame.components.len() == 1 { 1 } else { 3 };
    let needed = geometry.held_bytes(frame.progressive, channels, keep);
    if needed > max_bytes {
        return Err(Error::TooLarge {
            needed,
            limit: max_bytes,
        });
    }
    let n = frame.components.len();
    let (coefficients, planes) = if frame.progressive {
        let coefficients = geometry
            .comps
            .iter()
            .map(|c| Store::new(keep, c.k, c.bw * c.bh))
            .collect();
        (coefficients, Vec::new())
    } else {
        (Vec::new(), new_planes(&geometry))
    };
    Ok(Image {
        frame,
        geometry,
        coefficients,
        planes,
        quant: vec![None; n],
        dc_seen: vec![false; n],
    })
}

fn new_planes(g: &Geometry) -> Vec<Plane> {
    g.comps.iter().map(new_plane).collect()
}

fn new_plane(c: &CompGeom) -> Plane {
    Plane {
        data: vec![128; c.bw * c.k * c.bh * c.k],
        stride: c.bw * c.k,
        rows: c.bh * c.k,
        dw: c.dw,
        dh: c.dh,
        hx: c.hx,
        vx: c.vx,
    }
}

/// Decode one scan whose data starts at `pos`. Returns where the next
/// marker search starts and whether the scan was whole.
fn decode_scan(
    img: &mut Image,
    scan: &header::Scan,
    tables: &Tables,
    data: &[u8],
    pos: usize,
) -> (usize, bool) {
    for s in &scan.components {
        if img.quant[s.index].is_none() {
            let tq = usize::from(img.frame.components[s.index].tq);
            match tables.quant[tq] {
                Some(q) => img.quant[s.index] = Some(q),
                None => return (pos, false),
            }
        }
        if let (Some(store), Some(q)) = (img.coefficients.get_mut(s.index), &img.quant[s.index]) {
            store.latch(q);
        }
        if scan.ss == 0 {
            img.dc_seen[s.index] = true;
        }
    }
    let mut state = ScanState::new(scan, tables);
    let mut reader = BitReader::new(data, pos);
    let Image {
        frame,
        geometry,
        coefficients,
        planes,
        quant,
        ..
    } = img;
    let ri = tables.restart_interval;
    let result = if frame.progressive {
        let mut spare = 0u64;
        scan::for_each_block(frame, &mut state, &mut reader, ri, |st, r, i, bx, by| {
            let ci = scan.components[i].index;
            let g = &geometry.comps[ci];
            if bx >= g.bw || by >= g.bh {
                return Err(Stop::Corrupt);
            }
            let b = by * g.bw + bx;
            match &mut coefficients[ci] {
                Store::Kept {
                    k,
                    coefs,
                    history,
                    slots,
                } => {
                    let kk = *k * *k;
                    let mut block = KeptBlock {
                        coefs: &mut coefs[b * kk..(b + 1) * kk],
                        history: history.get_mut(b).unwrap_or(&mut spare),
                        slots,
                    };
                    st.progressive(r, i, &mut block)
                }
                Store::Folded {
                    k,
                    dc,
                    sums,
                    history,
                    negative,
                    weights,
                } => {
                    let kk = *k * *k;
                    let mut block = FoldedBlock {
                        dc: &mut dc[b],
                        sums: &mut sums[b * kk..(b + 1) * kk],
                        history: &mut history[b],
                        negative: &mut negative[b],
                        weights: weights.as_ref().ok_or(Stop::Corrupt)?,
                    };
                    st.progressive(r, i, &mut block)
                }
            }
        })
    } else {
        let mut block = [0i16; 64];
        scan::for_each_block(frame, &mut state, &mut reader, ri, |st, r, i, bx, by| {
            let ci = scan.components[i].index;
            let g = &geometry.comps[ci];
            st.sequential(r, i, &mut block)?;
            if bx >= g.bw || by >= g.bh {
                return Err(Stop::Corrupt);
            }
            let p = &mut planes[ci];
            let at = by * g.k * p.stride + bx * g.k;
            let q = quant[ci].as_ref().ok_or(Stop::Corrupt)?;
            idct(g.k, &block, q, &mut p.data[at..], p.stride);
            Ok(())
        })
    };
    (reader.position(), result.is_ok())
}

/// libjpeg's choice of colour space (jdapimin.c, default_decompress_parms).
fn color_model(frame: &Frame, tables: &Tables) -> Model {
    match frame.components.len() {
        1 => Model::Gray,
        3 => {
            let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
            match (tables.jfif, tables.adobe_transform) {
                (true, _) => Model::YCbCr,
                (false, Some(0)) => Model::Rgb,
                (false, Some(_)) => Model::YCbCr,
                (false, None) if ids == b"RGB" => Model::Rgb,
                _ => Model::YCbCr,
            }
        }
        _ => match tables.adobe_transform {
            Some(2) => Model::Ycck,
            Some(_) => Model::Cmyk { inverted: true },
            None => Model::Cmyk { inverted: false },
        },
    }
}

/// IDCT the reduced coefficients (progressive) and convert to pixels.
fn finish(mut img: Image, model: Model, orientation: u8, partial: bool) -> Result<Decoded, Error> {
    if img.frame.progressive {
        // One plane at a time: each component's plane is made once the
        // coefficients of the components before it are gone, so the
        // coefficients and the planes are never all held at once.
        for (ci, c) in std::mem::take(&mut img.coefficients)
            .into_iter()
            .enumerate()
        {
            let g = img.geometry.comps[ci];
            let q = img.quant[ci].unwrap_or([0; 64]);
            let mut p = new_plane(&g);
            fill_plane(&c, &g, &q, &mut p);
            drop(c);
            img.planes.push(p);
        }
    }
    let g = &img.geometry;
    let mut pixels = vec![0u8; g.width * g.height * model.channels()];
    color::convert(&img.planes, model, g.width, g.height, g.fancy, &mut pixels);
    Ok(Decoded {
        pixels,
        width: g.width as u32,
        height: g.height as u32,
        color: if model == Model::Gray {
            ColorType::Gray8
        } else {
            ColorType::Rgb8
        },
        orientation,
        partial,
    })
}

/// IDCT a component's stored blocks into its plane.
fn fill_plane(store: &Store, g: &CompGeom, q: &[u16; 64], p: &mut Plane) {
    let at = |b: usize| (b / g.bw) * g.k * p.stride + (b % g.bw) * g.k;
    match store {
        Store::Kept { k, coefs, .. } => {
            let mut block = [0i16; 64];
            for (b, kept) in coefs.chunks_exact(k * k).enumerate() {
                // The kept square in natural order; the rest stays zero.
                for (i, &v) in kept.iter().enumerate() {
                    block[(i / k) * 8 + i % k] = v;
                }
                let at = at(b);
                idct(g.k, &block, q, &mut p.data[at..], p.stride);
            }
        }
        Store::Folded { k, dc, sums, .. } => {
            for (b, (&dc, sums)) in dc.iter().zip(sums.chunks_exact(k * k)).enumerate() {
                let at = at(b);
                folded_samples(*k, dc, q[0], sums, &mut p.data[at..], p.stride);
            }
        }
    }
}
