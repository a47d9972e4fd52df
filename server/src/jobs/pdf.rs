//! The PDF report's layout, as the modelled app's: a header, a table of
//! fields per item, a photo grid (3 per row, 4 per row above 15 photos),
//! signatures. Photos are embedded as JPEG streams (`DCTDecode`) unchanged.
//!
//! The layout draws on a [`Canvas`]; two canvases build the file:
//! - [`MemoryCanvas`] (printpdf, [`memory`]): the whole document is held in
//!   memory until it is saved (`pdf.assembly = "in_memory"`).
//! - [`super::pdf_stream::StreamCanvas`]: each image and page is written to a
//!   file as soon as it is placed, so the document never sits in memory
//!   (`pdf.assembly = "incremental"`).
//!
//! # Layout
//! - [`memory`]: the printpdf canvas.
//! - [`winansi`]: the characters the base-14 fonts can show.
//! - [`unicode`]: shaped text in the bundled fonts, embedded as subsets
//!   (`pdf.font = "unicode"`, incremental assembly).
//! - [`dct`]: which JPEGs can be embedded unchanged (8-bit DCT only).
//! - [`ascii85`]: image streams written as reportlab writes them by default
//!   (`pdf.image_encoding = "ascii85"`).
//!
//! A grid row is laid out once all its photos are known, by its tallest
//! photo, and no photo is taller than a page's usable height. Photos are
//! added to the document as they come ([`Canvas::add_jpeg`]) and only drawn
//! when their row is placed, so a pending row holds handles, not bytes.

pub mod ascii85;
pub mod dct;
mod memory;
pub mod unicode;
pub mod winansi;

pub use memory::{MemoryCanvas, MemoryImage, SavedDocument};

use super::photos::PreparedPhoto;
use crate::submission::{Item, Submission};

pub const PAGE_W: f32 = 595.0; // A4 in points
pub const PAGE_H: f32 = 842.0;
pub const MARGIN: f32 = 40.0;
const GAP: f32 = 6.0;
/// The height a photo may take: a page less its top and bottom margins.
pub const USABLE_H: f32 = PAGE_H - 2.0 * MARGIN;
const LINE: f32 = 14.0;

/// The three styles of the report's text: Helvetica's base-14 faces (never
/// embedded) with `pdf.font = "builtin"`, the bundled regular faces drawn
/// plain, stroked or slanted with `"unicode"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
    Oblique,
}

/// What the layout draws on. Coordinates in points from the bottom left.
pub trait Canvas {
    /// A JPEG in the document, not yet drawn.
    type Image;
    /// Show `s` (no control characters). Characters the canvas's fonts
    /// cannot show are drawn as `?` ([`winansi::printable`] for the
    /// builtin fonts, [`unicode::shape::REPLACEMENT`]).
    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, s: &str);
    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, grey: f32);
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32);
    /// Put a JPEG's bytes into the document now (the caller may drop them);
    /// draw it later with [`Canvas::image`].
    fn add_jpeg(&mut self, photo: &PreparedPhoto) -> Self::Image;
    /// Draw an added JPEG at (x, y) scaled to `w` x `h` points.
    fn image(&mut self, image: &Self::Image, x: f32, y: f32, w: f32, h: f32);
    /// Place RGB pixels at (x, y) scaled to `w` x `h` points.
    fn rgb(&mut self, img: &image::RgbImage, x: f32, y: f32, w: f32, h: f32);
    fn new_page(&mut self);
}

/// One cell of a grid row waiting to be placed.
enum Cell<I> {
    Photo {
        image: I,
        width: u32,
        height: u32,
    },
    /// "image not available", drawn 4:3.
    Missing,
}

/// The size in points of a `width` x `height` pixel photo in a cell
/// `cell_w` wide: the cell's width, unless that makes it taller than
/// `max_h`, then `max_h` high and narrower. Aspect ratio kept.
pub fn fit_in_cell(width: u32, height: u32, cell_w: f32, max_h: f32) -> (f32, f32) {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let natural_h = cell_w * h / w;
    if natural_h <= max_h {
        (cell_w, natural_h)
    } else {
        (max_h * w / h, max_h)
    }
}

/// Photos per grid row for a job with `total` photos, as the modelled app.
pub fn photos_per_row(total: usize) -> usize {
    if total > 15 { 4 } else { 3 }
}

/// Lays the report out on a canvas, page by page.
pub struct PdfBuilder<C: Canvas> {
    canvas: C,
    y: f32,
    per_row: usize,
    /// The current grid row, placed when full or when the grid ends.
    row: Vec<Cell<C::Image>>,
    images: usize,
}

impl<C: Canvas> PdfBuilder<C> {
    /// Start the document with its header.
    pub fn new(canvas: C, sub: &Submission, total_photos: usize) -> PdfBuilder<C> {
        let mut b = PdfBuilder {
            canvas,
            y: PAGE_H - MARGIN,
            per_row: photos_per_row(total_photos),
            row: Vec::new(),
            images: 0,
        };
        b.text(MARGIN, Font::Bold, 18.0, "Site inspection report");
        b.y -= 8.0;
        for (k, v) in [
            ("Site", &sub.site.name),
            ("Address", &sub.site.address),
            ("Client", &sub.site.client),
            ("Inspector", &sub.site.inspector),
            ("Date", &sub.site.date),
        ] {
            if !v.is_empty() {
                b.text(MARGIN, Font::Regular, 10.0, &format!("{k}: {v}"));
            }
        }
        b.rule();
        b
    }

    fn cell_width(&self) -> f32 {
        (PAGE_W - 2.0 * MARGIN - GAP * (self.per_row as f32 - 1.0)) / self.per_row as f32
    }

    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.canvas.new_page();
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, font: Font, size: f32, s: &str) {
        self.ensure(size + 4.0);
        self.y -= size + 2.0;
        // A newline in a comment is a space: one line per field.
        let clipped: String = s
            .chars()
            .take(110)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.canvas.text(x, self.y, font, size, &clipped);
    }

    fn rule(&mut self) {
        self.y -= 4.0;
        self.canvas
            .line(MARGIN, self.y, PAGE_W - MARGIN, self.y, 0.6);
        self.y -= 6.0;
    }

    /// The table of an item's fields; the photos follow with
    /// [`PdfBuilder::add_photo`].
    pub fn begin_item(&mut self, index: usize, item: &Item) {
        self.finish_row();
        self.ensure(LINE * 4.0);
        self.text(
            MARGIN,
            Font::Bold,
            12.0,
            &format!("{}. {}", index + 1, item.asset),
        );
        let fields = [
            ("System", item.system.clone()),
            ("Description", item.description.clone()),
            ("Quantity", item.quantity.to_string()),
            ("Brand", item.brand.clone()),
            ("Specification", item.specification.clone()),
            ("Comments", item.comments.clone()),
        ];
        for (k, v) in fields {
            if !v.is_empty() {
                self.text(MARGIN + 10.0, Font::Regular, 9.0, &format!("{k}: {v}"));
            }
        }
        self.y -= 4.0;
    }

    /// Place the pending row: its height is its tallest photo's, on this
    /// page if it fits, else at the top of the next. Photos are top-aligned,
    /// each centred in its cell.
    fn finish_row(&mut self) {
        if self.row.is_empty() {
            return;
        }
        let cw = self.cell_width();
        let row = std::mem::take(&mut self.row);
        let sizes: Vec<(f32, f32)> = row
            .iter()
            .map(|cell| match cell {
                Cell::Photo { width, height, .. } => fit_in_cell(*width, *height, cw, USABLE_H),
                Cell::Missing => fit_in_cell(4, 3, cw, USABLE_H),
            })
            .collect();
        let row_height = sizes.iter().map(|s| s.1).fold(0.0, f32::max);
        self.ensure(row_height);
        for (col, (cell, (w, h))) in row.iter().zip(sizes).enumerate() {
            let x = MARGIN + col as f32 * (cw + GAP) + (cw - w) / 2.0;
            let y = self.y - h;
            match cell {
                Cell::Photo { image, .. } => self.canvas.image(image, x, y, w, h),
                Cell::Missing => {
                    self.canvas.rect(x, y, w, h, 0.5);
                    self.canvas.text(
                        x + 6.0,
                        y + h / 2.0,
                        Font::Oblique,
                        8.0,
                        "image not available",
                    );
                }
            }
        }
        self.y -= row_height + GAP;
    }

    /// Add the next photo of the grid; `None` is an "image not available"
    /// cell. The photo's bytes go into the document now; it is drawn when
    /// its row is complete.
    pub fn add_photo(&mut self, photo: Option<&PreparedPhoto>) {
        let cell = match photo {
            Some(p) => {
                self.images += 1;
                Cell::Photo {
                    image: self.canvas.add_jpeg(p),
                    width: p.width,
                    height: p.height,
                }
            }
            None => Cell::Missing,
        };
        self.row.push(cell);
        if self.row.len() >= self.per_row {
            self.finish_row();
        }
    }

    /// Signatures at the end: decoded PNGs, embedded as RGB images.
    pub fn signatures(&mut self, sigs: &[(String, String, image::RgbImage)]) {
        self.finish_row();
        if sigs.is_empty() {
            return;
        }
        self.rule();
        self.text(MARGIN, Font::Bold, 12.0, "Signatures");
        for (role, name, png) in sigs {
            let h = 50.0;
            let w = (h * png.width() as f32 / png.height().max(1) as f32).min(200.0);
            self.ensure(h + LINE * 2.0);
            self.text(MARGIN, Font::Regular, 9.0, &format!("{role}: {name}"));
            self.canvas.rgb(png, MARGIN, self.y - h, w, h);
            self.y -= h + GAP;
        }
    }

    /// Number of photos embedded so far.
    pub fn images(&self) -> usize {
        self.images
    }

    /// The canvas, to finish the file (a pending grid row is placed).
    pub fn into_canvas(mut self) -> C {
        self.finish_row();
        self.canvas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_fills_its_cell_width_unless_that_is_taller_than_a_page() {
        assert_eq!(fit_in_cell(400, 300, 160.0, USABLE_H), (160.0, 120.0));
        assert_eq!(fit_in_cell(300, 400, 150.0, USABLE_H), (150.0, 200.0));
        // 1:10: 1600 pt at the cell's width, so the page's height decides.
        let (w, h) = fit_in_cell(100, 1000, 160.0, USABLE_H);
        assert_eq!(h, USABLE_H);
        assert!((w - USABLE_H / 10.0).abs() < 1e-3, "{w}");
        // Degenerate headers do not divide by zero.
        let (w, h) = fit_in_cell(0, 0, 160.0, USABLE_H);
        assert!(w.is_finite() && h.is_finite());
    }
}
