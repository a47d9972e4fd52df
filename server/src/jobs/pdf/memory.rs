//! [`MemoryCanvas`]: the document built with printpdf, held whole in memory
//! until it is saved; saving clones the image streams. That is printpdf's
//! behaviour, kept on purpose: the modelled app's library does the same.
//!
//! Text is shown in the PDF base-14 fonts, which printpdf writes with
//! `/Encoding /WinAnsiEncoding` and whose strings it encodes to WinAnsi
//! bytes itself (printpdf 0.12.8, `serialize.rs` `encode_win_ansi`); it is
//! handed text already limited to WinAnsi ([`super::winansi`]), so both
//! canvases show the same characters.

use std::collections::BTreeMap;

use printpdf::{
    BuiltinFont, Color, DictItem, ExternalStream, ExternalXObject, Line, LinePoint, Mm, Op,
    PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Px, RawImage, RawImageData,
    RawImageFormat, Rect, Rgb, TextItem, XObjectId, XObjectTransform,
};

use super::{Canvas, Font, ascii85, winansi};
use crate::jobs::photos::{Components, PreparedPhoto};
use crate::settings::ImageEncoding;

/// printpdf: the whole document in memory until saved.
pub struct MemoryCanvas {
    doc: PdfDocument,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    encoding: ImageEncoding,
    /// Bytes of the image streams the document holds.
    stream_bytes: u64,
}

/// A document after its save, still whole: its image streams (the encoded
/// copies of the photos) stay allocated for as long as it is kept. The
/// modelled app's document sits in reference cycles after the job, so it
/// is kept until a collection under `model.release = "cyclic_gc"` (see
/// `jobs::retention`).
pub struct SavedDocument {
    _doc: PdfDocument,
    stream_bytes: u64,
}

impl SavedDocument {
    /// Bytes of the image streams it holds.
    pub fn stream_bytes(&self) -> u64 {
        self.stream_bytes
    }
}

/// A JPEG added to the document, to be drawn by [`Canvas::image`].
pub struct MemoryImage {
    id: XObjectId,
    width: u32,
    height: u32,
}

impl MemoryCanvas {
    pub fn new(title: &str, encoding: ImageEncoding) -> MemoryCanvas {
        MemoryCanvas {
            doc: PdfDocument::new(title),
            pages: Vec::new(),
            ops: Vec::new(),
            encoding,
            stream_bytes: 0,
        }
    }

    /// Lay out the last page and serialise the whole document, which is
    /// handed back whole with the file.
    pub fn finish_keeping_document(mut self) -> (Vec<u8>, SavedDocument) {
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
        let file = self.doc.save(&opts, &mut warnings);
        let saved = SavedDocument {
            _doc: self.doc,
            stream_bytes: self.stream_bytes,
        };
        (file, saved)
    }

    fn place(&mut self, id: XObjectId, x: f32, y: f32, scale_x: f32, scale_y: f32) {
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Pt(x)),
                translate_y: Some(Pt(y)),
                scale_x: Some(scale_x),
                scale_y: Some(scale_y),
                dpi: Some(72.0),
                ..Default::default()
            },
        });
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
    type Image = MemoryImage;

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
                items: vec![TextItem::Text(winansi::printable(s))],
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

    fn add_jpeg(&mut self, p: &PreparedPhoto) -> MemoryImage {
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
        let (filter, content) = match self.encoding {
            ImageEncoding::Binary => (DictItem::Name(b"DCTDecode".to_vec()), p.jpeg.to_vec()),
            ImageEncoding::Ascii85 => (
                DictItem::Array(vec![
                    DictItem::Name(b"ASCII85Decode".to_vec()),
                    DictItem::Name(b"DCTDecode".to_vec()),
                ]),
                ascii85::encode(&p.jpeg),
            ),
        };
        dict.insert("Filter".into(), filter);
        self.stream_bytes += content.len() as u64;
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
                content,
                compress: false,
            },
            width: Some(Px(p.width as usize)),
            height: Some(Px(p.height as usize)),
            dpi: Some(72.0),
        };
        // printpdf keeps its own copy of the stream.
        let id = self.doc.add_xobject(&xobj);
        drop(xobj);
        MemoryImage {
            id,
            width: p.width.max(1),
            height: p.height.max(1),
        }
    }

    fn image(&mut self, img: &MemoryImage, x: f32, y: f32, w: f32, h: f32) {
        self.place(
            img.id.clone(),
            x,
            y,
            w / img.width as f32,
            h / img.height as f32,
        );
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
        self.place(
            id,
            x,
            y,
            w / img.width().max(1) as f32,
            h / img.height().max(1) as f32,
        );
    }

    fn new_page(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
    }
}
