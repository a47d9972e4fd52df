//! The PDF report's layout, as the modelled app's: a header, a table of
//! fields per item, a photo grid (3 per row, 4 per row above 15 photos),
//! signatures. Photos are embedded as JPEG streams (`DCTDecode`) unchanged.
//!
//! The layout draws on a [`Canvas`]; two canvases build the file:
//! - [`MemoryCanvas`] (printpdf): the whole document is held in memory until
//!   it is saved, and saving clones the image streams. That is printpdf's
//!   behaviour, kept on purpose: the modelled app's library does the same.
//! - [`super::pdf_stream::StreamCanvas`]: each image and page is written to a
//!   file as soon as it is placed, so the document never sits in memory
//!   (`pdf.assembly = "incremental"`).

use std::collections::BTreeMap;

use printpdf::{
    BuiltinFont, Color, DictItem, ExternalStream, ExternalXObject, Line, LinePoint, Mm, Op,
    PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Px, RawImage, RawImageData,
    RawImageFormat, Rect, Rgb, TextItem, XObjectTransform,
};

use super::photos::{Components, PreparedPhoto};
use crate::submission::{Item, Submission};

pub const PAGE_W: f32 = 595.0; // A4 in points
pub const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 40.0;
const GAP: f32 = 6.0;
const LINE: f32 = 14.0;

/// The three fonts the report uses (PDF base-14 fonts, never embedded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
    Oblique,
}

/// What the layout draws on. Coordinates in points from the bottom left.
pub trait Canvas {
    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, s: &str);
    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, grey: f32);
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32);
    /// Place a JPEG at (x, y) scaled to `w` x `h` points.
    fn jpeg(&mut self, photo: &PreparedPhoto, x: f32, y: f32, w: f32, h: f32);
    /// Place RGB pixels at (x, y) scaled to `w` x `h` points.
    fn rgb(&mut self, img: &image::RgbImage, x: f32, y: f32, w: f32, h: f32);
    fn new_page(&mut self);
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
    col: usize,
    row_height: f32,
    images: usize,
}

impl<C: Canvas> PdfBuilder<C> {
    /// Start the document with its header.
    pub fn new(canvas: C, sub: &Submission, total_photos: usize) -> PdfBuilder<C> {
        let mut b = PdfBuilder {
            canvas,
            y: PAGE_H - MARGIN,
            per_row: photos_per_row(total_photos),
            col: 0,
            row_height: 0.0,
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
        let clipped: String = s.chars().take(110).collect();
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

    fn finish_row(&mut self) {
        if self.col > 0 {
            self.y -= self.row_height + GAP;
            self.col = 0;
            self.row_height = 0.0;
        }
    }

    /// Place the next photo of the grid; `None` draws an "image not
    /// available" cell.
    pub fn add_photo(&mut self, photo: Option<&PreparedPhoto>) {
        let cw = self.cell_width();
        let (w, h) = match photo {
            Some(p) => (p.width as f32, p.height as f32),
            None => (4.0, 3.0),
        };
        let ch = cw * h / w;
        if self.col == 0 {
            self.ensure(ch);
        }
        self.row_height = self.row_height.max(ch);
        let x = MARGIN + self.col as f32 * (cw + GAP);
        let y = self.y - ch;
        match photo {
            Some(p) => {
                self.canvas.jpeg(p, x, y, cw, ch);
                self.images += 1;
            }
            None => {
                self.canvas.rect(x, y, cw, ch, 0.5);
                self.canvas.text(
                    x + 6.0,
                    y + ch / 2.0,
                    Font::Oblique,
                    8.0,
                    "image not available",
                );
            }
        }
        self.col += 1;
        if self.col == self.per_row {
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

    /// The canvas, to finish the file.
    pub fn into_canvas(self) -> C {
        self.canvas
    }
}

/// printpdf: the whole document in memory until saved.
pub struct MemoryCanvas {
    doc: PdfDocument,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
}

impl MemoryCanvas {
    pub fn new(title: &str) -> MemoryCanvas {
        MemoryCanvas {
            doc: PdfDocument::new(title),
            pages: Vec::new(),
            ops: Vec::new(),
        }
    }

    /// Lay out the last page and serialise the whole document.
    pub fn finish(mut self) -> Vec<u8> {
        self.new_page();
        let pages = std::mem::take(&mut self.pages);
        self.doc.with_pages(pages);
        // The default options resample images over 2 MB raw behind the
        // user's back: turn image optimisation off so what is measured is
        // what the settings say.
        let opts = PdfSaveOptions {
            image_optimization: None,
            ..PdfSaveOptions::default()
        };
        let mut warnings = Vec::new();
        self.doc.save(&opts, &mut warnings)
    }
}

fn builtin(font: Font) -> BuiltinFont {
    match font {
        Font::Regular => BuiltinFont::Helvetica,
        Font::Bold => BuiltinFont::HelveticaBold,
        Font::Oblique => BuiltinFont::HelveticaOblique,
    }
}

fn point(x: f32, y: f32) -> LinePoint {
    LinePoint {
        p: Point { x: Pt(x), y: Pt(y) },
        bezier: false,
    }
}

impl Canvas for MemoryCanvas {
    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, s: &str) {
        // Each line is its own text section: a second cursor move inside one
        // section is relative (`Td`).
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(builtin(font)),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point { x: Pt(x), y: Pt(y) },
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, grey: f32) {
        self.ops.push(Op::SetOutlineColor {
            col: Color::Rgb(Rgb::new(grey, grey, grey, None)),
        });
        self.ops.push(Op::DrawLine {
            line: Line {
                points: vec![point(x1, y1), point(x2, y2)],
                is_closed: false,
            },
        });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        self.ops.push(Op::SetOutlineColor {
            col: Color::Rgb(Rgb::new(grey, grey, grey, None)),
        });
        self.ops.push(Op::DrawRectangle {
            rectangle: Rect::from_xywh(Pt(x), Pt(y), Pt(w), Pt(h)),
        });
    }

    fn jpeg(&mut self, p: &PreparedPhoto, x: f32, y: f32, w: f32, h: f32) {
        let mut dict = BTreeMap::new();
        dict.insert("Type".into(), DictItem::Name(b"XObject".to_vec()));
        dict.insert("Subtype".into(), DictItem::Name(b"Image".to_vec()));
        dict.insert("Width".into(), DictItem::Int(i64::from(p.width)));
        dict.insert("Height".into(), DictItem::Int(i64::from(p.height)));
        dict.insert(
            "ColorSpace".into(),
            DictItem::Name(p.components.pdf_color_space().as_bytes().to_vec()),
        );
        dict.insert("BitsPerComponent".into(), DictItem::Int(8));
        dict.insert("Filter".into(), DictItem::Name(b"DCTDecode".to_vec()));
        if p.components == Components::Cmyk {
            // Adobe CMYK JPEGs store inverted values.
            dict.insert(
                "Decode".into(),
                DictItem::Array([1, 0, 1, 0, 1, 0, 1, 0].map(DictItem::Int).to_vec()),
            );
        }
        let xobj = ExternalXObject {
            stream: ExternalStream {
                dict,
                content: p.jpeg.to_vec(),
                compress: false,
            },
            width: Some(Px(p.width as usize)),
            height: Some(Px(p.height as usize)),
            dpi: Some(72.0),
        };
        // printpdf keeps its own copy of the stream.
        let id = self.doc.add_xobject(&xobj);
        drop(xobj);
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(y)),
                scale_x: Some(w / p.width as f32),
                scale_y: Some(h / p.height as f32),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
    }

    fn rgb(&mut self, img: &image::RgbImage, x: f32, y: f32, w: f32, h: f32) {
        let raw = RawImage {
            pixels: RawImageData::U8(img.as_raw().clone()),
            width: img.width() as usize,
            height: img.height() as usize,
            data_format: RawImageFormat::RGB8,
            tag: Vec::new(),
        };
        let id = self.doc.add_image(&raw);
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(y)),
                scale_x: Some(w / img.width() as f32),
                scale_y: Some(h / img.height() as f32),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
    }

    fn new_page(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
    }
}
