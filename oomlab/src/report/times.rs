//! A job's timestamps as the target gives them (`memstats::JobTimes`, the
//! type the server writes), and the spans the reports show.

pub use memstats::JobTimes;

/// `(queue wait, processing, created to finished)`, seconds, each where
/// both of its ends are known and in order.
pub fn spans(t: &JobTimes) -> (Option<f64>, Option<f64>, Option<f64>) {
    let secs = |ms: Option<i64>| ms.filter(|m| *m >= 0).map(|m| m as f64 / 1000.0);
    let total = || {
        let from = memstats::parse_time(t.created_at.as_deref()?)?;
        let to = memstats::parse_time(t.finished_at.as_deref()?)?;
        Some((to - from).num_milliseconds())
    };
    (secs(t.queued_ms()), secs(t.processing_ms()), secs(total()))
}
