//! Incremental PDF assembly (`pdf.assembly = "incremental"`): every image is
//! written to the file as soon as it is placed and every page as soon as it
//! is full, so the job holds one page of drawing operations and one photo at
//! a time, never the document. The file is uploaded from disk.
//!
//! A deliberately small PDF 1.4 writer: base-14 fonts (never embedded) with
//! WinAnsi text, or with `pdf.font = "unicode"` the bundled fonts shaped and
//! embedded as subsets at the end ([`super::pdf::unicode`]); JPEG streams
//! passed through with `DCTDecode`, uncompressed RGB for signatures, an xref
//! table at the end.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

use super::pdf::unicode::{self, UnicodeText, embed::PdfObject, faces};
use super::pdf::{Canvas, Font, PAGE_H, PAGE_W, ascii85, winansi};
use super::photos::{Components, PreparedPhoto};
use crate::settings::{ImageEncoding, PdfFont};

const CATALOG: usize = 1;
const PAGES: usize = 2;
const FONTS: [(usize, &str, &str); 3] = [
    (3, "F1", "Helvetica"),
    (4, "F2", "Helvetica-Bold"),
    (5, "F3", "Helvetica-Oblique"),
];
/// Objects 3 to 5 are the base-14 fonts' (free with the unicode fonts).
const FIRST_FREE: usize = 6;

/// The text of the document: base-14 fonts, or the bundled fonts with
/// what the document has drawn with them.
enum Text {
    Builtin,
    Unicode {
        text: Box<UnicodeText>,
        /// The `/Type0` object of each bundled font, once it is drawn.
        ids: [Option<usize>; faces::COUNT],
        /// The bundled fonts the current page draws.
        on_page: [bool; faces::COUNT],
    },
}

/// Writes the PDF to a file as the layout goes.
pub struct StreamCanvas {
    out: BufWriter<File>,
    /// Byte offset of each object, indexed by object number; the next
    /// object's number is its length.
    offsets: Vec<u64>,
    page_ids: Vec<usize>,
    content: String,
    page_images: Vec<(String, usize)>,
    error: Option<io::Error>,
    info_title: Option<String>,
    encoding: ImageEncoding,
    fonts: Text,
}

impl StreamCanvas {
    pub fn create(
        path: &Path,
        title: &str,
        encoding: ImageEncoding,
        font: PdfFont,
    ) -> io::Result<StreamCanvas> {
        let mut out = BufWriter::with_capacity(64 << 10, File::create(path)?);
        out.write_all(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")?;
        let mut c = StreamCanvas {
            out,
            offsets: vec![0; FIRST_FREE],
            page_ids: Vec::new(),
            content: String::new(),
            page_images: Vec::new(),
            error: None,
            info_title: None,
            encoding,
            fonts: match font {
                PdfFont::Builtin => Text::Builtin,
                PdfFont::Unicode => Text::Unicode {
                    text: Box::default(),
                    ids: [None; faces::COUNT],
                    on_page: [false; faces::COUNT],
                },
            },
        };
        // The unicode fonts are written at the end, once their glyphs are
        // known; the base-14 fonts' numbers then stay free.
        let builtin = if font == PdfFont::Builtin {
            &FONTS[..]
        } else {
            &[]
        };
        for (id, _, base) in builtin {
            c.object(
                *id,
                format!(
                    "<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>"
                )
                .as_bytes(),
            )?;
        }
        c.info_title = Some(title.to_string());
        Ok(c)
    }

    fn alloc(&mut self) -> usize {
        new_object(&mut self.offsets)
    }

    fn pos(&mut self) -> io::Result<u64> {
        self.out.stream_position()
    }

    fn object(&mut self, id: usize, body: &[u8]) -> io::Result<()> {
        self.offsets[id] = self.pos()?;
        writeln!(self.out, "{id} 0 obj")?;
        self.out.write_all(body)?;
        self.out.write_all(b"\nendobj\n")
    }

    fn stream(&mut self, id: usize, dict: &str, data: &[u8]) -> io::Result<()> {
        self.offsets[id] = self.pos()?;
        write!(
            self.out,
            "{id} 0 obj\n<< {dict} /Length {} >>\nstream\n",
            data.len()
        )?;
        self.out.write_all(data)?;
        self.out.write_all(b"\nendstream\nendobj\n")
    }

    fn record(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn flush_page(&mut self) -> io::Result<()> {
        let content_id = self.alloc();
        let page_id = self.alloc();
        let content = std::mem::take(&mut self.content);
        self.stream(content_id, "", content.as_bytes())?;
        let mut xobjects = String::new();
        for (name, id) in self.page_images.drain(..) {
            let _ = write!(xobjects, "/{name} {id} 0 R ");
        }
        let fonts: String = match &mut self.fonts {
            Text::Builtin => FONTS
                .iter()
                .map(|(id, n, _)| format!("/{n} {id} 0 R "))
                .collect(),
            Text::Unicode { ids, on_page, .. } => {
                let names = (0..faces::COUNT)
                    .filter(|f| on_page[*f])
                    .filter_map(|f| Some((f, ids[f]?)))
                    .map(|(f, id)| format!("/{} {id} 0 R ", unicode::resource_name(f)))
                    .collect();
                *on_page = [false; faces::COUNT];
                names
            }
        };
        let page = format!(
            "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] /Contents {content_id} 0 R /Resources << /Font << {fonts}>> /XObject << {xobjects}>> >> >>"
        );
        self.object(page_id, page.as_bytes())?;
        self.page_ids.push(page_id);
        Ok(())
    }

    /// Write the last page, the page tree, the catalog and the xref table.
    /// Returns the file's size in bytes.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.content.is_empty() || self.page_ids.is_empty() {
            self.flush_page()?;
        }
        self.write_unicode_fonts()?;
        let kids: String = self
            .page_ids
            .iter()
            .map(|id| format!("{id} 0 R "))
            .collect();
        let pages = format!(
            "<< /Type /Pages /Kids [{kids}] /Count {} >>",
            self.page_ids.len()
        );
        self.object(PAGES, pages.as_bytes())?;
        self.object(
            CATALOG,
            format!("<< /Type /Catalog /Pages {PAGES} 0 R >>").as_bytes(),
        )?;
        let info_id = self.alloc();
        let title = pdf_text_string(self.info_title.as_deref().unwrap_or(""));
        self.object(
            info_id,
            format!("<< /Title {title} /Producer (oomlab report-server) >>").as_bytes(),
        )?;
        let xref = self.pos()?;
        write!(
            self.out,
            "xref\n0 {}\n0000000000 65535 f \n",
            self.offsets.len()
        )?;
        for off in &self.offsets[1..] {
            if *off == 0 {
                // An object number never used (the base-14 fonts' with
                // the unicode fonts).
                writeln!(self.out, "0000000000 00001 f ")?;
            } else {
                writeln!(self.out, "{off:010} 00000 n ")?;
            }
        }
        write!(
            self.out,
            "trailer\n<< /Size {} /Root {CATALOG} 0 R /Info {info_id} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len()
        )?;
        self.out.flush()?;
        self.pos()
    }

    /// The bundled fonts the document drew, as subsets, under the ids its
    /// pages named.
    fn write_unicode_fonts(&mut self) -> io::Result<()> {
        let (text, ids) = match &mut self.fonts {
            Text::Unicode { text, ids, .. } => (std::mem::take(text), *ids),
            Text::Builtin => return Ok(()),
        };
        for (face, id) in ids.iter().enumerate() {
            let Some(id) = *id else { continue };
            let objects = text
                .font_objects(face, id, || self.alloc())
                .map_err(io::Error::other)?;
            for (id, object) in objects {
                match object {
                    PdfObject::Dict(d) => self.object(id, d.as_bytes())?,
                    PdfObject::Stream { dict, data } => self.stream(id, &dict, &data)?,
                }
            }
        }
        Ok(())
    }
}

/// A new object number in `offsets` (its offset is set when it is written).
fn new_object(offsets: &mut Vec<u64>) -> usize {
    offsets.push(0);
    offsets.len() - 1
}

/// A PDF literal string of `s`'s WinAnsi bytes, for the base-14 fonts:
/// `\`, `(` and `)` escaped, bytes outside printable ASCII written as
/// octal escapes (`é` is `\351`), so the content stream stays ASCII.
/// Characters WinAnsi lacks are `?` ([`winansi::printable`]).
fn pdf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for b in winansi::encode(s) {
        match b {
            b'\\' | b'(' | b')' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b' '..=b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push(')');
    out
}

/// A PDF text string (the document title), outside content streams: ASCII
/// as a literal, anything else as UTF-16BE with its byte order mark, which
/// readers show in any script.
fn pdf_text_string(s: &str) -> String {
    if s.chars().all(|c| matches!(c, ' '..='~')) {
        return pdf_string(s);
    }
    let mut out = String::from("<FEFF");
    for unit in s.encode_utf16() {
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

/// A JPEG written into the file, to be drawn on a page.
pub struct StreamImage {
    name: String,
    id: usize,
}

fn font_name(font: Font) -> &'static str {
    match font {
        Font::Regular => "F1",
        Font::Bold => "F2",
        Font::Oblique => "F3",
    }
}

impl Canvas for StreamCanvas {
    type Image = StreamImage;

    fn text(&mut self, x: f32, y: f32, font: Font, size: f32, s: &str) {
        if let Text::Unicode { text, ids, on_page } = &mut self.fonts {
            let (ops, used) = text.show(x, y, font, size, s);
            self.content.push_str(&ops);
            for face in (0..faces::COUNT).filter(|f| used[*f]) {
                on_page[face] = true;
                // The font's number is known from its first use, so pages
                // name it before its objects are written at the end.
                if ids[face].is_none() {
                    ids[face] = Some(new_object(&mut self.offsets));
                }
            }
            return;
        }
        let _ = writeln!(
            self.content,
            "BT /{} {size} Tf {x:.2} {y:.2} Td {} Tj ET",
            font_name(font),
            pdf_string(s)
        );
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, grey: f32) {
        let _ = writeln!(
            self.content,
            "{grey} G {x1:.2} {y1:.2} m {x2:.2} {y2:.2} l S"
        );
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        let _ = writeln!(self.content, "{grey} G {x:.2} {y:.2} {w:.2} {h:.2} re S");
    }

    fn add_jpeg(&mut self, p: &PreparedPhoto) -> StreamImage {
        let id = self.alloc();
        let decode = if p.components == Components::Cmyk {
            " /Decode [1 0 1 0 1 0 1 0]"
        } else {
            ""
        };
        let filter = match self.encoding {
            ImageEncoding::Binary => "/DCTDecode",
            ImageEncoding::Ascii85 => "[/ASCII85Decode /DCTDecode]",
        };
        let dict = format!(
            "/Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /{} /BitsPerComponent 8 /Filter {filter}{decode}",
            p.width,
            p.height,
            p.components.pdf_color_space()
        );
        let r = match self.encoding {
            ImageEncoding::Binary => self.stream(id, &dict, &p.jpeg),
            // Encoded one photo at a time: only its copy is held.
            ImageEncoding::Ascii85 => self.stream(id, &dict, &ascii85::encode(&p.jpeg)),
        };
        self.record(r);
        StreamImage {
            name: format!("Im{id}"),
            id,
        }
    }

    fn image(&mut self, img: &StreamImage, x: f32, y: f32, w: f32, h: f32) {
        let _ = writeln!(
            self.content,
            "q {w:.2} 0 0 {h:.2} {x:.2} {y:.2} cm /{} Do Q",
            img.name
        );
        // The page that draws an image lists it in its resources.
        if !self.page_images.iter().any(|(_, id)| *id == img.id) {
            self.page_images.push((img.name.clone(), img.id));
        }
    }

    fn rgb(&mut self, img: &image::RgbImage, x: f32, y: f32, w: f32, h: f32) {
        let id = self.alloc();
        let dict = format!(
            "/Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceRGB /BitsPerComponent 8",
            img.width(),
            img.height()
        );
        let r = self.stream(id, &dict, img.as_raw());
        self.record(r);
        let name = format!("Im{id}");
        let _ = writeln!(
            self.content,
            "q {w:.2} 0 0 {h:.2} {x:.2} {y:.2} cm /{name} Do Q"
        );
        self.page_images.push((name, id));
    }

    fn new_page(&mut self) {
        let r = self.flush_page();
        self.record(r);
    }
}
