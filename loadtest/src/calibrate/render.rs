//! `calibration.md`: the fidelity table, the verdict, and the setting that
//! would close the idle gap.

use std::fmt::Write as _;

use super::CalibrationReport;
use super::fidelity::Side;
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
         memory {:.0} s after the last job finished.\n",
        r.settle_s, r.tolerance_pct, r.settle_s
    );
    let _ = writeln!(
        s,
        "| scenario | photos at once | app peak | model peak | error | app idle | model idle | \
         app per photo | model per photo | app left after | model left after |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &r.rows {
        let flag = if row.within_tolerance {
            ""
        } else {
            " **over**"
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:+.1}%{} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.photos_at_once,
            mb(row.app.peak_bytes),
            mb(row.model.peak_bytes),
            row.peak_error_pct,
            flag,
            opt_mb(row.app.idle_bytes),
            opt_mb(row.model.idle_bytes),
            opt_mb(row.app.per_photo_bytes),
            opt_mb(row.model.per_photo_bytes),
            opt_mb(row.app.left_after_bytes),
            opt_mb(row.model.left_after_bytes),
        );
    }
    for row in &r.rows {
        for (who, side) in [("app", &row.app), ("model", &row.model)] {
            incomplete(&mut s, &row.scenario, who, side);
        }
    }
    let worst = r
        .rows
        .iter()
        .map(|row| row.peak_error_pct.abs())
        .fold(0.0, f64::max);
    let _ = writeln!(
        s,
        "\n**{}**: {} of {} scenarios within {:.0}% (largest peak error {:.1}%).",
        if r.passed {
            "calibrated"
        } else {
            "not calibrated"
        },
        r.rows.iter().filter(|row| row.within_tolerance).count(),
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
            jobs_completed: 1,
            jobs_not_completed: 0,
        }
    }

    fn report(model_peak_mb: u64) -> CalibrationReport {
        let rows = vec![row(
            "single-report".into(),
            10,
            side(600),
            side(model_peak_mb),
            15.0,
        )];
        CalibrationReport {
            schema_version: 1,
            oomlab_version: "0".into(),
            created_at: "now".into(),
            app: "flask".into(),
            model: "original".into(),
            model_file: "profiles/original.toml".into(),
            tolerance_pct: 15.0,
            settle_s: 3.0,
            wall_time_s: 1.0,
            passed: rows.iter().all(|r| r.within_tolerance),
            rows,
            runtime_mb: Some(150),
            runtime_mb_for_idle: Some(70),
            notes: vec![],
        }
    }

    #[test]
    fn the_table_gives_both_peaks_the_signed_error_and_the_verdict() {
        let md = markdown(&report(630));
        assert!(
            md.contains("| single-report | 10 | 600.0 MB | 630.0 MB | +5.0% |"),
            "{md}"
        );
        assert!(md.contains("**calibrated**: 1 of 1"), "{md}");
        assert!(md.contains("runtime_mb = 70"), "{md}");
        let md = markdown(&report(400));
        assert!(md.contains("-33.3% **over**"), "{md}");
        assert!(md.contains("**not calibrated**"), "{md}");
    }
}
