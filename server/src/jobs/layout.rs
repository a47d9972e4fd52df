//! The PDF stage of a job: every photo in submission order is checked,
//! prepared per the embed mode and placed in the grid; a photo that cannot be
//! shown as it is becomes a placeholder or is drawn partly, and says so in
//! the job's [`Notes`]. Public ([`build_pdf`]) so heap-profiling tests drive
//! exactly the code a job runs.

use anyhow::Context;
use bytes::Bytes;

use super::degraded::{Notes, ShownAs};
use super::pdf::{MemoryCanvas, PdfBuilder};
use super::pdf_stream::StreamCanvas;
use super::photos::{PreparedPhoto, prepare_with};
use super::retention::Held;
use crate::imagecheck::{Cut, ImageKind, ImageScan, ScanError};
use crate::settings::{Assembly, Settings};
use crate::submission::{Submission, decode_signature};

/// The PDF stage: every photo from `next_photo` (in submission order) is
/// prepared per the embed mode and placed in the grid (a photo that cannot
/// be shown as it is becomes a placeholder or is drawn partly, noted in
/// `notes`); `original` mode keeps
/// each photo's decoded buffers through the save and hands them to the
/// caller ([`BuiltPdf::held`]), which releases them per `model.release`.
/// `on_photo` runs after each photo, with the buffers held so far (progress
/// reporting; `cyclic_gc` lets the last photo's RGB string go: see
/// `jobs::retention`). Public so
/// heap-profiling tests can drive exactly the code a job runs.
pub fn build_pdf(
    sub: &Submission,
    s: &Settings,
    next_photo: impl FnMut(usize, &str, &mut Notes) -> anyhow::Result<Option<Bytes>>,
    notes: &mut Notes,
    on_photo: impl FnMut(&mut Held),
    file: &std::path::Path,
) -> anyhow::Result<BuiltPdf> {
    let title = format!("Inspection report: {}", sub.site.name);
    match s.pdf.assembly {
        Assembly::InMemory => {
            let canvas = MemoryCanvas::new(&title, s.pdf.image_encoding);
            let (canvas, held) = lay_out(canvas, sub, s, next_photo, notes, on_photo)?;
            // Saved while the buffers are still held, as reportlab's save
            // runs inside the build that holds its image readers; the
            // document itself is handed back with them.
            let (file, document) = canvas.finish_keeping_document();
            let mut held = held;
            held.keep_document(document);
            Ok(BuiltPdf {
                output: PdfOutput::Memory(file),
                held,
            })
        }
        Assembly::Incremental => {
            let canvas = StreamCanvas::create(file, &title, s.pdf.image_encoding, s.pdf.font)
                .with_context(|| format!("creating {}", file.display()))?;
            let (canvas, held) = lay_out(canvas, sub, s, next_photo, notes, on_photo)?;
            let bytes = canvas
                .finish()
                .with_context(|| format!("writing {}", file.display()))?;
            Ok(BuiltPdf {
                output: PdfOutput::File {
                    path: file.to_path_buf(),
                    bytes,
                },
                held,
            })
        }
    }
}

/// A built PDF and the photo buffers its build held through the save.
pub struct BuiltPdf {
    pub output: PdfOutput,
    /// `original` mode's decoded buffers and, for an in-memory assembly,
    /// the saved document (its image streams), still allocated.
    pub held: Held,
}

impl BuiltPdf {
    /// The whole file in memory (tests); the held buffers are freed.
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        self.output.into_bytes()
    }

    pub fn len(&self) -> u64 {
        self.output.len()
    }

    pub fn is_empty(&self) -> bool {
        self.output.is_empty()
    }
}

/// A built PDF: in memory, or in a file (incremental assembly).
pub enum PdfOutput {
    Memory(Vec<u8>),
    File {
        path: std::path::PathBuf,
        bytes: u64,
    },
}

impl PdfOutput {
    pub fn len(&self) -> u64 {
        match self {
            PdfOutput::Memory(b) => b.len() as u64,
            PdfOutput::File { bytes, .. } => *bytes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole file in memory (tests).
    pub fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            PdfOutput::Memory(b) => Ok(b),
            PdfOutput::File { path, .. } => {
                let b = std::fs::read(&path)?;
                let _ = std::fs::remove_file(&path);
                Ok(b)
            }
        }
    }
}

fn lay_out<C: super::pdf::Canvas>(
    canvas: C,
    sub: &Submission,
    s: &Settings,
    mut next_photo: impl FnMut(usize, &str, &mut Notes) -> anyhow::Result<Option<Bytes>>,
    notes: &mut Notes,
    mut on_photo: impl FnMut(&mut Held),
) -> anyhow::Result<(C, Held)> {
    let total = sub.photos().count();
    let mut builder = PdfBuilder::new(canvas, sub, total);
    // Decoded buffers (the `original` mode), alive through the save: the
    // modelled app's PDF library keeps them.
    let mut held = Held::default();
    let mut n = 0usize;
    for (item_idx, item) in sub.items.iter().enumerate() {
        builder.begin_item(item_idx, item);
        for url in &item.photo_urls {
            let bytes = next_photo(n, url, notes)?;
            let prepared = bytes.and_then(|b| prepare_noted(b, s, n, url, notes));
            builder.add_photo(prepared.as_ref());
            // Keep the pixels; the bytes now live in the document.
            if let Some(pixels) = prepared.and_then(|p| p.pixels) {
                held.push(pixels);
            }
            n += 1;
            on_photo(&mut held);
        }
    }
    let sigs = decode_signatures(sub, &mut notes.warnings);
    builder.signatures(&sigs);
    Ok((builder.into_canvas(), held))
}

/// Prepare photo `n` (0-based) for the page, noting in `notes` when it
/// cannot be shown as it is. Its structure is checked first, in every embed
/// mode: a JPEG cut short decodes (or is embedded and shown by the reader)
/// without an error, its missing part grey, so only the missing
/// end-of-image marker tells (see `crate::imagecheck`).
fn prepare_noted(
    bytes: Bytes,
    s: &Settings,
    n: usize,
    url: &str,
    notes: &mut Notes,
) -> Option<super::photos::PreparedPhoto> {
    let placeholder = |reason: &str, notes: &mut Notes| -> Option<PreparedPhoto> {
        notes.warnings.push(format!(
            "photo {} ({url}) {reason}; shown as \"image not available\"",
            n + 1
        ));
        notes.degrade(n, url, ShownAs::Placeholder, reason);
        None
    };
    let scan = ImageScan::whole(&bytes);
    // A JPEG cut inside its image data is closed with an end-of-image
    // marker before it is prepared: libjpeg-turbo decodes a cut file as it
    // is (the rest grey), jpeg-decoder stops at the end of the bytes with
    // an error ("failed to fill whole buffer") but reads a scan that meets
    // a marker as ending there. The copy is made for cut photos only.
    let bytes = match &scan {
        Ok(s) if s.kind == ImageKind::Jpeg && s.cut == Some(Cut::ImageData) => {
            let mut closed = Vec::with_capacity(bytes.len() + 2);
            closed.extend_from_slice(&bytes);
            closed.extend_from_slice(&[0xFF, 0xD9]);
            Bytes::from(closed)
        }
        _ => bytes,
    };
    let prepared = prepare_with(
        bytes,
        &s.photos,
        s.limits.max_photo_pixels,
        s.limits.max_decode_bytes,
    );
    // `prepare`'s refusal names the most precise reason (not a JPEG, 12-bit,
    // over a cap); the structure's verdict counts for a photo it accepted.
    match (prepared, scan) {
        (Err(e), _) => placeholder(&format!("{e:#}"), notes),
        // Cut before any image data: nothing of the picture to show.
        (Ok(_), Ok(scan)) if scan.cut == Some(Cut::Headers) => {
            placeholder("is truncated inside its headers", notes)
        }
        (Ok(p), Ok(scan)) => {
            if let Some(reason) = scan.cut_reason() {
                notes.warnings.push(format!(
                    "photo {} ({url}) is {reason}; shown partly, the missing part grey",
                    n + 1
                ));
                notes.degrade(n, url, ShownAs::Partial, reason);
            }
            Some(p)
        }
        (Ok(_), Err(ScanError::NotAnImage)) => placeholder("is not a JPEG", notes),
        (Ok(_), Err(ScanError::Malformed(why))) => placeholder(&format!("is {why}"), notes),
    }
}

fn decode_signatures(
    sub: &Submission,
    warnings: &mut Vec<String>,
) -> Vec<(String, String, image::RgbImage)> {
    sub.signatures
        .iter()
        .filter_map(|s| {
            let png = decode_signature(&s.image).ok()?;
            match image::load_from_memory_with_format(&png, image::ImageFormat::Png) {
                Ok(img) => Some((s.role.clone(), s.name.clone(), flatten_on_white(img))),
                Err(e) => {
                    warnings.push(format!("signature of {} does not decode: {e}", s.role));
                    None
                }
            }
        })
        .collect()
}

fn flatten_on_white(img: image::DynamicImage) -> image::RgbImage {
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}
