//! report.md's "The load's work": what the scenario asked for against what
//! happened, each step's answers, the failed checks, degraded photos and
//! the app's own error lines.

use std::fmt::Write;

use crate::report::work::WorkReport;
use crate::table::{Align, Table};

/// The one line under the verdict: the failed check, or the counts.
pub(super) fn headline(o: &mut String, w: &WorkReport) {
    match w.failures.first() {
        Some(f) => {
            let _ = writeln!(o, "**The load failed:** {}\n", f.line());
        }
        None => {
            let _ = writeln!(o, "**The load:** {}\n", w.counts());
        }
    }
}

/// The section.
pub(super) fn section(o: &mut String, w: &WorkReport) {
    let _ = writeln!(o, "\n## The load's work\n");
    let asked = |n: Option<u64>| n.map_or_else(|| "open-ended".to_string(), |n| n.to_string());
    let mut t = Table::new(&[
        ("what", Align::Text),
        ("asked", Align::Figure),
        ("done", Align::Figure),
    ]);
    t.row(vec![
        "users started".into(),
        w.users_asked.to_string(),
        w.users_started.to_string(),
    ]);
    if let Some(n) = w.users_logged_in {
        t.row(vec![
            "users logged in".into(),
            w.users_asked.to_string(),
            n.to_string(),
        ]);
    }
    if let Some(n) = w.photo_uploads_asked {
        t.row(vec![
            "photos uploaded".into(),
            n.to_string(),
            w.photos_uploaded.to_string(),
        ]);
    }
    t.row(vec![
        "submissions acknowledged".into(),
        asked(w.submissions_asked),
        w.submissions_acknowledged.to_string(),
    ]);
    t.row(vec![
        "reports completed".into(),
        asked(w.submissions_asked),
        w.reports_completed.to_string(),
    ]);
    t.row(vec![
        "report downloads (whole, right file type)".into(),
        w.downloads_expected.to_string(),
        w.downloads_checked.to_string(),
    ]);
    o.push_str(&t.markdown());
    if !w.steps.is_empty() {
        let figure = |h| (h, Align::Figure);
        let mut t = Table::new(&[
            ("step", Align::Text),
            figure("requests"),
            figure("used"),
            figure("2xx"),
            figure("3xx"),
            figure("4xx"),
            figure("5xx"),
            figure("no answer"),
            ("first failure", Align::Text),
        ]);
        for s in &w.steps {
            t.row(vec![
                s.label().to_string(),
                s.requests.to_string(),
                s.ok.to_string(),
                s.status_2xx.to_string(),
                s.status_3xx.to_string(),
                s.status_4xx.to_string(),
                s.status_5xx.to_string(),
                s.no_answer.to_string(),
                s.first_failure.as_ref().map_or_else(
                    || "none".to_string(),
                    |f| format!("{} at {:.1} s", f.message, f.at_s),
                ),
            ]);
        }
        let _ = writeln!(o);
        o.push_str(&t.markdown());
    }
    if w.failures.is_empty() {
        let _ = writeln!(o, "\nEvery check of the scenario's `[thresholds]` passed.");
    } else {
        let _ = writeln!(o, "\nChecks that failed (the scenario's `[thresholds]`):\n");
        for f in &w.failures {
            let _ = writeln!(o, "- {}", f.line());
        }
    }
    if w.degraded_photos_total > 0 {
        let _ = writeln!(
            o,
            "\n{} photo(s) shown degraded in the reports:\n",
            w.degraded_photos_total
        );
        for p in &w.degraded_photos {
            let _ = writeln!(o, "- {}", p.describe());
        }
    }
    if w.app_errors.count > 0 {
        let _ = writeln!(
            o,
            "\n{} line(s) of the app's output matched its `[log] error_regex`; the first:\n",
            w.app_errors.count
        );
        for l in &w.app_errors.first {
            let _ = writeln!(o, "    {l}");
        }
    }
}
