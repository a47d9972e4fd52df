//! From the reader script's records to report.md's sites: the app's own
//! frames told apart from library frames, records grouped by where they
//! were allocated and the app's line that led there, the largest first,
//! each matched against the known patterns.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::patterns;
use crate::report::heap::{HeapFrame, HeapProcess, HeapSite};

/// Sites kept per process.
pub const TOP_SITES: usize = 10;
/// Frames kept of a site's stack.
const STACK_FRAMES: usize = 12;

/// What the reader script wrote.
#[derive(Debug, Deserialize)]
pub struct Captures {
    pub version: String,
    pub processes: Vec<RawProcess>,
    #[serde(default)]
    pub errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawProcess {
    pub capture: String,
    pub pid: u32,
    pub command: String,
    pub peak_bytes: u64,
    #[serde(default)]
    pub flamegraph: Option<String>,
    pub records: Vec<RawRecord>,
}

#[derive(Debug, Deserialize)]
pub struct RawRecord {
    pub bytes: u64,
    pub allocations: u64,
    pub frames: Vec<RawFrame>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawFrame {
    pub function: String,
    pub file: String,
    pub line: u32,
    #[serde(default)]
    pub code: String,
}

/// Whether `file` is the app's own code: under `app_dir` and not inside an
/// installed package (a venv in the app's folder is not the app).
pub fn is_own(file: &str, app_dir: &Path) -> bool {
    let p = Path::new(file);
    p.starts_with(app_dir)
        && !p.components().any(|c| {
            let c = c.as_os_str();
            c == "site-packages" || c == "dist-packages" || c == ".venv" || c == "venv"
        })
}

/// `file` as shown: relative to the app's folder for its own code; from
/// the package folder on (`PIL/Image.py`) for an installed package;
/// otherwise as it is.
pub fn shown(file: &str, app_dir: &Path, own: bool) -> String {
    if own && let Ok(rel) = Path::new(file).strip_prefix(app_dir) {
        return rel.display().to_string();
    }
    for marker in ["site-packages/", "dist-packages/"] {
        if let Some(i) = file.rfind(marker) {
            return file[i + marker.len()..].to_string();
        }
    }
    // The standard library: after the `pythonX.Y/` folder.
    if let Some(i) = file.find("/lib/python") {
        let after = &file[i + "/lib/".len()..];
        if let Some(j) = after.find('/') {
            return after[j + 1..].to_string();
        }
    }
    file.to_string()
}

fn frame(f: &RawFrame, app_dir: &Path) -> HeapFrame {
    let own = is_own(&f.file, app_dir);
    HeapFrame {
        function: f.function.clone(),
        file: shown(&f.file, app_dir, own),
        line: f.line,
        code: f.code.clone(),
        own,
    }
}

/// One process's sites: records grouped by (allocating frame, the app's
/// innermost frame), the largest [`TOP_SITES`] groups, each with the
/// pattern its largest record's stack matches.
pub fn process(
    raw: RawProcess,
    app_dir: &Path,
    sources: &[(std::path::PathBuf, String)],
) -> HeapProcess {
    struct Group {
        bytes: u64,
        allocations: u64,
        largest: u64,
        stack: Vec<HeapFrame>,
        raw_stack: Vec<RawFrame>,
    }
    // (allocating file and line, the app's file and line)
    type Key = (Option<(String, u32)>, Option<(String, u32)>);
    let mut groups: HashMap<Key, Group> = HashMap::new();
    let mut order = Vec::new();
    for r in &raw.records {
        let stack: Vec<HeapFrame> = r.frames.iter().map(|f| frame(f, app_dir)).collect();
        let top = stack.first().map(|f| (f.file.clone(), f.line));
        let own = stack
            .iter()
            .find(|f| f.own)
            .map(|f| (f.file.clone(), f.line));
        let key = (top, own);
        let g = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Group {
                bytes: 0,
                allocations: 0,
                largest: 0,
                stack: Vec::new(),
                raw_stack: Vec::new(),
            }
        });
        g.bytes += r.bytes;
        g.allocations += r.allocations;
        if r.bytes > g.largest {
            g.largest = r.bytes;
            g.stack = stack;
            g.raw_stack = r.frames.clone();
        }
    }
    let mut sites: Vec<HeapSite> = order
        .into_iter()
        .filter_map(|k| groups.remove(&k))
        .map(|g| {
            let unknown = HeapFrame {
                function: "(no Python frame: the interpreter or a C thread)".into(),
                file: "?".into(),
                line: 0,
                code: String::new(),
                own: false,
            };
            HeapSite {
                bytes: g.bytes,
                allocations: g.allocations,
                frame: g.stack.first().cloned().unwrap_or(unknown),
                via: via(&g.stack),
                own_frame: g.stack.iter().find(|f| f.own).cloned(),
                cause: patterns::matching(&g.raw_stack)
                    .map(|p| p.cause(super::your_code::lines(p, sources, app_dir, &g.stack))),
                stack: g.stack.into_iter().take(STACK_FRAMES).collect(),
            }
        })
        .collect();
    sites.sort_by_key(|s| std::cmp::Reverse(s.bytes));
    sites.truncate(TOP_SITES);
    HeapProcess {
        pid: raw.pid,
        command: app_command(&raw.command),
        peak_bytes: raw.peak_bytes,
        capture: format!("heap/{}", raw.capture),
        flamegraph: raw.flamegraph.map(|f| format!("heap/{f}")),
        sites,
    }
}

/// The app's command line out of memray's (`.../memray/__main__.py run
/// --follow-fork --quiet -o FILE APP ARGS`): `APP ARGS`.
fn app_command(command: &str) -> String {
    if command.contains("memray")
        && let Some(i) = command.find(" -o ")
    {
        let after = &command[i + 4..];
        if let Some(j) = after.find(' ') {
            return after[j + 1..].to_string();
        }
    }
    command.to_string()
}

/// The package a shown file is in (`PIL` of `PIL/Image.py`).
fn package(file: &str) -> &str {
    file.split('/').next().unwrap_or(file)
}

/// The innermost frame of each package other than the allocating frame's,
/// between it and the app's own code, at most 2.
fn via(stack: &[HeapFrame]) -> Vec<HeapFrame> {
    let Some(top) = stack.first() else {
        return Vec::new();
    };
    let mut seen = vec![package(&top.file)];
    let mut out = Vec::new();
    for f in stack.iter().skip(1).take_while(|f| !f.own) {
        let p = package(&f.file);
        if !seen.contains(&p) && !f.file.starts_with('<') {
            seen.push(p);
            out.push(f.clone());
            if out.len() == 2 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(function: &str, file: &str, line: u32) -> RawFrame {
        RawFrame {
            function: function.into(),
            file: file.into(),
            line,
            code: String::new(),
        }
    }

    #[test]
    fn own_code_is_the_apps_folder_without_its_venv() {
        let app = Path::new("/srv/app");
        assert!(is_own("/srv/app/inspections/pdf.py", app));
        assert!(!is_own(
            "/srv/app/.venv/lib/python3.11/site-packages/PIL/Image.py",
            app
        ));
        assert!(!is_own("/usr/lib/python3.11/io.py", app));
        assert_eq!(
            shown(
                "/srv/app/.venv/lib/python3.11/site-packages/PIL/Image.py",
                app,
                false
            ),
            "PIL/Image.py"
        );
        assert_eq!(
            shown("/usr/lib/python3.11/json/decoder.py", app, false),
            "json/decoder.py"
        );
        assert_eq!(
            shown("/srv/app/inspections/pdf.py", app, true),
            "inspections/pdf.py"
        );
    }

    #[test]
    fn records_group_by_allocating_line_and_own_line_largest_first() {
        let app = Path::new("/srv/app");
        let pil = "/srv/app/.venv/lib/python3.11/site-packages/PIL/ImageFile.py";
        let rec = |bytes, own_line| RawRecord {
            bytes,
            allocations: 1,
            frames: vec![f("load", pil, 269), f("grid", "/srv/app/pdf.py", own_line)],
        };
        let raw = RawProcess {
            capture: "memray-1.bin.2".into(),
            pid: 2,
            command: "gunicorn".into(),
            peak_bytes: 100,
            flamegraph: None,
            records: vec![rec(10, 5), rec(40, 7), rec(20, 5)],
        };
        let p = process(raw, app, &[]);
        assert_eq!(p.sites.len(), 2);
        assert_eq!(
            (
                p.sites[0].bytes,
                p.sites[0].own_frame.as_ref().unwrap().line
            ),
            (40, 7)
        );
        assert_eq!((p.sites[1].bytes, p.sites[1].allocations), (30, 2));
        assert_eq!(p.sites[1].frame.at(), "PIL/ImageFile.py:269 load");
        assert_eq!(p.capture, "heap/memray-1.bin.2");
        assert_eq!(
            app_command(
                "/c/memray/__main__.py run --follow-fork --quiet -o /r/m.bin /app/.venv/bin/gunicorn -w 1"
            ),
            "/app/.venv/bin/gunicorn -w 1"
        );
    }
}
