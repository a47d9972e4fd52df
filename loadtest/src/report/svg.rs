//! `memory.svg`: the timeline (RSS, VmHWM, jemalloc allocated), the limit
//! line, the modelled runtime as a band, job stages as bands and limit
//! events, drawn with plotters. A split run's chart adds the web service's
//! RSS and limit as a second pair of lines, and Redis's `used_memory` (the
//! first pair is then the worker's).

use std::path::Path;

use plotters::prelude::*;

use super::RunReport;
use super::split::{Service, ServiceReport, SplitReport};
use crate::sampler::Sample;

const MB: f64 = (1u64 << 20) as f64;
/// Most points per line: keeps the file small on long runs (each bucket keeps
/// its maximum, so no peak is lost).
const MAX_POINTS: usize = 2000;

fn stage_color(stage: &str) -> RGBColor {
    match stage {
        "load" => RGBColor(180, 180, 180),
        "excel" | "excel_upload" => RGBColor(80, 160, 80),
        "photos" => RGBColor(230, 150, 40),
        "pdf" => RGBColor(200, 60, 60),
        "pdf_upload" => RGBColor(140, 80, 180),
        _ => RGBColor(90, 120, 200),
    }
}

/// Max-per-bucket downsampling of `(t, value)`.
fn downsample(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per)
        .map(|c| {
            c.iter()
                .copied()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("non-empty chunk")
        })
        .collect()
}

/// Draws the timeline into `path`; `web` are a split run's web service's
/// samples (empty otherwise).
pub fn draw(r: &RunReport, samples: &[Sample], web: &[Sample], path: &Path) -> anyhow::Result<()> {
    let limit = r.limit.bytes as f64 / MB;
    let split = r.split.as_ref();
    let web_report = split.and_then(|s| s.services.iter().find(|v| v.service == Service::Web));
    let web_limit = web_report.map_or(0.0, |w| w.limit_bytes as f64 / MB);
    let web_peak = web_report.map_or(0.0, |w| w.peak_rss_bytes.max(w.vmhwm_bytes) as f64 / MB);
    let who = if split.is_some() { "worker " } else { "" };
    let t_end = samples
        .last()
        .map(|s| s.t_ms as f64 / 1000.0)
        .unwrap_or(0.0)
        .max(r.duration_s)
        .max(0.1);
    let y_max = (r.peaks.sampled_rss_bytes.max(r.peaks.vmhwm_bytes) as f64 / MB)
        .max(limit)
        .max(web_limit)
        .max(web_peak)
        * 1.15;
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} on {}: {}",
                r.profile.name, r.scenario.name, r.verdict.summary
            ),
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_end, 0f64..y_max)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("memory (MiB = 2^20 bytes)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // The modelled runtime, a declared stand-in held from start: a band at
    // the bottom, so the measured part above it reads at a glance.
    if let Some(m) = r.modelled_runtime_bytes.filter(|m| *m > 0) {
        let m = m as f64 / MB;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (t_end, m)],
                RGBColor(200, 200, 200).mix(0.45).filled(),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(format!(
                "modelled runtime {} MiB (declared, included in RSS)",
                memstats::format_mb(r.modelled_runtime_bytes.unwrap_or(0))
            ))
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 15, y + 5)],
                    RGBColor(200, 200, 200).mix(0.45).filled(),
                )
            });
    }

    // Job stages as bands, one lane per job at the top of the plot.
    let mut jobs: Vec<i64> = r.stage_spans.iter().map(|s| s.job_id).collect();
    jobs.sort_unstable();
    jobs.dedup();
    let lane = y_max * 0.035;
    for span in &r.stage_spans {
        let i = jobs.iter().position(|j| *j == span.job_id).unwrap_or(0) as f64;
        let top = y_max - i * lane;
        let color = stage_color(&span.stage);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [
                    (span.start_s, top - lane * 0.9),
                    (span.end_s.max(span.start_s + 0.05), top),
                ],
                color.mix(0.7).filled(),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut stages: Vec<&str> = r.stage_spans.iter().map(|s| s.stage.as_str()).collect();
    stages.sort_unstable();
    stages.dedup();
    for stage in stages {
        let c = stage_color(stage);
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(format!("stage {stage}"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.mix(0.7).filled())
            });
    }

    let series = |f: &dyn Fn(&Sample) -> Option<u64>| {
        downsample(
            samples
                .iter()
                .filter_map(|s| f(s).map(|v| (s.t_ms as f64 / 1000.0, v as f64 / MB)))
                .collect(),
        )
    };
    chart
        .draw_series(LineSeries::new(
            series(&|s| Some(s.hwm)),
            RGBColor(150, 150, 220).stroke_width(1),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("VmHWM (kernel high-water mark)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RGBColor(150, 150, 220)));
    chart
        .draw_series(LineSeries::new(
            series(&|s| Some(s.rss)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(format!("{who}RSS (sampled every 10 ms)"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            series(&|s| s.jemalloc.map(|j| j.allocated)),
            RGBColor(0, 150, 0).stroke_width(1),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(format!("{who}jemalloc allocated (every 100 ms)"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RGBColor(0, 150, 0)));
    if samples.iter().any(|s| s.cgroup_usage.is_some()) {
        chart
            .draw_series(LineSeries::new(
                series(&|s| s.cgroup_usage),
                MAGENTA.stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label("cgroup usage")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], MAGENTA));
    }
    chart
        .draw_series(LineSeries::new(
            [(0.0, limit), (t_end, limit)],
            RED.stroke_width(2),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(format!(
            "{who}limit {} MiB",
            memstats::format_mb(r.limit.bytes)
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RED));
    if let (Some(s), Some(w)) = (split, web_report) {
        draw_split(&mut chart, s, w, web, t_end, y_max)?;
    }
    for e in &r.oom_events {
        chart
            .draw_series(LineSeries::new(
                [(e.at_s, 0.0), (e.at_s, y_max)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

type Axes =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// The web service's RSS and limit, its kills, and Redis's memory.
fn draw_split(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Axes>,
    s: &SplitReport,
    w: &ServiceReport,
    web: &[Sample],
    t_end: f64,
    y_max: f64,
) -> anyhow::Result<()> {
    let orange = RGBColor(230, 120, 0);
    let points = downsample(
        web.iter()
            .map(|x| (x.t_ms as f64 / 1000.0, x.rss as f64 / MB))
            .collect(),
    );
    chart
        .draw_series(LineSeries::new(points, orange.stroke_width(2)))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("web RSS (sampled every 10 ms)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], orange));
    let web_limit = w.limit_bytes as f64 / MB;
    let dark = RGBColor(170, 60, 0);
    // Dashed, so it reads apart from the worker's limit when both are equal.
    let dashes = (0..)
        .map(|n| n as f64 * t_end / 60.0)
        .take_while(|t| *t < t_end)
        .map(|t| {
            PathElement::new(
                [(t, web_limit), ((t + t_end / 120.0).min(t_end), web_limit)],
                dark.stroke_width(2),
            )
        });
    chart
        .draw_series(dashes)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label(format!(
            "web limit {} MiB",
            memstats::format_mb(w.limit_bytes)
        ))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], dark));
    for e in &w.oom_events {
        chart
            .draw_series(LineSeries::new(
                [(e.at_s, 0.0), (e.at_s, y_max)],
                dark.stroke_width(1),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !s.redis.samples.is_empty() {
        let purple = RGBColor(140, 0, 160);
        let points: Vec<(f64, f64)> = s
            .redis
            .samples
            .iter()
            .map(|r| (r.t_s, r.used_memory_bytes as f64 / MB))
            .collect();
        chart
            .draw_series(LineSeries::new(downsample(points), purple.stroke_width(1)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label("Redis used_memory (every 250 ms)")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], purple));
    }
    Ok(())
}
