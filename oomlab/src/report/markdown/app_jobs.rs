//! report.md's "Jobs" for an app target: what the load saw of each job.
//! An app is not asked about its jobs (its API is its own: oomlab asks
//! only the reference server for per-stage memory, `GET /api/jobs/{id}`),
//! so the figures are the load's own, and the stages are the app's log
//! lines (`[log] stage`) read while the job was in flight.

use std::fmt::Write;

use crate::report::RunReport;
use crate::report::log_stage::LogStage;
use crate::table::{Align, Table};

/// The section.
pub(super) fn section(o: &mut String, r: &RunReport) {
    let _ = writeln!(o, "\n## Jobs\n");
    if r.jobs.is_empty() {
        let _ = writeln!(o, "No submission was acknowledged.");
        return;
    }
    let _ = writeln!(
        o,
        "As the load saw them: submitted when the app acknowledged the submission, done when a status poll saw a done or failed value. The app's own API was not asked for per-job memory (only the reference server has one); the memory figures are the process tree's, in the timeline and the peak above.{}\n",
        if r.log_stages.is_empty() {
            " The target file names no `[log] stage`, so no stage is known."
        } else {
            " Stages: the lines of the app's log that began one (`[log] stage`) while the job was in flight; with several jobs in flight a line may be another job's."
        }
    );
    let mut t = Table::new(&[
        ("job", Align::Text),
        ("status", Align::Text),
        ("submitted (s)", Align::Figure),
        ("done (s)", Align::Figure),
        ("ready after (s)", Align::Figure),
        ("stages from the app's log", Align::Text),
    ]);
    let end_s = r.duration_s;
    for j in &r.jobs {
        let until = j.finished_at_s.unwrap_or(end_s);
        t.row(vec![
            j.job_id.clone(),
            j.status.clone(),
            format!("{:.1}", j.submitted_at_s),
            j.finished_at_s
                .map_or_else(|| "not seen".into(), |s| format!("{s:.1}")),
            j.time_to_ready_polled_s
                .or(j.time_to_ready_s)
                .map_or_else(|| "n/a".into(), |s| format!("{s:.1}")),
            stages_between(&r.log_stages, j.submitted_at_s, until),
        ]);
    }
    let _ = write!(o, "{}", t.markdown());
}

/// `excel at 3.2 s, pdf at 4.1 s`: the stages the log began in
/// `[from, until]`, or `none logged`.
fn stages_between(stages: &[LogStage], from: f64, until: f64) -> String {
    let within: Vec<String> = stages
        .iter()
        .filter(|s| s.at_s >= from && s.at_s <= until)
        .map(|s| format!("{} at {:.1} s", s.stage, s.at_s))
        .collect();
    if within.is_empty() {
        "none logged".into()
    } else {
        within.join(", ")
    }
}
