//! Where everything of the chart goes, computed before drawing (and
//! tested): the axes, the limit lines or the notes that replace them, the
//! kill labels and the stage lane.

use super::{LIMIT_IN_REACH, MAX_LANE_ROWS, MIN_BAND_S, Y_MARGIN, bytes_mb};
use crate::report::RunReport;
use crate::report::services::Service;
use crate::sampler::Sample;
use crate::watchdog::OomEvent;

/// One stage band in the lane.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Band {
    pub job_id: i64,
    pub stage: String,
    /// Lane row, 0 at the top.
    pub row: usize,
    pub start_s: f64,
    /// The stage's end, or the kill that ended it.
    pub end_s: f64,
}

/// A limit event: where its line goes and what it says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Marker {
    pub at_s: f64,
    pub label: String,
}

/// What the chart shows where, computed before drawing (and tested).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The x axis: the first sample to the end of the run, seconds.
    pub x_min: f64,
    pub x_max: f64,
    /// The y axis top, MiB.
    pub y_max: f64,
    /// Whether the (worker's) limit line is drawn.
    pub limit_drawn: bool,
    /// Whether a split run's web limit line is drawn.
    pub web_limit_drawn: bool,
    /// Limits left off the chart, named in the legend panel.
    pub notes: Vec<String>,
    pub kills: Vec<Marker>,
    pub web_kills: Vec<Marker>,
    /// Processes inside the measured tree that ended or appeared (a worker
    /// killed, the one its master started), the first few.
    pub processes: Vec<Marker>,
    pub bands: Vec<Band>,
    /// Rows in the stage lane (0 without stages).
    pub rows: usize,
}

/// Process markers drawn at most: a tree that forks per request would
/// bury the chart.
const MAX_PROCESS_MARKERS: usize = 4;

fn process_marker(e: &crate::sampler::tree::ProcessEvent) -> Marker {
    use crate::sampler::tree::ProcessChange;
    let what = match (e.change, e.killed_by) {
        (ProcessChange::Started, _) => "started".to_string(),
        (ProcessChange::Ended, Some(k)) => format!("killed by {}", k.label()),
        (ProcessChange::Ended, None) => "ended".to_string(),
    };
    Marker {
        at_s: e.at_s,
        label: format!("{} {} {what} at {:.1} s", e.name, e.pid, e.at_s),
    }
}

fn marker(e: &OomEvent, who: &str) -> Marker {
    let what = if e.killed { "killed" } else { "over the limit" };
    Marker {
        at_s: e.at_s,
        label: format!(
            "{who}{what} at {:.1} s, {} MiB",
            e.at_s,
            memstats::format_mb(e.rss_bytes)
        ),
    }
}

/// The stage bands, each ended at the kill of its server start if one came
/// first, and packed into rows: a job takes the first row free when it
/// starts, so jobs one after another share a row and overlapping jobs get
/// one each, up to [`MAX_LANE_ROWS`] (then the row freed first is shared).
fn bands(r: &RunReport, x_min: f64) -> (Vec<Band>, usize) {
    let kill_for = |generation: u32, start: f64| {
        r.oom_events
            .iter()
            .filter(|e| e.killed && e.generation == generation && e.at_s >= start)
            .map(|e| e.at_s)
            .min_by(f64::total_cmp)
    };
    let mut spans: Vec<(i64, String, f64, f64)> = r
        .stage_spans
        .iter()
        .map(|s| {
            let start = s.start_s.max(x_min);
            let mut end = s.end_s.max(start + MIN_BAND_S);
            if let Some(k) = kill_for(s.generation, s.start_s) {
                end = end.min(k);
            }
            (s.job_id, s.stage.clone(), start.min(end), end)
        })
        .collect();
    spans.sort_by(|a, b| a.2.total_cmp(&b.2));
    // Each job's extent, in order of its first stage.
    let mut jobs: Vec<(i64, f64, f64)> = Vec::new();
    for (job, _, start, end) in &spans {
        match jobs.iter_mut().find(|j| j.0 == *job) {
            Some(j) => j.2 = j.2.max(*end),
            None => jobs.push((*job, *start, *end)),
        }
    }
    let mut row_free_at: Vec<f64> = Vec::new();
    let mut row_of: Vec<(i64, usize)> = Vec::new();
    for (job, start, end) in jobs {
        let row = match row_free_at.iter().position(|f| *f <= start) {
            Some(i) => i,
            None if row_free_at.len() < MAX_LANE_ROWS => {
                row_free_at.push(f64::MIN);
                row_free_at.len() - 1
            }
            None => row_free_at
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i),
        };
        row_free_at[row] = row_free_at[row].max(end);
        row_of.push((job, row));
    }
    let bands = spans
        .into_iter()
        .map(|(job_id, stage, start_s, end_s)| Band {
            row: row_of
                .iter()
                .find(|(j, _)| *j == job_id)
                .map_or(0, |(_, r)| *r),
            job_id,
            stage,
            start_s,
            end_s,
        })
        .collect();
    (bands, row_free_at.len())
}

/// Computes the axes, the limit lines or notes, the kill labels and the
/// stage lane.
pub(crate) fn layout(r: &RunReport, samples: &[Sample], web: &[Sample]) -> Layout {
    let split = r.split.as_ref();
    let web_report = r.services.iter().find(|v| v.service == Service::Web);
    let who = if split.is_some() { "worker " } else { "" };
    let first = |s: &[Sample]| s.first().map(|x| x.t_ms as f64 / 1000.0);
    let x_min = match (first(samples), first(web)) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(0.0),
    };
    let x_max = samples
        .last()
        .map(|s| s.t_ms as f64 / 1000.0)
        .unwrap_or(0.0)
        .max(r.duration_s)
        .max(x_min + 0.1);

    let sampled = samples
        .iter()
        .flat_map(|s| {
            [
                Some(s.rss),
                Some(s.hwm),
                s.cgroup_usage,
                s.jemalloc.map(|j| j.allocated),
            ]
        })
        .flatten()
        .max()
        .unwrap_or(0);
    let worker_peak = bytes_mb(
        sampled
            .max(r.peaks.sampled_rss_bytes)
            .max(r.peaks.vmhwm_bytes)
            .max(r.peaks.cgroup_peak_bytes.unwrap_or(0))
            .max(r.modelled_runtime_bytes.unwrap_or(0)),
    );
    let web_peak = bytes_mb(
        web_report
            .map_or(0, |w| w.peak_rss_bytes.max(w.vmhwm_bytes))
            .max(web.iter().map(|s| s.rss).max().unwrap_or(0)),
    );
    let redis_peak = bytes_mb(split.map_or(0, |s| {
        s.redis
            .samples
            .iter()
            .map(|x| x.used_memory_bytes)
            .max()
            .unwrap_or(0)
    }));
    let peak = worker_peak.max(web_peak).max(redis_peak);

    let in_reach = |peak: f64, limit: f64| limit > 0.0 && peak >= LIMIT_IN_REACH * limit;
    let limit = bytes_mb(r.limit.bytes);
    let limit_drawn = in_reach(worker_peak, limit);
    let web_limit = web_report.map_or(0.0, |w| bytes_mb(w.limit_bytes));
    let web_limit_drawn = in_reach(web_peak, web_limit);
    let mut notes = Vec::new();
    if limit > 0.0 && !limit_drawn {
        notes.push(format!(
            "{who}limit {} MiB, off the chart",
            memstats::format_mb(r.limit.bytes)
        ));
    }
    if let Some(w) = web_report.filter(|_| web_limit > 0.0 && !web_limit_drawn) {
        notes.push(format!(
            "web limit {} MiB, off the chart",
            memstats::format_mb(w.limit_bytes)
        ));
    }
    let mut y_max = (peak * Y_MARGIN).max(1.0);
    if limit_drawn {
        y_max = y_max.max(limit * 1.08);
    }
    if web_limit_drawn {
        y_max = y_max.max(web_limit * 1.08);
    }
    let (bands, rows) = bands(r, x_min);
    Layout {
        x_min,
        x_max,
        y_max,
        limit_drawn,
        web_limit_drawn,
        notes,
        kills: r.oom_events.iter().map(|e| marker(e, who)).collect(),
        web_kills: web_report.map_or_else(Vec::new, |w| {
            w.oom_events.iter().map(|e| marker(e, "web ")).collect()
        }),
        processes: r
            .services
            .iter()
            .flat_map(|s| s.processes.iter())
            .take(MAX_PROCESS_MARKERS)
            .map(process_marker)
            .collect(),
        bands,
        rows,
    }
}
