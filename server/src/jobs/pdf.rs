//! The PDF report, built with printpdf as the modelled app builds its own:
//! a header, a table of fields per item, a photo grid (3 per row, 4 per row
//! above 15 photos), signatures. Photos are embedded as JPEG streams
//! (`DCTDecode`) unchanged: printpdf never re-encodes them.
//!
//! The whole document is held in memory until it is saved, and saving clones
//! the image streams: both are printpdf's behaviour, kept on purpose, because
//! the modelled app's library does the same.

use std::collections::BTreeMap;

use printpdf::{
    BuiltinFont, Color, DictItem, ExternalStream, ExternalXObject, Line, LinePoint, Mm, Op,
    PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Px, RawImage, RawImageData,
    RawImageFormat, Rect, Rgb, TextItem, XObjectTransform,
};

use super::photos::PreparedPhoto;
use crate::submission::{Item, Submission};

const PAGE_W: f32 = 595.0; // A4 in points
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 40.0;
const GAP: f32 = 6.0;
const LINE: f32 = 14.0;

/// Photos per grid row for a job with `total` photos, as the modelled app.
pub fn photos_per_row(total: usize) -> usize {
    if total > 15 { 4 } else { 3 }
}

/// Builds the document page by page.
pub struct PdfBuilder {
    doc: PdfDocument,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    y: f32,
    per_row: usize,
    col: usize,
    row_height: f32,
    images: usize,
}

impl PdfBuilder {
    /// Start the document with its header.
    pub fn new(sub: &Submission, total_photos: usize) -> PdfBuilder {
        let mut b = PdfBuilder {
            doc: PdfDocument::new(&format!("Inspection report: {}", sub.site.name)),
            pages: Vec::new(),
            ops: Vec::new(),
            y: PAGE_H - MARGIN,
            per_row: photos_per_row(total_photos),
            col: 0,
            row_height: 0.0,
            images: 0,
        };
        b.text(
            MARGIN,
            BuiltinFont::HelveticaBold,
            18.0,
            "Site inspection report",
        );
        b.y -= 8.0;
        for (k, v) in [
            ("Site", &sub.site.name),
            ("Address", &sub.site.address),
            ("Client", &sub.site.client),
            ("Inspector", &sub.site.inspector),
            ("Date", &sub.site.date),
        ] {
            if !v.is_empty() {
                b.text(MARGIN, BuiltinFont::Helvetica, 10.0, &format!("{k}: {v}"));
            }
        }
        b.rule();
        b
    }

    fn cell_width(&self) -> f32 {
        (PAGE_W - 2.0 * MARGIN - GAP * (self.per_row as f32 - 1.0)) / self.per_row as f32
    }

    fn new_page(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
        self.y = PAGE_H - MARGIN;
    }

    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.new_page();
        }
    }

    /// One line of text; each line is its own text section, because a second
    /// cursor move inside one section is relative (`Td`).
    fn text(&mut self, x: f32, font: BuiltinFont, size: f32, s: &str) {
        self.ensure(size + 4.0);
        self.y -= size + 2.0;
        let clipped: String = s.chars().take(110).collect();
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(x),
                    y: Pt(self.y),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(clipped)],
            },
            Op::EndTextSection,
        ]);
    }

    fn rule(&mut self) {
        self.y -= 4.0;
        let y = self.y;
        self.ops.push(Op::SetOutlineColor {
            col: Color::Rgb(Rgb::new(0.6, 0.6, 0.6, None)),
        });
        self.ops.push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint {
                        p: Point {
                            x: Pt(MARGIN),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                    LinePoint {
                        p: Point {
                            x: Pt(PAGE_W - MARGIN),
                            y: Pt(y),
                        },
                        bezier: false,
                    },
                ],
                is_closed: false,
            },
        });
        self.y -= 6.0;
    }

    /// The table of an item's fields; the photos follow with [`add_photo`].
    pub fn begin_item(&mut self, index: usize, item: &Item) {
        self.finish_row();
        self.ensure(LINE * 4.0);
        self.text(
            MARGIN,
            BuiltinFont::HelveticaBold,
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
                self.text(
                    MARGIN + 10.0,
                    BuiltinFont::Helvetica,
                    9.0,
                    &format!("{k}: {v}"),
                );
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

    /// Place the next photo of the grid; `None` draws an "image not available"
    /// cell. The JPEG bytes are moved into the document.
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
                let id = self.doc.add_xobject(&xobj);
                drop(xobj);
                self.ops.push(Op::UseXobject {
                    id,
                    transform: XObjectTransform {
                        translate_x: Some(Pt(x)),
                        translate_y: Some(Pt(y)),
                        scale_x: Some(cw / p.width as f32),
                        scale_y: Some(ch / p.height as f32),
                        dpi: Some(72.0),
                        ..Default::default()
                    },
                });
                self.images += 1;
            }
            None => {
                self.ops.push(Op::SetOutlineColor {
                    col: Color::Rgb(Rgb::new(0.5, 0.5, 0.5, None)),
                });
                self.ops.push(Op::DrawRectangle {
                    rectangle: Rect::from_xywh(Pt(x), Pt(y), Pt(cw), Pt(ch)),
                });
                let saved_y = self.y;
                self.y = y + ch / 2.0 + 6.0;
                self.ops.extend([
                    Op::StartTextSection,
                    Op::SetFont {
                        font: PdfFontHandle::Builtin(BuiltinFont::HelveticaOblique),
                        size: Pt(8.0),
                    },
                    Op::SetTextCursor {
                        pos: Point {
                            x: Pt(x + 6.0),
                            y: Pt(y + ch / 2.0),
                        },
                    },
                    Op::ShowText {
                        items: vec![TextItem::Text("image not available".into())],
                    },
                    Op::EndTextSection,
                ]);
                self.y = saved_y;
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
        self.text(MARGIN, BuiltinFont::HelveticaBold, 12.0, "Signatures");
        for (role, name, png) in sigs {
            let h = 50.0;
            let w = h * png.width() as f32 / png.height().max(1) as f32;
            self.ensure(h + LINE * 2.0);
            self.text(
                MARGIN,
                BuiltinFont::Helvetica,
                9.0,
                &format!("{role}: {name}"),
            );
            let raw = RawImage {
                pixels: RawImageData::U8(png.as_raw().clone()),
                width: png.width() as usize,
                height: png.height() as usize,
                data_format: RawImageFormat::RGB8,
                tag: Vec::new(),
            };
            let id = self.doc.add_image(&raw);
            self.ops.push(Op::UseXobject {
                id,
                transform: XObjectTransform {
                    translate_x: Some(Pt(MARGIN)),
                    translate_y: Some(Pt(self.y - h)),
                    scale_x: Some(w.min(200.0) / png.width() as f32),
                    scale_y: Some(h / png.height() as f32),
                    dpi: Some(72.0),
                    ..Default::default()
                },
            });
            self.y -= h + GAP;
        }
    }

    /// Number of photos embedded so far.
    pub fn images(&self) -> usize {
        self.images
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
