//! report.md's "The load's work": what the scenario asked for against what
//! happened, each step's answers, the failed checks, degraded photos and
//! the app's own error lines.

use std::fmt::Write;

use crate::report::work::WorkReport;

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
    let _ = writeln!(o, "| what | asked | done |\n|---|---:|---:|");
    let _ = writeln!(
        o,
        "| users started | {} | {} |",
        w.users_asked, w.users_started
    );
    if let Some(n) = w.users_logged_in {
        let _ = writeln!(o, "| users logged in | {} | {n} |", w.users_asked);
    }
    if let Some(n) = w.photo_uploads_asked {
        let _ = writeln!(o, "| photos uploaded | {n} | {} |", w.photos_uploaded);
    }
    let _ = writeln!(
        o,
        "| submissions acknowledged | {} | {} |",
        asked(w.submissions_asked),
        w.submissions_acknowledged
    );
    let _ = writeln!(
        o,
        "| reports completed | {} | {} |",
        asked(w.submissions_asked),
        w.reports_completed
    );
    let _ = writeln!(
        o,
        "| report downloads (whole, right file type) | {} | {} |",
        w.downloads_expected, w.downloads_checked
    );
    if !w.steps.is_empty() {
        let _ = writeln!(
            o,
            "\n| step | requests | used | 2xx | 3xx | 4xx | 5xx | no answer | first failure |\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for s in &w.steps {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.label(),
                s.requests,
                s.ok,
                s.status_2xx,
                s.status_3xx,
                s.status_4xx,
                s.status_5xx,
                s.no_answer,
                s.first_failure.as_ref().map_or_else(
                    || "none".to_string(),
                    |f| format!("{} at {:.1} s", f.message.replace('|', "\\|"), f.at_s)
                )
            );
        }
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
