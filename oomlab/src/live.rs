//! The live terminal line: memory against the limit, jobs and their stages.
//! Drawn only when stderr is a terminal, so logs and CI output stay clean,
//! through indicatif: a bar of the RSS against the limit, then the figures,
//! cut to the terminal's width rather than wrapped.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use memstats::format_mb;
use tokio_util::sync::CancellationToken;

use crate::sampler::Shared;

/// Whether the live line should be drawn.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// One line of the live display.
pub fn line(shared: &Shared) -> String {
    frame(shared).1
}

/// The RSS of the latest sample (0 before the first), the bar's position,
/// and the [`line`] beside it.
fn frame(shared: &Shared) -> (u64, String) {
    let rss = shared.state().samples.last().map_or(0, |s| s.rss);
    (rss, text(shared))
}

fn text(shared: &Shared) -> String {
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

/// The bar's look: `[#####-----------]` filled to the share of the limit
/// the RSS holds, then the line, cut to the terminal's width.
fn style() -> ProgressStyle {
    ProgressStyle::with_template("[{bar:16}] {wide_msg}")
        .expect("a valid template")
        .progress_chars("#>-")
}

/// The live bar of a run with `limit` bytes, drawing to `target`.
fn bar(limit: u64, target: ProgressDrawTarget) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(limit.max(1)), target);
    pb.set_style(style());
    pb
}

/// Shows the latest figures on `pb`: the RSS as the bar (at most full), the
/// line as its message.
fn update(pb: &ProgressBar, shared: &Shared) {
    let (rss, line) = frame(shared);
    pb.set_position(rss.min(shared.limit.max(1)));
    pb.set_message(line);
}

/// Redraws the line every 250 ms until `cancel`, then clears it.
pub async fn draw_until_cancelled(shared: Arc<Shared>, cancel: CancellationToken) {
    let pb = bar(shared.limit, ProgressDrawTarget::stderr_with_hz(4));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => update(&pb, &shared),
        }
    }
    pb.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::Sample;
    use crate::watchdog::Enforce;

    #[test]
    fn the_bar_fills_to_the_rss_share_of_the_limit_and_the_line_says_mib() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(512 << 20, Enforce::Watchdog, &dir.path().join("s.csv")).unwrap();
        let pb = bar(shared.limit, ProgressDrawTarget::hidden());
        update(&pb, &shared);
        assert_eq!(pb.position(), 0);
        assert!(
            pb.message().contains("waiting for the server"),
            "{}",
            pb.message()
        );

        shared.state().samples.push(Sample {
            rss: 128 << 20,
            hwm: 130 << 20,
            ..Sample::default()
        });
        update(&pb, &shared);
        assert_eq!(pb.length(), Some(512 << 20));
        assert_eq!(pb.position(), 128 << 20);
        let m = pb.message();
        assert!(
            m.contains("RSS 128.0 / 512.0 MiB ( 25%)") && m.contains("VmHWM 130.0"),
            "{m}"
        );

        // Over the limit: the bar is full, not past its end.
        shared.state().samples.push(Sample {
            rss: 600 << 20,
            ..Sample::default()
        });
        update(&pb, &shared);
        assert_eq!(pb.position(), 512 << 20);
    }
}
