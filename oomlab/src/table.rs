//! Tables for a terminal and for Markdown, and prose for a terminal.
//! [`Table::render`]: aligned columns, every line at most [`WIDTH`]
//! characters; [`Table::markdown`]: the same table for report.md and the
//! other Markdown files, figures right-aligned there too. The answer commands print these; the full tables
//! (every column, nothing cut) are in the files they write (`compare.md`,
//! `plan.md`, `calibration.md`).
//!
//! A table too wide for the width narrows its text columns, widest first,
//! and cuts their cells with `…`; figures (right-aligned columns) are never
//! cut, as a cut number would read as another number.

use std::fmt::Write as _;

/// Widest line the answer commands print to a terminal.
pub const WIDTH: usize = 100;

/// Narrowest a text column is made before lines are cut whole.
const MIN_TEXT: usize = 8;

/// Two spaces between columns.
const GAP: &str = "  ";

/// How a column's cells sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: left-aligned, cut with `…` when the table is too wide.
    Text,
    /// A figure: right-aligned, never cut.
    Figure,
}

/// A terminal table: a head and rows of cells.
#[derive(Debug, Clone)]
pub struct Table {
    head: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            head: columns.iter().map(|(h, _)| h.to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.head.len(), String::new());
        self.rows.push(cells);
    }

    /// The table, every line at most `width` characters, no trailing
    /// spaces.
    pub fn render(&self, width: usize) -> String {
        let mut widths: Vec<usize> = self.head.iter().map(|h| chars(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(chars(cell));
            }
        }
        let total =
            |ws: &[usize]| ws.iter().sum::<usize>() + GAP.len() * ws.len().saturating_sub(1);
        // Narrow the widest text column, one character at a time.
        while total(&widths) > width {
            let widest = (0..widths.len())
                .filter(|&i| self.align[i] == Align::Text && widths[i] > MIN_TEXT)
                .max_by_key(|&i| (widths[i], i));
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        let mut s = String::new();
        for row in std::iter::once(&self.head).chain(&self.rows) {
            let line = row
                .iter()
                .zip(&widths)
                .zip(&self.align)
                .map(|((cell, &w), align)| match align {
                    Align::Text => format!("{:<w$}", cut(cell, w)),
                    Align::Figure => format!("{cell:>w$}"),
                })
                .collect::<Vec<_>>()
                .join(GAP);
            let _ = writeln!(s, "{}", cut(line.trim_end(), width));
        }
        s
    }
}

impl Table {
    /// The table as Markdown: `| a | b |` rows under a `|---|---:|` line
    /// (figures right-aligned), every cell whole, a `|` in a cell escaped
    /// (one already escaped is left as it is).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let line = |cells: &[String]| -> String {
            let cells: Vec<String> = cells.iter().map(|c| escape_bars(c)).collect();
            format!("| {} |", cells.join(" | "))
        };
        let _ = writeln!(s, "{}", line(&self.head));
        let rule: String = self
            .align
            .iter()
            .map(|a| match a {
                Align::Text => "---|",
                Align::Figure => "---:|",
            })
            .collect();
        let _ = writeln!(s, "|{rule}");
        for row in &self.rows {
            let _ = writeln!(s, "{}", line(row));
        }
        s
    }
}

/// `cell` with each `|` not already escaped written `\|`, and line breaks
/// as spaces (a Markdown row is one line).
fn escape_bars(cell: &str) -> String {
    let mut out = String::with_capacity(cell.len());
    let mut prev = ' ';
    for c in cell.chars() {
        match c {
            '|' if prev != '\\' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
        prev = c;
    }
    out
}

/// `text` word-wrapped to `width`, continuation lines indented by
/// `indent`; a word longer than a line (a path) is broken where the line
/// ends.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            let room = width.saturating_sub(chars(&line) + usize::from(!line.is_empty()));
            if chars(word) <= room {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                continue;
            }
            if !line.is_empty() && chars(indent) + chars(word) <= width {
                let _ = writeln!(out, "{line}");
                line = format!("{indent}{word}");
                continue;
            }
            // Too long for any line: fill this one and break it.
            let mut rest: Vec<char> = word.chars().collect();
            if !line.is_empty() {
                line.push(' ');
            }
            loop {
                let room = width.saturating_sub(chars(&line)).max(1);
                let take = room.min(rest.len());
                line.extend(rest.drain(..take));
                if rest.is_empty() {
                    break;
                }
                let _ = writeln!(out, "{line}");
                line = indent.to_string();
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The widest line of `text`, in characters.
pub fn max_line_width(text: &str) -> usize {
    text.lines().map(chars).max().unwrap_or(0)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `w` characters, the last one `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if chars(s) <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(&[
            ("profile", Align::Text),
            ("peak", Align::Figure),
            ("verdict", Align::Text),
        ]);
        t.row(vec![
            "original".into(),
            "531.0 MiB".into(),
            "killed on burst at 14.2 s".into(),
        ]);
        t.row(vec![
            "a-profile-with-a-very-long-name-from-a-user-directory-x".into(),
            "1234.5 MiB".into(),
            "held; ".repeat(20),
        ]);
        t
    }

    #[test]
    fn the_markdown_form_aligns_figures_right_and_escapes_bars_once() {
        let mut t = Table::new(&[("what", Align::Text), ("bytes", Align::Figure)]);
        t.row(vec!["a | b".into(), "12".into()]);
        t.row(vec!["c \\| d\nnext".into(), "3".into()]);
        assert_eq!(
            t.markdown(),
            "| what | bytes |\n|---|---:|\n| a \\| b | 12 |\n| c \\| d next | 3 |\n"
        );
    }

    #[test]
    fn a_table_that_fits_is_aligned_and_not_cut() {
        let mut t = Table::new(&[("profile", Align::Text), ("peak", Align::Figure)]);
        t.row(vec!["lean".into(), "80.0 MiB".into()]);
        t.row(vec!["original".into(), "531.0 MiB".into()]);
        assert_eq!(
            t.render(WIDTH),
            "profile        peak\nlean       80.0 MiB\noriginal  531.0 MiB\n"
        );
    }

    #[test]
    fn a_wide_table_narrows_its_text_columns_and_keeps_its_figures() {
        let out = table().render(WIDTH);
        assert!(max_line_width(&out) <= WIDTH, "{out}");
        assert!(out.contains("1234.5 MiB"), "{out}");
        assert!(out.contains('…'), "{out}");
        let narrow = table().render(40);
        assert!(max_line_width(&narrow) <= 40, "{narrow}");
    }

    #[test]
    fn wrapped_prose_fits_and_keeps_every_word() {
        let text = format!(
            "Recommendation: {} and a path /{}",
            "word ".repeat(40),
            "very-long-directory/".repeat(8)
        );
        let out = wrap(&text, WIDTH, "  ");
        assert!(max_line_width(&out) <= WIDTH, "{out}");
        let joined: String = out.split_whitespace().collect();
        let want: String = text.split_whitespace().collect();
        assert_eq!(joined, want);
        assert_eq!(wrap("short", WIDTH, "  "), "short\n");
    }
}
