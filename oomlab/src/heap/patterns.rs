//! Known memory hogs of apps of the modelled kind, matched against a site's
//! stack: what holds the memory, the fix, and the reference server's
//! profiles that show the difference (`oomlab compare`).
//!
//! A pattern matches when one frame of the stack (innermost first) is in
//! the named file and function, or its source line holds the named text.
//! The first pattern that matches wins, so the more specific ones (reportlab
//! decoding through Pillow) come before the general ones (Pillow decoding).

use super::sites::RawFrame;
use crate::report::heap::HeapCause;

/// One frame rule: a file path fragment and, when given, one of the
/// functions or a fragment of the source line.
struct Rule {
    file: &'static str,
    functions: &'static [&'static str],
    code: &'static [&'static str],
}

impl Rule {
    fn matches(&self, f: &RawFrame) -> bool {
        if !f.file.contains(self.file) {
            return false;
        }
        if self.functions.is_empty() && self.code.is_empty() {
            return true;
        }
        self.functions.contains(&f.function.as_str())
            || self.code.iter().any(|c| f.code.contains(c))
    }
}

/// A known pattern.
pub struct Pattern {
    pub id: &'static str,
    rules: &'static [Rule],
    /// Where the app's own code sets it up, as a regex over the lines of
    /// its Python files that mention `uses` (the allocation itself often
    /// happens later, inside the library: reportlab decodes at build time
    /// the photo handed to it in a photo-grid function).
    pub your_code: (&'static str, &'static str),
    pub cause: &'static str,
    pub fix: &'static str,
    pub compare: &'static str,
}

/// Every known pattern, most specific first.
pub const PATTERNS: &[Pattern] = &[
    Pattern {
        id: "reportlab-imagereader-in-memory",
        rules: &[
            Rule {
                file: "reportlab/lib/utils.py",
                functions: &[
                    "getRGBData",
                    "_read_image",
                    "_isPILImage",
                    "__init__",
                    "_image",
                ],
                code: &[],
            },
            Rule {
                file: "reportlab/",
                functions: &["getRGBData", "drawImage", "drawInlineImage"],
                code: &[],
            },
        ],
        your_code: ("reportlab", r"\b(ImageReader|Image)\s*\("),
        cause: "reportlab's ImageReader decodes a photo given as an in-memory file to \
                fingerprint it and keeps Pillow's decoded image plus an RGB copy (about \
                7.5 bytes per pixel) until the PDF is built: every photo of the report at once",
        fix: "give reportlab a file path (write each photo to a temporary file) so it embeds \
              the JPEG without decoding it, or shrink each photo first (Image.draft + thumbnail \
              to the printed size)",
        compare: "`oomlab compare` rows `quick-fix` (in-memory files) and `passthrough` (file paths)",
    },
    Pattern {
        id: "pillow-full-size-decode",
        rules: &[Rule {
            file: "PIL/",
            functions: &[
                "load",
                "decode",
                "convert",
                "tobytes",
                "copy",
                "_new",
                "resize",
                "transpose",
                "frombytes",
                "exif_transpose",
            ],
            code: &[],
        }],
        your_code: ("PIL", r"Image\.open\s*\(|\.load\(\)"),
        cause: "Pillow holds the photo decoded at full size (width x height x 3 bytes for RGB, \
                4 for CMYK or RGBA, and a copy per convert/transpose): a 12 MP phone photo is \
                36 MB, a 48 MP one 144 MB",
        fix: "decode JPEGs at reduced scale (`img.draft('RGB', (w, h))` before `load()`), \
              `thumbnail()` to the size printed, and `close()` each image before opening the \
              next, so one reduced photo is held at a time",
        compare: "`oomlab compare` rows `quick-fix` (full-size decode) against `resize` and `lean` \
                  (reduced-scale decode, one at a time)",
    },
    Pattern {
        id: "whole-response-body",
        rules: &[
            Rule {
                file: "requests/models.py",
                functions: &["content", "text", "json", "iter_content"],
                code: &[],
            },
            Rule {
                file: "urllib3/response.py",
                functions: &["read", "data", "_raw_read", "_fp_read"],
                code: &[],
            },
            Rule {
                file: "httpx/",
                functions: &["read", "aread", "content"],
                code: &[],
            },
            Rule {
                file: "urllib/request.py",
                functions: &[],
                code: &[".read()"],
            },
        ],
        your_code: ("requests", r"\.content\b|\.read\(\)"),
        cause: "a download's whole body is read into memory (`response.content`) and kept \
                while the next ones are fetched: every photo of the report compressed in \
                memory at once, before any is decoded",
        fix: "fetch photos one at a time and stream each to a temporary file \
              (`requests.get(url, stream=True)` + `shutil.copyfileobj(r.raw, f)`), or ask \
              the CDN for a smaller derivative (Cloudinary's w_1600,c_limit)",
        compare: "`oomlab compare` rows `original` (all photos up front) against `resize` (one \
                  at a time) and `cdn-transform` (the CDN resizes)",
    },
    Pattern {
        id: "openpyxl-whole-workbook",
        rules: &[Rule {
            file: "openpyxl/",
            functions: &[],
            code: &[],
        }],
        your_code: ("openpyxl", r"\bWorkbook\s*\(|load_workbook\s*\("),
        cause: "openpyxl builds the whole workbook in memory (an object per cell, images \
                included) before it is saved",
        fix: "`Workbook(write_only=True)` streams rows to the file; add images as files, \
              not decoded Pillow images",
        compare: "no reference profile differs only in this; the reference server writes \
                  its workbook streamed in every profile",
    },
    Pattern {
        id: "pandas-whole-table",
        rules: &[Rule {
            file: "pandas/",
            functions: &[],
            code: &[],
        }],
        your_code: ("pandas", r"\bread_(csv|excel|sql|json|parquet|table)\s*\("),
        cause: "pandas loads the whole table (every column, as Python objects for text)",
        fix: "read only the columns needed (`usecols=`), in chunks (`chunksize=`), with \
              compact dtypes (`dtype=`, `category` for repeated text)",
        compare: "no reference profile models pandas",
    },
    Pattern {
        id: "in-memory-file-copy",
        rules: &[Rule {
            file: "",
            functions: &[],
            code: &[".getvalue()", "BytesIO(", ".read()"],
        }],
        your_code: ("BytesIO", r"\.getvalue\(\)|BytesIO\s*\("),
        cause: "a whole file is held in memory and copied (`BytesIO(data)`, `.getvalue()`, \
                `.read()`): two copies live at once, for every photo in flight",
        fix: "pass file paths or the stream itself (`getbuffer()` avoids the copy), and \
              release each photo's bytes before the next",
        compare: "`oomlab compare` rows `quick-fix` (in-memory files) and `passthrough` (file paths)",
    },
];

/// The first pattern any frame of `stack` matches; none for memory of the
/// import machinery (a module's code, not a hog).
pub fn matching(stack: &[RawFrame]) -> Option<&'static Pattern> {
    if stack
        .iter()
        .any(|f| f.file.starts_with("<frozen importlib"))
    {
        return None;
    }
    PATTERNS
        .iter()
        .find(|p| stack.iter().any(|f| p.rules.iter().any(|r| r.matches(f))))
}

impl Pattern {
    /// The cause as report.md prints it, with the lines of the app's own
    /// code where it is set up.
    pub fn cause(&self, your_lines: Vec<crate::report::heap::HeapFrame>) -> HeapCause {
        HeapCause {
            id: self.id.to_string(),
            cause: self.cause.to_string(),
            fix: self.fix.to_string(),
            compare: self.compare.to_string(),
            your_lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SP: &str = "/app/.venv/lib/python3.11/site-packages/";

    fn f(function: &str, file: &str, code: &str) -> RawFrame {
        RawFrame {
            function: function.into(),
            file: file.into(),
            line: 1,
            code: code.into(),
        }
    }

    fn id(stack: &[RawFrame]) -> Option<String> {
        matching(stack).map(|p| p.id.to_string())
    }

    #[test]
    fn every_pattern_has_a_regex_for_the_apps_code_that_compiles() {
        for p in PATTERNS {
            regex::Regex::new(p.your_code.1).unwrap_or_else(|e| panic!("{}: {e}", p.id));
        }
    }

    #[test]
    fn reportlab_decoding_an_in_memory_photo_wins_over_pillow() {
        let stack = [
            f(
                "load",
                &format!("{SP}PIL/ImageFile.py"),
                "self.im = Image.core.new(...)",
            ),
            f("getRGBData", &format!("{SP}reportlab/lib/utils.py"), ""),
            f(
                "photo_grid",
                "/app/inspections/reports/pdf.py",
                "ImageReader(BytesIO(data))",
            ),
        ];
        assert_eq!(
            id(&stack).as_deref(),
            Some("reportlab-imagereader-in-memory")
        );
    }

    #[test]
    fn a_full_size_pillow_decode() {
        let stack = [
            f("load", &format!("{SP}PIL/ImageFile.py"), ""),
            f(
                "make_thumb",
                "/app/thumbs.py",
                "img = Image.open(p); img.load()",
            ),
        ];
        assert_eq!(id(&stack).as_deref(), Some("pillow-full-size-decode"));
    }

    #[test]
    fn a_whole_response_body() {
        let stack = [
            f("_fp_read", &format!("{SP}urllib3/response.py"), ""),
            f("content", &format!("{SP}requests/models.py"), ""),
            f(
                "fetch",
                "/app/storage.py",
                "return requests.get(url).content",
            ),
        ];
        assert_eq!(id(&stack).as_deref(), Some("whole-response-body"));
    }

    #[test]
    fn an_openpyxl_workbook() {
        let stack = [f("__init__", &format!("{SP}openpyxl/cell/cell.py"), "")];
        assert_eq!(id(&stack).as_deref(), Some("openpyxl-whole-workbook"));
    }

    #[test]
    fn a_pandas_table() {
        let stack = [f("read", &format!("{SP}pandas/io/parsers/readers.py"), "")];
        assert_eq!(id(&stack).as_deref(), Some("pandas-whole-table"));
    }

    #[test]
    fn an_in_memory_copy_in_the_apps_own_line() {
        let stack = [f("attach", "/app/mail.py", "payload = buf.getvalue()")];
        assert_eq!(id(&stack).as_deref(), Some("in-memory-file-copy"));
    }

    #[test]
    fn importing_a_library_is_not_its_pattern() {
        let stack = [
            f(
                "_compile_bytecode",
                "<frozen importlib._bootstrap_external>",
                "",
            ),
            f("<module>", &format!("{SP}openpyxl/drawing/image.py"), ""),
        ];
        assert_eq!(id(&stack), None);
    }

    #[test]
    fn an_unknown_stack_matches_nothing() {
        let stack = [f("build", "/app/report.py", "rows.append(row)")];
        assert_eq!(id(&stack), None);
    }
}
