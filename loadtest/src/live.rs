//! The live terminal line: memory against the limit, jobs and their stages.
//! Drawn only when stderr is a terminal, so logs and CI output stay clean.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use memstats::format_mb;
use tokio_util::sync::CancellationToken;

use crate::sampler::Shared;

/// Whether the live line should be drawn.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// One line of the live display.
pub fn line(shared: &Shared) -> String {
    let st = shared.state();
    let Some(s) = st.samples.last() else {
        return format!(
            "{:>6.1} s  waiting for the server",
            shared.now_ms() as f64 / 1000.0
        );
    };
    let pct = s.rss as f64 * 100.0 / shared.limit.max(1) as f64;
    let jobs = st
        .debug
        .as_ref()
        .map(|d| {
            let stages: Vec<String> = d
                .doc
                .jobs_in_flight
                .iter()
                .map(|j| format!("{}:{}", j.job_id, j.stage))
                .collect();
            format!(
                "  jobs {} [{}] queued {}",
                d.doc.jobs_in_flight.len(),
                stages.join(" "),
                d.doc.queue_depth
            )
        })
        .unwrap_or_default();
    format!(
        "{:>6.1} s  RSS {} / {} MiB ({pct:>3.0}%)  VmHWM {}{jobs}{}",
        shared.now_ms() as f64 / 1000.0,
        format_mb(s.rss),
        format_mb(shared.limit),
        format_mb(s.hwm),
        if st.oom_events.is_empty() {
            ""
        } else {
            "  LIMIT CROSSED"
        }
    )
}

/// Redraws the line every 250 ms until `cancel`, then clears it.
pub async fn draw_until_cancelled(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                let l = line(&shared);
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{l}");
                let _ = err.flush();
            }
        }
    }
    let _ = write!(std::io::stderr(), "\r\x1b[2K");
}
