//! Where an app's memory was at its peak: the allocation sites a heap
//! tracer (memray, or tracemalloc as the fallback) saw in each process of
//! the tree (`oomlab run --heap`), the app's own frames marked apart from
//! library frames, and the known pattern each site matches.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::table::{Align, Table};
use crate::units::mb;

/// What `--heap` found, in `run.json` as `heap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeapReport {
    /// The tracer and its version, e.g. `memray 1.19.1`.
    pub tool: String,
    /// Where the tracer came from (installed by oomlab in its cache, or the
    /// app's own environment).
    pub source: String,
    /// When the sites were taken, in words (each process's high-water mark
    /// as recorded until it ended or was killed, or the last snapshot).
    pub when: String,
    /// What the tracer cannot see, when it matters (tracemalloc misses C
    /// allocations such as Pillow's image buffers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blind_spot: Option<String>,
    /// Every traced process, the one with the largest peak first.
    pub processes: Vec<HeapProcess>,
    /// Why a capture could not be read, when one could not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One traced process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeapProcess {
    pub pid: u32,
    /// Its command line as the tracer saw it.
    pub command: String,
    /// The memory the tracer saw held at the process's high-water mark,
    /// bytes (the heap as the tracer sees it, not the RSS).
    pub peak_bytes: u64,
    /// The capture file, relative to the run folder.
    pub capture: String,
    /// memray's flame graph of the high-water mark (HTML), relative to the
    /// run folder, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<String>,
    /// The sites holding the most at the peak, largest first (at most 10).
    pub sites: Vec<HeapSite>,
}

/// Memory held at the peak, grouped by where it was allocated and by the
/// app's own frame that led there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeapSite {
    /// Bytes held at the peak.
    pub bytes: u64,
    /// Allocations behind them.
    pub allocations: u64,
    /// The innermost Python frame: where the memory was asked for.
    pub frame: HeapFrame,
    /// The way from the app's code to `frame`: the innermost frame of each
    /// other package on the stack (reportlab's `getRGBData` under Pillow's
    /// `load`), at most 2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<HeapFrame>,
    /// The innermost frame of the app's own code, when the stack has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_frame: Option<HeapFrame>,
    /// The stack of the largest allocation of the group, innermost first
    /// (at most 12 frames).
    pub stack: Vec<HeapFrame>,
    /// The known pattern it matches, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<HeapCause>,
}

/// A Python frame: its file relative to the app's folder for the app's own
/// code, from the package folder on for a library.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeapFrame {
    /// The function (empty when the tracer does not say: tracemalloc).
    pub function: String,
    /// The file as shown: relative to the app's folder for its own code,
    /// from the package folder on for a library.
    pub file: String,
    pub line: u32,
    /// The line's source text, when the file could be read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// Whether it is the app's own code (under its working directory and
    /// not an installed package).
    pub own: bool,
}

impl HeapFrame {
    /// `file:line function`.
    pub fn at(&self) -> String {
        if self.function.is_empty() {
            format!("{}:{}", self.file, self.line)
        } else {
            format!("{}:{} {}", self.file, self.line, self.function)
        }
    }
}

/// A known memory hog a site matches, with its fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeapCause {
    /// The pattern's id, e.g. `reportlab-imagereader-in-memory`.
    pub id: String,
    /// What holds the memory.
    pub cause: String,
    /// What to change.
    pub fix: String,
    /// The reference server's profiles that show the difference.
    pub compare: String,
    /// Where the app's own code sets it up (a search of its Python files:
    /// the allocation often happens later, inside the library).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub your_lines: Vec<HeapFrame>,
}

impl HeapReport {
    /// The process with the largest peak, when any was read.
    pub fn largest(&self) -> Option<&HeapProcess> {
        self.processes.first()
    }

    /// One line for the terminal: the top site of the largest process and
    /// its likely cause.
    pub fn summary(&self) -> String {
        let Some(p) = self.largest() else {
            return format!(
                "heap ({}): no capture could be read{}",
                self.tool,
                self.errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        };
        let Some(s) = p.sites.first() else {
            return format!(
                "heap ({}): process {} held {} at its peak, no site recorded",
                self.tool,
                p.pid,
                mb(p.peak_bytes)
            );
        };
        let share = 100.0 * s.bytes as f64 / p.peak_bytes.max(1) as f64;
        let at = match &s.own_frame {
            Some(own) => format!("{} (your code), in {}", own.at(), s.frame.at()),
            None => s.frame.at(),
        };
        let cause = s
            .cause
            .as_ref()
            .map(|c| format!("; likely {}; fix: {}", c.id, c.fix))
            .unwrap_or_default();
        format!(
            "heap ({}): {} of process {}'s {} at its peak ({share:.0}%) from {at}{cause}",
            self.tool,
            mb(s.bytes),
            p.pid,
            mb(p.peak_bytes)
        )
    }
}

/// report.md's section.
pub fn markdown(o: &mut String, h: &HeapReport) {
    let _ = writeln!(
        o,
        "\n## Where the memory was: allocation sites at the peak\n"
    );
    let _ = writeln!(
        o,
        "{} ({}) traced every Python process of the app. Sites: {}.",
        h.tool, h.source, h.when
    );
    if let Some(b) = &h.blind_spot {
        let _ = writeln!(o, "\n**Not seen:** {b}");
    }
    let _ = writeln!(
        o,
        "\nTracing costs memory and time: this run's peak is the traced app's, \
         not the untraced one (run without `--heap` for that; the cost measured \
         on the example app is in docs/measurements/heap-sites.md)."
    );
    for e in &h.errors {
        let _ = writeln!(o, "\n**Capture not read:** {e}");
    }
    for (n, p) in h.processes.iter().enumerate() {
        if n > 0 && p.sites.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n### Process {}: {} at its high-water mark\n\n`{}`; capture `{}`{}\n",
            p.pid,
            mb(p.peak_bytes),
            p.command,
            p.capture,
            p.flamegraph
                .as_ref()
                .map(|f| format!("; flame graph [{f}]({f})"))
                .unwrap_or_default()
        );
        if n > 0 {
            // The others in one line each: the largest process is the answer.
            if let Some(s) = p.sites.first() {
                let _ = writeln!(o, "Largest site: {} {}", mb(s.bytes), site_where(s));
            }
            continue;
        }
        let mut t = Table::new(&[
            ("#", Align::Figure),
            ("held", Align::Figure),
            ("allocations", Align::Figure),
            ("allocated at", Align::Text),
            ("your code", Align::Text),
        ]);
        for (i, s) in p.sites.iter().enumerate() {
            let own = s
                .own_frame
                .as_ref()
                .map(|f| {
                    if f.code.is_empty() {
                        format!("`{}`", f.at())
                    } else {
                        format!("`{}`: `{}`", f.at(), f.code)
                    }
                })
                .unwrap_or_else(|| "none in the stack".into());
            let via: String = s.via.iter().map(|f| format!(" via `{}`", f.at())).collect();
            t.row(vec![
                (i + 1).to_string(),
                mb(s.bytes),
                s.allocations.to_string(),
                format!("`{}`{via}", s.frame.at()),
                own,
            ]);
        }
        o.push_str(&t.markdown());
        let mut seen = Vec::new();
        for (i, s) in p.sites.iter().enumerate() {
            let Some(c) = &s.cause else { continue };
            if seen.contains(&c.id) {
                continue;
            }
            seen.push(c.id.clone());
            let _ = writeln!(
                o,
                "\n**Likely cause** (site {}, `{}`): {}\n**Fix:** {}\n**Compare:** {}",
                i + 1,
                c.id,
                c.cause,
                c.fix,
                c.compare
            );
            if !c.your_lines.is_empty() {
                let _ = writeln!(o, "**Where your code sets it up:**");
                for l in &c.your_lines {
                    let _ = writeln!(o, "- `{}`: `{}`", l.at(), l.code.replace('`', "'"));
                }
            }
        }
    }
}

fn site_where(s: &HeapSite) -> String {
    match &s.own_frame {
        Some(own) => format!("`{}` in `{}`", own.at(), s.frame.at()),
        None => format!("`{}`", s.frame.at()),
    }
}
