//! Reading a produced PDF back with lopdf: where each image was drawn, and
//! the text, so tests check what a reader would show.

/// One image drawn on a page: its bounding box in points.
#[derive(Debug, Clone)]
pub struct Placement {
    pub page: u32,
    /// A photo (`DCTDecode`), not a signature.
    pub is_jpeg: bool,
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Placement {
    pub fn width(&self) -> f32 {
        self.x1 - self.x0
    }

    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    pub fn overlaps(&self, other: &Placement) -> bool {
        const EPS: f32 = 0.5;
        self.page == other.page
            && self.x0 < other.x1 - EPS
            && other.x0 < self.x1 - EPS
            && self.y0 < other.y1 - EPS
            && other.y0 < self.y1 - EPS
    }
}

type Matrix = [f32; 6];

/// `m` then `ctm`: the matrix `cm m` makes of the current one.
fn concat(m: Matrix, ctm: Matrix) -> Matrix {
    let [a, b, c, d, e, f] = m;
    let [a2, b2, c2, d2, e2, f2] = ctm;
    [
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    ]
}

/// Every image XObject drawn (`Do`), with its box from the unit square
/// through the current transformation matrix.
pub fn image_placements(pdf: &[u8]) -> Vec<Placement> {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    let mut out = Vec::new();
    for (page_no, page_id) in doc.get_pages() {
        let xobjects = page_xobjects(&doc, page_id);
        let content = doc
            .get_and_decode_page_content(page_id)
            .expect("the page content decodes");
        let mut ctm: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let mut stack = Vec::new();
        for op in content.operations {
            match op.operator.as_str() {
                "q" => stack.push(ctm),
                "Q" => ctm = stack.pop().expect("balanced q/Q"),
                "cm" => {
                    let n: Vec<f32> = op.operands.iter().map(|o| o.as_float().unwrap()).collect();
                    ctm = concat([n[0], n[1], n[2], n[3], n[4], n[5]], ctm);
                }
                "Do" => {
                    let name = op.operands[0].as_name().unwrap().to_vec();
                    let Some(&(is_image, is_jpeg)) = xobjects.get(&name) else {
                        panic!(
                            "page {page_no} draws /{} it does not list",
                            String::from_utf8_lossy(&name)
                        )
                    };
                    if !is_image {
                        continue;
                    }
                    let corners = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)].map(|(x, y)| {
                        (
                            ctm[0] * x + ctm[2] * y + ctm[4],
                            ctm[1] * x + ctm[3] * y + ctm[5],
                        )
                    });
                    let xs = corners.map(|c| c.0);
                    let ys = corners.map(|c| c.1);
                    out.push(Placement {
                        page: page_no,
                        is_jpeg,
                        x0: xs.iter().copied().fold(f32::MAX, f32::min),
                        x1: xs.iter().copied().fold(f32::MIN, f32::max),
                        y0: ys.iter().copied().fold(f32::MAX, f32::min),
                        y1: ys.iter().copied().fold(f32::MIN, f32::max),
                    });
                }
                _ => {}
            }
        }
    }
    out
}

/// The page's XObjects by name: (is an image, is a JPEG).
fn page_xobjects(
    doc: &lopdf::Document,
    page_id: lopdf::ObjectId,
) -> std::collections::HashMap<Vec<u8>, (bool, bool)> {
    let mut out = std::collections::HashMap::new();
    let (inline, referenced) = doc.get_page_resources(page_id).unwrap();
    let mut dicts: Vec<&lopdf::Dictionary> = inline.into_iter().collect();
    dicts.extend(
        referenced
            .iter()
            .filter_map(|id| doc.get_dictionary(*id).ok()),
    );
    for res in dicts {
        let Ok(xo) = res.get(b"XObject") else {
            continue;
        };
        let xo = doc.dereference(xo).unwrap().1.as_dict().unwrap();
        for (name, obj) in xo.iter() {
            let stream = doc.dereference(obj).unwrap().1.as_stream().unwrap();
            let is_image = stream
                .dict
                .get(b"Subtype")
                .and_then(|s| s.as_name())
                .is_ok_and(|s| s == b"Image");
            let is_jpeg = filters(&stream.dict)
                .last()
                .is_some_and(|f| f == "DCTDecode");
            out.insert(name.clone(), (is_image, is_jpeg));
        }
    }
    out
}

/// A stream's filters in the order they apply: `/Filter /F` or
/// `/Filter [/F1 /F2]`.
fn filters(dict: &lopdf::Dictionary) -> Vec<String> {
    let name = |o: &lopdf::Object| {
        o.as_name()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok()
    };
    match dict.get(b"Filter") {
        Ok(lopdf::Object::Array(a)) => a.iter().filter_map(name).collect(),
        Ok(o) => name(o).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// Every JPEG image stream in the file (whatever draws it): its filters
/// and its stored (still encoded) bytes.
pub fn jpeg_streams(pdf: &[u8]) -> Vec<(Vec<String>, Vec<u8>)> {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    doc.objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| {
            s.dict
                .get(b"Subtype")
                .and_then(|t| t.as_name())
                .is_ok_and(|t| t == b"Image")
        })
        .map(|s| (filters(&s.dict), s.content.clone()))
        .filter(|(f, _)| f.last().is_some_and(|f| f == "DCTDecode"))
        .collect()
}

/// Width and height of each page (its MediaBox), in points.
pub fn page_sizes(pdf: &[u8]) -> Vec<(f32, f32)> {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    doc.get_pages()
        .values()
        .map(|id| {
            let b = doc
                .get_dictionary(*id)
                .unwrap()
                .get(b"MediaBox")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| doc.dereference(v).unwrap().1.as_float().unwrap())
                .collect::<Vec<f32>>();
            (b[2] - b[0], b[3] - b[1])
        })
        .collect()
}

/// The text of every page, as lopdf decodes it through each font's
/// encoding.
pub fn text(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("the text extracts")
}
