//! Where the app's own code sets up a known memory hog: its Python files
//! searched for the pattern's regex. The allocation itself often happens
//! later and inside the library (reportlab decodes, at build time, the
//! in-memory photo the app handed it in its photo-grid function), so the
//! stack alone does not show the line to change.

use std::path::{Path, PathBuf};

use super::patterns::Pattern;
use crate::report::heap::HeapFrame;

/// Files read at most, and bytes read of one.
const MAX_FILES: usize = 2000;
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Lines named per cause.
const MAX_LINES: usize = 5;

/// The app's own Python files: under `app_dir`, virtualenvs, packages,
/// caches and hidden folders left out.
pub fn sources(app_dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![app_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if p.is_dir() {
                let skip = name.starts_with('.')
                    || [
                        "venv",
                        "site-packages",
                        "node_modules",
                        "__pycache__",
                        "dist-packages",
                    ]
                    .contains(&name.as_str())
                    || p.join("pyvenv.cfg").is_file();
                if !skip {
                    stack.push(p);
                }
            } else if name.ends_with(".py") && p.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES)
            {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    out.push((p, text));
                }
                if out.len() >= MAX_FILES {
                    return out;
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The function `line` (0-based) of `lines` is in: the nearest `def` above
/// it with less indentation.
fn enclosing_function(lines: &[&str], line: usize) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut limit = indent(lines[line]);
    for l in lines[..line].iter().rev() {
        let t = l.trim_start();
        if t.is_empty() || indent(l) >= limit {
            continue;
        }
        let t = t.strip_prefix("async ").unwrap_or(t);
        if let Some(rest) = t.strip_prefix("def ") {
            return rest
                .split(['(', ':'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
        }
        if t.starts_with("class ") {
            break;
        }
        limit = indent(l);
    }
    "<module>".into()
}

/// The lines of the app's `sources` where `pattern` is set up, those in a
/// function of the site's `stack` first.
pub fn lines(
    pattern: &Pattern,
    sources: &[(PathBuf, String)],
    app_dir: &Path,
    stack: &[HeapFrame],
) -> Vec<HeapFrame> {
    let mut found = all_lines(pattern, sources, app_dir);
    found.sort_by_key(|l| {
        !stack
            .iter()
            .any(|f| f.own && f.file == l.file && f.function == l.function)
    });
    found.truncate(MAX_LINES);
    found
}

fn all_lines(pattern: &Pattern, sources: &[(PathBuf, String)], app_dir: &Path) -> Vec<HeapFrame> {
    let (uses, rx) = pattern.your_code;
    let Ok(re) = regex::Regex::new(rx) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, text) in sources {
        if !text.contains(uses) {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (n, l) in lines.iter().enumerate() {
            let code = l.trim();
            if code.starts_with('#') || code.starts_with("import ") || code.starts_with("from ") {
                continue;
            }
            if re.is_match(l) {
                out.push(HeapFrame {
                    function: enclosing_function(&lines, n),
                    file: path
                        .strip_prefix(app_dir)
                        .unwrap_or(path)
                        .display()
                        .to_string(),
                    line: u32::try_from(n + 1).unwrap_or(u32::MAX),
                    code: code.chars().take(160).collect(),
                    own: true,
                });
                if out.len() >= 10 * MAX_LINES {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::patterns::PATTERNS;

    #[test]
    fn the_line_handing_reportlab_an_in_memory_photo_is_found_with_its_function() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("app/.venv/lib")).unwrap();
        std::fs::write(d.path().join("app/.venv/lib/x.py"), "Image(x)\n").unwrap();
        std::fs::write(
            d.path().join("app/pdf.py"),
            "from reportlab.platypus import Image\n\n\
             def _photo_grid(photos):\n    cells = []\n    for p in photos:\n\
             \x20       cells.append(Image(io.BytesIO(p)))\n    return cells\n",
        )
        .unwrap();
        let app = d.path().join("app");
        let src = sources(&app);
        assert_eq!(src.len(), 1, "the venv is not the app");
        let p = PATTERNS
            .iter()
            .find(|p| p.id == "reportlab-imagereader-in-memory")
            .unwrap();
        let found = lines(p, &src, &app, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].at(), "pdf.py:6 _photo_grid");
        assert_eq!(found[0].code, "cells.append(Image(io.BytesIO(p)))");
    }
}
