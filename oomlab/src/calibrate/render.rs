//! `calibration.md`: the fidelity table, the verdict, and the setting that
//! would close the idle gap; and [`terminal`], what the command prints: the
//! same answer in at most [`table::WIDTH`] columns.

use std::fmt::Write as _;

use super::CalibrationReport;
use super::fidelity::Side;
use crate::table::{self, Align, Table};
use crate::units::{mb, opt_mb};

/// The whole file (also what the command prints).
pub fn markdown(r: &CalibrationReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Calibration: model `{}` against app `{}`\n",
        r.model, r.app
    );
    let _ = writeln!(
        s,
        "Both ran every scenario without a limit, each submission followed by a {:.0} s pause; \
         memory is the process tree's (PSS summed over an app's processes, RSS of the reference \
         server) or the kernel's high-water mark, whichever is higher. Error = (model - app) / app; \
         tolerance {:.0}%. Per photo = (peak - idle) / photos submitted at once. Left after = \
         memory {:.0} s after the last job finished. Job = the median time a job ran on a \
         worker (the server's `started_at` to `finished_at`) over every completed job of every \
         run; time error = (model - app) / app, shown, not part of the verdict.\n",
        r.settle_s, r.tolerance_pct, r.settle_s
    );
    if let Some(c) = r.cpus {
        let _ = writeln!(
            s,
            "Both sides were asked to be held to {c} CPU (`--cpus`; each run's `run.json` \
             `limit.cpu` says whether it was).\n"
        );
    }
    if r.repeat > 1 {
        let _ = writeln!(
            s,
            "Each side ran {} times per scenario: peaks are the median run's, with the lowest \
             and highest in brackets; the other columns are the median run's. A row passes within \
             the tolerance, or with the model's median inside the app's spread (from {} runs of \
             the app).\n",
            r.repeat,
            super::fidelity::MIN_RUNS_FOR_SPREAD
        );
    }
    let mut t = Table::new(&[
        ("scenario", Align::Text),
        ("photos at once", Align::Figure),
        ("app peak", Align::Figure),
        ("model peak", Align::Figure),
        ("error", Align::Figure),
        ("app idle", Align::Figure),
        ("model idle", Align::Figure),
        ("app per photo", Align::Figure),
        ("model per photo", Align::Figure),
        ("app left after", Align::Figure),
        ("model left after", Align::Figure),
        ("app job", Align::Figure),
        ("model job", Align::Figure),
        ("time error", Align::Figure),
    ]);
    for row in &r.rows {
        // A failed run's figures are shown, its error never: it is no answer.
        let error = if row.failed.is_some() {
            "n/a (a run failed, below)".to_string()
        } else {
            let flag = if row.within_tolerance {
                ""
            } else if row.within_app_spread {
                " (within the app's spread)"
            } else {
                " **over**"
            };
            format!("{:+.1}%{flag}", row.peak_error_pct)
        };
        t.row(vec![
            row.scenario.clone(),
            row.photos_at_once.to_string(),
            peaks(row.app.peak_bytes, &row.app_peaks_bytes),
            peaks(row.model.peak_bytes, &row.model_peaks_bytes),
            error,
            opt_mb(row.app.idle_bytes),
            opt_mb(row.model.idle_bytes),
            opt_mb(row.app.per_photo_bytes),
            opt_mb(row.model.per_photo_bytes),
            opt_mb(row.app.left_after_bytes),
            opt_mb(row.model.left_after_bytes),
            secs(row.app_job_s),
            secs(row.model_job_s),
            time_error(row.job_time_error_pct),
        ]);
    }
    s.push_str(&t.markdown());
    for row in &r.rows {
        if let Some(f) = &row.failed {
            let _ = writeln!(
                s,
                "\n{}: {f}. No error figure: the figures of a run that did not do its work are no answer.",
                row.scenario
            );
            continue;
        }
        for (who, side) in [("app", &row.app), ("model", &row.model)] {
            incomplete(&mut s, &row.scenario, who, side);
        }
    }
    let polled: Vec<&str> = r
        .rows
        .iter()
        .filter(|row| row.job_time_basis == super::fidelity::JobTimeBasis::Polled)
        .map(|row| row.scenario.as_str())
        .collect();
    if !polled.is_empty() {
        let _ = writeln!(
            s,
            "\nJob times of {}: from the submission to the status poll that saw the report ready, on both \
             sides (the app is not asked for its jobs' own times): queue wait included, one poll interval \
             of resolution.",
            polled.join(", ")
        );
    }
    let worst = r
        .rows
        .iter()
        .filter(|row| row.failed.is_none())
        .map(|row| row.peak_error_pct.abs())
        .fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "\n**{}**: {} of {} scenarios within {:.0}% or the app's own spread (largest peak error {:.1}%).",
        if r.passed {
            "calibrated"
        } else {
            "not calibrated"
        },
        r.rows.iter().filter(|row| row.passes()).count(),
        r.rows.len()
            + r.notes
                .iter()
                .filter(|n| n.contains("not in the table"))
                .count(),
        r.tolerance_pct,
        worst
    );
    if let (Some(now), Some(fit)) = (r.runtime_mb, r.runtime_mb_for_idle)
        && now != fit
    {
        let _ = writeln!(
            s,
            "\nThe model's idle differs from the app's: in {}, `[model] runtime_mb = {fit}` \
             (now {now}) would make them equal (the median gap over the scenarios).",
            r.model_file
        );
    }
    if let Some(k) = r.cpu_scale_for_time {
        let _ = if r.model_cpu_on {
            writeln!(
                s,
                "\nThe model's jobs take {} the app's time: multiplying every `[model.cpu]` figure in {} by \
                 {k:.2} would bring them together (the median ratio over the scenarios; job times move with \
                 the machine's load, so fit on a quiet machine).",
                if k > 1.0 { "less than" } else { "more than" },
                r.model_file
            )
        } else {
            writeln!(
                s,
                "\nThe app's jobs take {k:.2} times the model's: {} has no `[model.cpu]`, so its jobs run at \
                 the reference server's own speed (docs/settings.md, `[model.cpu]`, says how to give it the \
                 app's CPU per stage).",
                r.model_file
            )
        };
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(
        s,
        "\nRuns: under `runs/` of this folder, one per side and scenario."
    );
    s
}

/// What the command prints: the peaks, the error and the job times of each
/// scenario (medians; the ranges, the idle, per-photo and left-after
/// columns are in `calibration.md`), the verdict and the notes, every line
/// at most [`table::WIDTH`] characters.
pub fn terminal(r: &CalibrationReport) -> String {
    let w = table::WIDTH;
    let mut s = table::wrap(
        &format!(
            "Calibration: model `{}` against app `{}`, tolerance {:.0}%{}{}",
            r.model,
            r.app,
            r.tolerance_pct,
            r.cpus.map_or(String::new(), |c| format!(", {c} CPU")),
            if r.repeat > 1 {
                format!(", {} runs per side (medians)", r.repeat)
            } else {
                String::new()
            }
        ),
        w,
        "  ",
    );
    let mut t = Table::new(&[
        ("scenario", Align::Text),
        ("app peak", Align::Figure),
        ("model peak", Align::Figure),
        ("error", Align::Text),
        ("app job", Align::Figure),
        ("model job", Align::Figure),
        ("time", Align::Figure),
    ]);
    for row in &r.rows {
        let error = if row.failed.is_some() {
            "n/a: a run failed".to_string()
        } else if row.within_tolerance {
            format!("{:+.1}%", row.peak_error_pct)
        } else if row.within_app_spread {
            format!("{:+.1}% in app spread", row.peak_error_pct)
        } else {
            format!("{:+.1}% over", row.peak_error_pct)
        };
        t.row(vec![
            row.scenario.clone(),
            mb(row.app.peak_bytes),
            mb(row.model.peak_bytes),
            error,
            secs(row.app_job_s),
            secs(row.model_job_s),
            time_error(row.job_time_error_pct),
        ]);
    }
    s.push('\n');
    s.push_str(&t.render(w));
    // The verdict, the failed rows, the runtime suggestion and the notes:
    // the Markdown's prose after its table, wrapped.
    let md = markdown(r);
    let after_table = md
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .skip_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("Runs: "))
        .map(|l| l.replace("**", ""))
        .collect::<Vec<_>>()
        .join("\n");
    for line in after_table.lines() {
        let indent = if line.starts_with("- ") { "  " } else { "" };
        s.push_str(&table::wrap(line, w, indent));
    }
    s
}

/// Seconds with one decimal, or "n/a".
fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "n/a".to_string(), |s| format!("{s:.1} s"))
}

/// The job time error, signed, or "n/a".
fn time_error(pct: Option<f64>) -> String {
    pct.map_or_else(|| "n/a".to_string(), |p| format!("{p:+.0}%"))
}

/// The median peak, and the range when there was more than one run.
fn peaks(median: u64, all: &[u64]) -> String {
    match (all.iter().min(), all.iter().max()) {
        (Some(lo), Some(hi)) if all.len() > 1 => {
            format!("{} ({} to {})", mb(median), mb(*lo), mb(*hi))
        }
        _ => mb(median),
    }
}

fn incomplete(s: &mut String, scenario: &str, who: &str, side: &Side) {
    if side.jobs_not_completed > 0 {
        let _ = writeln!(
            s,
            "\n{scenario}: the {who} completed {} jobs and not {} (see {}); its figures are not comparable.",
            side.jobs_completed, side.jobs_not_completed, side.run
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fidelity::{Side, row};
    use super::*;

    fn side(peak_mb: u64) -> Side {
        Side {
            run: "runs/x".into(),
            peak_bytes: peak_mb << 20,
            idle_bytes: Some(80 << 20),
            per_photo_bytes: Some(50 << 20),
            left_after_bytes: None,
            job_durations_s: vec![2.0],
            job_ready_s: vec![2.4],
            jobs_completed: 1,
            jobs_not_completed: 0,
            failed: None,
        }
    }

    fn report(model_peak_mb: u64) -> CalibrationReport {
        report_of(vec![side(600)], vec![side(model_peak_mb)], 1)
    }

    fn report_of(apps: Vec<Side>, models: Vec<Side>, repeat: usize) -> CalibrationReport {
        let rows = vec![row("single-report".into(), 10, apps, models, 15.0)];
        CalibrationReport {
            schema_version: 1,
            oomlab_version: "0".into(),
            created_at: "now".into(),
            app: "flask".into(),
            model: "original".into(),
            model_file: "profiles/original.toml".into(),
            tolerance_pct: 15.0,
            settle_s: 3.0,
            cpus: None,
            repeat,
            wall_time_s: 1.0,
            passed: rows.iter().all(|r| r.passes()),
            rows,
            runtime_mb: Some(150),
            runtime_mb_for_idle: Some(70),
            model_cpu_on: true,
            cpu_scale_for_time: Some(2.5),
            notes: vec![],
        }
    }

    #[test]
    fn the_table_gives_both_peaks_the_signed_error_and_the_verdict() {
        let md = markdown(&report(630));
        assert!(
            md.contains("| single-report | 10 | 600.0 MiB | 630.0 MiB | +5.0% |"),
            "{md}"
        );
        assert!(md.contains("**calibrated**: 1 of 1"), "{md}");
        assert!(md.contains("| 2.0 s | 2.0 s | +0% |"), "{md}");
        assert!(md.contains("runtime_mb = 70"), "{md}");
        assert!(md.contains("figure in") && md.contains("by 2.50"), "{md}");
        let md = markdown(&report(400));
        assert!(md.contains("-33.3% **over**"), "{md}");
        assert!(md.contains("**not calibrated**"), "{md}");
    }

    #[test]
    fn a_row_whose_run_failed_has_no_error_figure_and_no_runtime_suggestion() {
        let mut failed = side(100);
        failed.failed =
            Some("the load failed: `upload photo` failed 3 of 3 time(s): status 404".into());
        let mut r = report_of(vec![failed], vec![side(630)], 1);
        r.runtime_mb_for_idle =
            super::super::fidelity::runtime_mb_for_idle(&r.rows, r.runtime_mb.unwrap());
        let md = markdown(&r);
        assert!(!md.contains('%') || !md.contains("-83"), "{md}");
        assert!(!md.contains("**over**"), "{md}");
        assert!(md.contains("n/a (a run failed, below)"), "{md}");
        assert!(md.contains("app run failed: the load failed"), "{md}");
        assert!(md.contains("**not calibrated**: 0 of 1"), "{md}");
        assert!(!md.contains("runtime_mb ="), "{md}");
        assert!(r.runtime_mb_for_idle.is_none());
    }

    #[test]
    fn repeated_runs_show_the_range_and_the_spread_verdict() {
        let r = report_of(
            vec![side(600), side(730), side(700)],
            vec![side(560), side(520), side(540)],
            3,
        );
        let md = markdown(&r);
        assert!(md.contains("ran 3 times"), "{md}");
        assert!(
            md.contains("| 700.0 MiB (600.0 MiB to 730.0 MiB) | 540.0 MiB (520.0 MiB to 560.0 MiB) | -22.9% **over** |"),
            "{md}"
        );
        let r = report_of(vec![side(600), side(900), side(700)], vec![side(610)], 3);
        let md = markdown(&r);
        assert!(md.contains("-12.9% |"), "{md}");
        let r = report_of(vec![side(600), side(900), side(700)], vec![side(880)], 3);
        let md = markdown(&r);
        assert!(md.contains("+25.7% (within the app's spread)"), "{md}");
        assert!(md.contains("**calibrated**: 1 of 1"), "{md}");
    }

    #[test]
    fn the_terminal_answer_fits_100_columns_with_long_names() {
        let mut r = report_of(
            vec![side(600), side(730), side(700)],
            vec![side(560), side(520), side(540)],
            3,
        );
        r.rows[0].scenario = "a-scenario-from-a-user-directory-whose-name-goes-on-and-on".into();
        r.app = "flask-reportlab (REPORT_SERVER__WORKERS=4, GUNICORN_CMD_ARGS=--preload)".into();
        r.model_file =
            "/home/someone/projects/a/very/long/path/to/profiles/original-with-overrides.toml"
                .into();
        r.notes.push(format!(
            "burst: {}",
            "the app's run took too long; ".repeat(8)
        ));
        let out = terminal(&r);
        assert!(table::max_line_width(&out) <= table::WIDTH, "{out}");
        assert!(out.contains("-22.9% over"), "{out}");
        assert!(out.contains("2.0 s"), "{out}");
        assert!(out.contains("not calibrated: 0 of 1"), "{out}");
        assert!(out.contains("runtime_mb = 70"), "{out}");
        assert!(!out.contains("**"), "{out}");
        // The Markdown keeps the ranges the terminal leaves out.
        assert!(markdown(&r).contains("(600.0 MiB to 730.0 MiB)"));
    }

    #[test]
    fn the_calibration_json_matches_the_checked_in_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/calibration.schema.json")).unwrap();
        let v = jsonschema::validator_for(&schema).expect("the schema compiles");
        let mut failed = side(100);
        failed.failed = Some("the load failed".into());
        for r in [report(630), report_of(vec![failed], vec![side(630)], 1)] {
            let doc = serde_json::to_value(&r).unwrap();
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
    }
}
