//! The fidelity figures of one scenario: what the app did, what the model
//! did, and how far apart they are. Pure: a run's report and its samples in,
//! figures out.

use serde::{Deserialize, Serialize};

use crate::finished::peak_of;
use crate::report::RunReport;

/// One side of a row: the app's or the model's figures on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Side {
    /// The run's folder, relative to the calibration's folder.
    pub run: String,
    /// The highest memory of the run (sampled RSS or PSS of the tree, the
    /// kernel's high-water mark), bytes: what a limit is checked against.
    pub peak_bytes: u64,
    /// Memory at the first sample after the target was ready, bytes.
    pub idle_bytes: Option<u64>,
    /// `(peak - idle) / photos submitted at once`, bytes: what one photo in
    /// flight costs.
    pub per_photo_bytes: Option<u64>,
    /// Memory `settle` after the last job finished, bytes: what a finished
    /// job leaves behind (`None` when the run ended before that).
    pub left_after_bytes: Option<u64>,
    /// How long each completed job ran on a worker (`started_at` to
    /// `finished_at` of the server's job times), seconds, in job order.
    #[serde(default)]
    pub job_durations_s: Vec<f64>,
    /// Each completed job's time to report ready as the load saw it
    /// (submission to the status poll that saw it ready, one poll interval
    /// of resolution), seconds, in job order: the job time of an app that
    /// does not publish its jobs' times.
    #[serde(default)]
    pub job_ready_s: Vec<f64>,
    /// Jobs that completed.
    pub jobs_completed: u64,
    /// Jobs that failed or never completed.
    pub jobs_not_completed: u64,
    /// Why the run's figures are no answer (its load failed, it crashed,
    /// was interrupted or stopped at its maximum duration): its verdict;
    /// `None`: the run did its work.
    #[serde(default)]
    pub failed: Option<String>,
}

/// One scenario's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Row {
    /// The scenario's name.
    pub scenario: String,
    /// Photos submitted at once (photos per submission x users).
    pub photos_at_once: u64,
    /// The app's figures: its run with the median peak.
    pub app: Side,
    /// The model's figures: its run with the median peak.
    pub model: Side,
    /// The peak of every run of the app (`--repeat`), in run order, bytes.
    pub app_peaks_bytes: Vec<u64>,
    /// The peak of every run of the model, in run order, bytes.
    pub model_peaks_bytes: Vec<u64>,
    /// `(model peak - app peak) / app peak` of the median runs, percent.
    pub peak_error_pct: f64,
    /// The median time a job ran on a worker over every completed job of
    /// every run of the app, seconds (`None`: no job gave its times).
    #[serde(default)]
    pub app_job_s: Option<f64>,
    /// The same for the model, seconds.
    #[serde(default)]
    pub model_job_s: Option<f64>,
    /// What the two job times measure: both sides' own start-to-finish
    /// times, or, when the app did not publish them, both sides' times to
    /// report ready as the load saw them.
    #[serde(default)]
    pub job_time_basis: JobTimeBasis,
    /// `(model job time - app job time) / app job time`, percent: how far
    /// the model's CPU costs (`[model.cpu]`) are from the app's. Shown, not
    /// part of whether the row passes (memory is what a limit checks).
    #[serde(default)]
    pub job_time_error_pct: Option<f64>,
    /// Whether `|peak_error_pct|` is within the tolerance and every run of
    /// both sides completed every job.
    pub within_tolerance: bool,
    /// Whether the model's median peak lies between the lowest and the
    /// highest peak of at least [`MIN_RUNS_FOR_SPREAD`] runs of the app, and
    /// every run completed: the model is as close as the app is to itself.
    pub within_app_spread: bool,
    /// "app run failed: ..." or "model run failed: ..." when a run of either
    /// side did not do its work: the row has no error figure then
    /// (`peak_error_pct` is 0 and means nothing), and does not pass.
    #[serde(default)]
    pub failed: Option<String>,
}

/// What a row's job times measure (the same on both sides).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobTimeBasis {
    /// From the job's start on a worker to its end (`started_at` to
    /// `finished_at` of the job's own times).
    #[default]
    OnWorker,
    /// From the submission to the status poll that saw the report ready:
    /// queue wait included, one poll interval of resolution. Used when the
    /// app does not publish its jobs' times (an app is not asked for them).
    Polled,
}

/// Runs of the app needed before its spread can stand for the tolerance.
pub const MIN_RUNS_FOR_SPREAD: usize = 3;

impl Row {
    /// Whether the row passes: within the tolerance, or within the app's own
    /// run-to-run spread.
    pub fn passes(&self) -> bool {
        self.within_tolerance || self.within_app_spread
    }
}

/// One memory reading of a run: seconds since its start, bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Seconds since the run started.
    pub t_s: f64,
    /// The tree's memory (RSS, or PSS summed over a tree), bytes.
    pub bytes: u64,
}

/// The figures of one run.
pub fn side(
    run: String,
    report: &RunReport,
    readings: &[Reading],
    photos_at_once: u64,
    settle_s: f64,
) -> Side {
    let peak = peak_of(report);
    let idle = report.peaks.idle_rss_bytes;
    let per_photo = idle
        .filter(|_| photos_at_once > 0)
        .map(|i| peak.saturating_sub(i) / photos_at_once);
    let last_finish = report
        .jobs
        .iter()
        .filter_map(|j| j.finished_at_s)
        .fold(None, |m: Option<f64>, f| Some(m.map_or(f, |m| m.max(f))));
    let left_after = last_finish.and_then(|f| reading_at(readings, f + settle_s));
    let completed = report.load.jobs_completed;
    // One time of every completed job that has it, in job order.
    let completed_times = |time: fn(&crate::report::JobReport) -> Option<f64>| -> Vec<f64> {
        report
            .jobs
            .iter()
            .filter(|j| j.status == "completed")
            .filter_map(time)
            .collect()
    };
    use crate::report::Outcome;
    let failed = matches!(
        report.verdict.outcome,
        Outcome::LoadFailed | Outcome::Crashed | Outcome::Interrupted | Outcome::TimedOut
    )
    .then(|| report.verdict.summary.clone());
    Side {
        failed,
        run,
        peak_bytes: peak,
        idle_bytes: idle,
        per_photo_bytes: per_photo,
        left_after_bytes: left_after,
        job_durations_s: completed_times(|j| j.processing_s),
        job_ready_s: completed_times(|j| j.time_to_ready_polled_s),
        jobs_completed: completed,
        jobs_not_completed: report.load.jobs_failed + report.load.acknowledged_never_completed,
    }
}

/// The last reading at or before `t_s`, provided the run went on at least
/// until `t_s` minus one reading's spacing (a run that stopped earlier has
/// no reading that late).
pub fn reading_at(readings: &[Reading], t_s: f64) -> Option<u64> {
    let last = readings.last()?;
    // Sampling of a tree takes tens of milliseconds: allow 0.25 s.
    if last.t_s + 0.25 < t_s {
        return None;
    }
    readings
        .iter()
        .take_while(|r| r.t_s <= t_s)
        .last()
        .map(|r| r.bytes)
}

/// A row from every run of both sides (at least one each);
/// `tolerance_pct` bounds the error of the median peaks.
pub fn row(
    scenario: String,
    photos_at_once: u64,
    apps: Vec<Side>,
    models: Vec<Side>,
    tolerance_pct: f64,
) -> Row {
    let complete = apps
        .iter()
        .chain(&models)
        .all(|s| s.jobs_not_completed == 0);
    let failed = apps
        .iter()
        .find_map(|s| s.failed.as_ref().map(|f| format!("app run failed: {f}")))
        .or_else(|| {
            models
                .iter()
                .find_map(|s| s.failed.as_ref().map(|f| format!("model run failed: {f}")))
        });
    let complete = complete && failed.is_none();
    // Like with like: the workers' own times when the app gave them, else
    // what the load saw on both sides.
    let basis = if median_job_s(&apps).is_some() {
        JobTimeBasis::OnWorker
    } else {
        JobTimeBasis::Polled
    };
    let (app_job_s, model_job_s) = (
        median_job_time_s(&apps, basis),
        median_job_time_s(&models, basis),
    );
    let job_time_error_pct = match (app_job_s, model_job_s) {
        (Some(app), Some(model)) if failed.is_none() && app > 0.0 => {
            Some((model - app) / app * 100.0)
        }
        _ => None,
    };
    let app_peaks: Vec<u64> = apps.iter().map(|s| s.peak_bytes).collect();
    let model_peaks: Vec<u64> = models.iter().map(|s| s.peak_bytes).collect();
    let app = median_run(apps);
    let model = median_run(models);
    let error = if failed.is_some() {
        0.0
    } else {
        error_pct(model.peak_bytes, app.peak_bytes)
    };
    let (lo, hi) = (
        app_peaks.iter().copied().min().unwrap_or(0),
        app_peaks.iter().copied().max().unwrap_or(0),
    );
    Row {
        scenario,
        photos_at_once,
        within_tolerance: complete && error.abs() <= tolerance_pct,
        within_app_spread: complete
            && app_peaks.len() >= MIN_RUNS_FOR_SPREAD
            && (lo..=hi).contains(&model.peak_bytes),
        peak_error_pct: error,
        app_job_s,
        model_job_s,
        job_time_basis: basis,
        job_time_error_pct,
        app_peaks_bytes: app_peaks,
        model_peaks_bytes: model_peaks,
        app,
        model,
        failed,
    }
}

/// The run with the median peak (the lower of the middle two for an even
/// count). Panics on no runs: a row is made only when both sides ran.
fn median_run(mut runs: Vec<Side>) -> Side {
    assert!(!runs.is_empty(), "a row needs a run of each side");
    runs.sort_by_key(|s| s.peak_bytes);
    runs.swap_remove((runs.len() - 1) / 2)
}

/// The median of every completed job's time on a worker over `runs`,
/// seconds; `None` when no job gave its times.
pub fn median_job_s(runs: &[Side]) -> Option<f64> {
    median_job_time_s(runs, JobTimeBasis::OnWorker)
}

/// The median of every completed job's time on `basis` over `runs`.
fn median_job_time_s(runs: &[Side], basis: JobTimeBasis) -> Option<f64> {
    median(
        runs.iter()
            .flat_map(|s| match basis {
                JobTimeBasis::OnWorker => s.job_durations_s.iter().copied(),
                JobTimeBasis::Polled => s.job_ready_s.iter().copied(),
            })
            .collect(),
    )
}

/// `(model - app) / app`, percent (0 when the app's figure is 0).
pub fn error_pct(model: u64, app: u64) -> f64 {
    if app == 0 {
        return 0.0;
    }
    (model as f64 - app as f64) / app as f64 * 100.0
}

/// The `model.runtime_mb` that would make the model's idle equal the app's:
/// the current value plus the median idle gap over the rows, in whole MiB;
/// `None` without idle figures on both sides.
pub fn runtime_mb_for_idle(rows: &[Row], current_runtime_mb: u64) -> Option<u64> {
    // A failed run's idle is no figure to fit a setting to.
    let gaps: Vec<f64> = rows
        .iter()
        .filter(|r| r.failed.is_none())
        .filter_map(|r| Some(r.app.idle_bytes? as f64 - r.model.idle_bytes? as f64))
        .collect();
    let median = median(gaps)?;
    let mib = current_runtime_mb as f64 + median / (1u64 << 20) as f64;
    Some(mib.round().max(0.0) as u64)
}

/// How much longer the app's jobs take than the model's: the median of
/// app time / model time over the rows that have both (failed rows left
/// out); `None` when no row has both or the model's time is within 25% of
/// the app's at that ratio (the time column's own bar: app / model from
/// 0.8 to 1 / 0.75), so that there is nothing to suggest.
pub fn cpu_scale_for_time(rows: &[Row]) -> Option<f64> {
    let ratios: Vec<f64> = rows
        .iter()
        .filter(|r| r.failed.is_none())
        .filter_map(|r| match (r.app_job_s, r.model_job_s) {
            (Some(app), Some(model)) if model > 0.0 => Some(app / model),
            _ => None,
        })
        .collect();
    let median = median(ratios)?;
    (!(0.8..=1.0 / 0.75).contains(&median)).then_some(median)
}

/// The median (the mean of the middle two for an even count); `None` for
/// no values.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Reads the `t_s` and `rss_bytes` columns of a run's `samples.csv`.
pub fn parse_samples(text: &str) -> Result<Vec<Reading>, String> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("no `{name}` column in its header"))
    };
    let (t, rss) = (find("t_s")?, find("rss_bytes")?);
    let mut out = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let bad = || format!("row {}: cannot read it", n + 2);
        let rec = rec.map_err(|e| format!("row {}: {e}", n + 2))?;
        let t_s = rec.get(t).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let bytes = rec.get(rss).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        out.push(Reading { t_s, bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
