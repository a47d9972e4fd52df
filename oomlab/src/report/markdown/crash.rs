//! The crash section of `report.md`: a start of the target that ended on its
//! own (a signal other than the harness's kill, or an exit), apart from the
//! limit events (a kill at the limit is not a crash).

use std::fmt::Write;

use crate::report::{RunReport, ServerExit};

/// `## Crash` for every start that ended on its own; nothing otherwise.
pub fn section(o: &mut String, r: &RunReport) {
    for x in &r.server.exits {
        if let Some(c) = &x.crash {
            one(o, x, c);
        }
    }
}

fn one(o: &mut String, x: &ServerExit, c: &crate::crash::Crash) {
    let _ = writeln!(o, "\n## Crash (start {})\n", x.generation);
    let when = if c.before_ready {
        format!(
            "while starting, {:.2} s after it was started, before it was ready",
            x.exited_at_s - x.started_at_s
        )
    } else {
        format!(
            "{:.2} s after it was ready",
            x.exited_at_s - x.started_at_s - x.ready_after_s
        )
    };
    let _ = writeln!(
        o,
        "The server ended on its own: **{}** at {:.1} s ({when}). This is not the harness's kill at the limit.\n",
        c.how(),
        x.exited_at_s
    );
    if let Some(s) = &c.signal {
        let _ = writeln!(o, "- signal: {} ({})", s.number, s.name);
    }
    if let Some(code) = c.exit_code {
        let _ = writeln!(o, "- exit code: {code}");
    }
    let _ = writeln!(o, "- exit status: {}", x.status);
    let _ = writeln!(o, "- {}", c.core_sentence());
    if c.before_ready {
        let _ = writeln!(o, "- job stage: none (it was starting; no job had run)");
    } else if c.jobs_in_flight.is_empty() {
        let _ = writeln!(
            o,
            "- jobs in flight: none{}",
            c.jobs_seen_at_s
                .map(|t| format!(" (at the latest reading, {t:.1} s)"))
                .unwrap_or_default()
        );
    } else {
        let _ = writeln!(
            o,
            "- jobs in flight{}:",
            c.jobs_seen_at_s
                .map(|t| format!(" (at the latest reading, {t:.1} s)"))
                .unwrap_or_default()
        );
        for j in &c.jobs_in_flight {
            let _ = writeln!(
                o,
                "  - job {}: stage {}, progress {}, {:.1} s in",
                j.job_id,
                j.stage,
                j.progress,
                j.elapsed_ms as f64 / 1000.0
            );
        }
    }
    if c.last_lines.is_empty() {
        let _ = writeln!(o, "- its output: nothing (server log empty)");
    } else {
        let _ = writeln!(o, "\nIts last {} line(s) of output:\n", c.last_lines.len());
        let _ = writeln!(o, "```");
        for l in &c.last_lines {
            let _ = writeln!(o, "{}", l.replace("```", "'''"));
        }
        let _ = writeln!(o, "```");
    }
}
