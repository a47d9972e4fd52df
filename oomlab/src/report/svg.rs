//! `memory.svg`: the timeline (RSS, VmHWM, jemalloc allocated), the limit
//! line, the modelled runtime as a band, limit events as labelled lines, and
//! job stages as bands in a lane of their own below the memory plot, drawn
//! with plotters. A split run's chart adds the web service's RSS and limit
//! as a second pair of lines, and Redis's `used_memory` (the first pair is
//! then the worker's).
//!
//! The x axis starts at the first sample (the server's start), the y axis is
//! scaled to the data; a limit far above the data is named in a note rather
//! than drawn. The legend sits in a panel to the right of the plot.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::RunReport;
use super::services::{Service, ServiceReport};
use super::split::SplitReport;
use crate::sampler::Sample;

mod layout;

pub(crate) use layout::{Layout, Marker, layout};

const MB: f64 = (1u64 << 20) as f64;
/// Most points per line: keeps the file small on long runs (each bucket keeps
/// its maximum, so no peak is lost).
const MAX_POINTS: usize = 2000;
/// Margin above the highest figure on the y axis.
const Y_MARGIN: f64 = 1.15;
/// A limit is drawn when the peak reaches this share of it; below, the
/// limit would squash the data into the bottom of the chart.
const LIMIT_IN_REACH: f64 = 0.5;
/// Most rows in the stage lane; more overlapping jobs share the rows.
const MAX_LANE_ROWS: usize = 8;
/// Shortest band drawn, seconds (a stage seen at one sample only).
const MIN_BAND_S: f64 = 0.05;

/// Whole image, pixels.
const WIDTH: u32 = 1200;
/// The memory plot's height (with its caption and x axis), pixels.
const PLOT_HEIGHT: u32 = 480;
/// One lane row, pixels.
const ROW_HEIGHT: u32 = 16;
/// The legend panel on the right, pixels.
const LEGEND_WIDTH: u32 = 340;
/// Left label area of both charts, so their x axes line up.
const Y_LABEL_AREA: u32 = 60;
const MARGIN: u32 = 12;

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

fn bytes_mb(b: u64) -> f64 {
    b as f64 / MB
}

/// A legend entry's key.
#[derive(Clone, Copy)]
enum Key {
    Line(RGBColor, u32),
    Dashed(RGBColor),
    Box(RGBAColor),
    Note,
}

/// Draws the timeline into `path`; `web` are a split run's web service's
/// samples (empty otherwise).
pub fn draw(r: &RunReport, samples: &[Sample], web: &[Sample], path: &Path) -> anyhow::Result<()> {
    let svg = render(r, samples, web)?;
    std::fs::write(path, svg)?;
    Ok(())
}

/// Characters of the caption at most: the plot's width at 16 px.
const CAPTION_CHARS: usize = 110;

/// "profile on scenario: " and the verdict's first clause, cut to fit the
/// plot's width (the whole verdict is in report.md and run.json).
fn caption(r: &RunReport) -> String {
    let head = r.verdict.summary.split("; ").next().unwrap_or_default();
    let full = format!("{} on {}: {head}", r.profile.name, r.scenario.name);
    if full.chars().count() <= CAPTION_CHARS {
        full
    } else {
        let cut: String = full.chars().take(CAPTION_CHARS - 1).collect();
        format!("{cut}…")
    }
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The timeline as an SVG document.
pub(crate) fn render(r: &RunReport, samples: &[Sample], web: &[Sample]) -> anyhow::Result<String> {
    let l = layout(r, samples, web);
    let split = r.split.as_ref();
    let web_report = r.services.iter().find(|v| v.service == Service::Web);
    let who = if split.is_some() { "worker " } else { "" };
    let (x0, x1) = (l.x_min, l.x_max);
    let lane_height = if l.rows > 0 {
        l.rows as u32 * ROW_HEIGHT + 2 * MARGIN + 20
    } else {
        0
    };
    let height = PLOT_HEIGHT + lane_height;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (left, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (plot_area, lane_area) = left.split_vertically(PLOT_HEIGHT);
        let mut legend: Vec<(String, Key)> = Vec::new();

        let mut chart = ChartBuilder::on(&plot_area)
            .caption(caption(r), ("sans-serif", 16))
            .margin(MARGIN)
            .x_label_area_size(40)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x0..x1, 0f64..l.y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since the run started (s); the axis starts at the server's first sample")
            .y_desc("memory (MiB = 2^20 bytes)")
            .draw()
            .map_err(err)?;

        // The modelled runtime, a declared stand-in held from start: a band
        // at the bottom, so the measured part above it reads at a glance.
        if let Some(m) = r.modelled_runtime_bytes.filter(|m| *m > 0) {
            let grey = RGBColor(200, 200, 200).mix(0.45);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, bytes_mb(m))],
                    grey.filled(),
                )))
                .map_err(err)?;
            legend.push((
                format!(
                    "modelled runtime {} MiB (declared, in RSS)",
                    memstats::format_mb(m)
                ),
                Key::Box(grey),
            ));
        }

        let series = |f: &dyn Fn(&Sample) -> Option<u64>| {
            downsample(
                samples
                    .iter()
                    .filter_map(|s| f(s).map(|v| (s.t_ms as f64 / 1000.0, bytes_mb(v))))
                    .collect(),
            )
        };
        let hwm = RGBColor(150, 150, 220);
        chart
            .draw_series(LineSeries::new(
                series(&|s| Some(s.hwm)),
                hwm.stroke_width(1),
            ))
            .map_err(err)?;
        legend.push(("VmHWM (kernel high-water mark)".into(), Key::Line(hwm, 1)));
        chart
            .draw_series(LineSeries::new(
                series(&|s| Some(s.rss)),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?;
        legend.push((
            format!("{who}RSS (sampled every 10 ms)"),
            Key::Line(BLUE, 2),
        ));
        let green = RGBColor(0, 150, 0);
        chart
            .draw_series(LineSeries::new(
                series(&|s| s.jemalloc.map(|j| j.allocated)),
                green.stroke_width(1),
            ))
            .map_err(err)?;
        legend.push((
            format!("{who}jemalloc allocated (every 100 ms)"),
            Key::Line(green, 1),
        ));
        if samples.iter().any(|s| s.cgroup_usage.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    series(&|s| s.cgroup_usage),
                    MAGENTA.stroke_width(1),
                ))
                .map_err(err)?;
            legend.push(("cgroup usage".into(), Key::Line(MAGENTA, 1)));
        }
        if l.limit_drawn {
            let limit = bytes_mb(r.limit.bytes);
            chart
                .draw_series(LineSeries::new(
                    [(x0, limit), (x1, limit)],
                    RED.stroke_width(2),
                ))
                .map_err(err)?;
            legend.push((
                format!("{who}limit {} MiB", memstats::format_mb(r.limit.bytes)),
                Key::Line(RED, 2),
            ));
        }
        if let (Some(s), Some(w)) = (split, web_report) {
            draw_split(&mut chart, &mut legend, s, w, web, &l)?;
        }

        // Limit events: a line each, labelled inside the plot at its top,
        // on whichever side of the line has room.
        let dark = RGBColor(170, 60, 0);
        let markers: Vec<(&Marker, RGBColor)> = l
            .kills
            .iter()
            .map(|m| (m, BLACK))
            .chain(l.web_kills.iter().map(|m| (m, dark)))
            .chain(l.processes.iter().map(|m| (m, RGBColor(110, 60, 160))))
            .collect();
        let (px, py) = chart.plotting_area().get_pixel_range();
        let font = TextStyle::from(("sans-serif", 14).into_font());
        for (k, (m, color)) in markers.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(
                    [(m.at_s, 0.0), (m.at_s, l.y_max)],
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            let (x, _) = chart.backend_coord(&(m.at_s, l.y_max));
            let (w, h) = root.estimate_text_size(&m.label, &font).map_err(err)?;
            let (w, h) = (w as i32 + 8, h as i32 + 6);
            let left = if x + 6 + w <= px.end {
                x + 6
            } else {
                (x - 6 - w).max(px.start)
            };
            let top = py.start + 6 + k as i32 * (h + 4);
            root.draw(&Rectangle::new(
                [(left, top), (left + w, top + h)],
                WHITE.mix(0.9).filled(),
            ))
            .map_err(err)?;
            root.draw(&Rectangle::new([(left, top), (left + w, top + h)], *color))
                .map_err(err)?;
            root.draw(&Text::new(
                m.label.clone(),
                (left + 4, top + 3),
                font.clone().color(color),
            ))
            .map_err(err)?;
        }

        // The stage lane: one row per job at a time, on the same x axis.
        if l.rows > 0 {
            let rows = l.rows as f64;
            let mut lane = ChartBuilder::on(&lane_area)
                .margin(MARGIN)
                .x_label_area_size(4)
                .y_label_area_size(Y_LABEL_AREA)
                .build_cartesian_2d(x0..x1, 0f64..rows)
                .map_err(err)?;
            // The memory plot's axis above gives the times.
            lane.configure_mesh()
                .disable_mesh()
                .x_labels(0)
                .y_labels(0)
                .y_desc("stages")
                .axis_desc_style(("sans-serif", 12))
                .draw()
                .map_err(err)?;
            for b in &l.bands {
                let top = rows - b.row as f64;
                lane.draw_series(std::iter::once(Rectangle::new(
                    [(b.start_s, top - 0.85), (b.end_s, top - 0.15)],
                    stage_color(&b.stage).mix(0.8).filled(),
                )))
                .map_err(err)?;
            }
            // Each job's id at the start of its first band.
            let mut named: Vec<i64> = Vec::new();
            for b in &l.bands {
                if named.contains(&b.job_id) {
                    continue;
                }
                named.push(b.job_id);
                lane.draw_series(std::iter::once(Text::new(
                    format!("job {}", b.job_id),
                    (b.start_s, rows - b.row as f64 - 0.5),
                    TextStyle::from(("sans-serif", 11).into_font())
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )))
                .map_err(err)?;
            }
            for (m, color) in &markers {
                lane.draw_series(LineSeries::new(
                    [(m.at_s, 0.0), (m.at_s, rows)],
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            }
            let mut stages: Vec<&str> = l.bands.iter().map(|b| b.stage.as_str()).collect();
            stages.sort_unstable();
            stages.dedup();
            for stage in stages {
                legend.push((
                    format!("stage {stage} (lane below)"),
                    Key::Box(stage_color(stage).mix(0.8)),
                ));
            }
        }
        for (m, color) in &markers {
            legend.push((m.label.clone(), Key::Line(*color, 2)));
        }
        for n in &l.notes {
            legend.push((n.clone(), Key::Note));
        }

        // The legend, in its own panel right of the plot.
        let font = TextStyle::from(("sans-serif", 12).into_font());
        for (i, (label, key)) in legend.iter().enumerate() {
            let y = 40 + i as i32 * 20;
            match *key {
                Key::Line(c, w) => legend_area
                    .draw(&PathElement::new([(4, y), (24, y)], c.stroke_width(w)))
                    .map_err(err)?,
                Key::Dashed(c) => {
                    for x in [4, 12, 20] {
                        legend_area
                            .draw(&PathElement::new([(x, y), (x + 4, y)], c.stroke_width(2)))
                            .map_err(err)?;
                    }
                }
                Key::Box(c) => legend_area
                    .draw(&Rectangle::new([(4, y - 5), (24, y + 5)], c.filled()))
                    .map_err(err)?,
                Key::Note => {}
            }
            legend_area
                .draw(&Text::new(
                    label.clone(),
                    (30, y),
                    font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

type Axes =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// The web service's RSS and limit, and Redis's memory.
fn draw_split(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Axes>,
    legend: &mut Vec<(String, Key)>,
    s: &SplitReport,
    w: &ServiceReport,
    web: &[Sample],
    l: &Layout,
) -> anyhow::Result<()> {
    let orange = RGBColor(230, 120, 0);
    let points = downsample(
        web.iter()
            .map(|x| (x.t_ms as f64 / 1000.0, bytes_mb(x.rss)))
            .collect(),
    );
    chart
        .draw_series(LineSeries::new(points, orange.stroke_width(2)))
        .map_err(err)?;
    legend.push(("web RSS (sampled every 10 ms)".into(), Key::Line(orange, 2)));
    if l.web_limit_drawn {
        let web_limit = bytes_mb(w.limit_bytes);
        let dark = RGBColor(170, 60, 0);
        let span = l.x_max - l.x_min;
        // Dashed, so it reads apart from the worker's limit when both are equal.
        let dashes = (0..)
            .map(|n| l.x_min + n as f64 * span / 60.0)
            .take_while(|t| *t < l.x_max)
            .map(|t| {
                PathElement::new(
                    [(t, web_limit), ((t + span / 120.0).min(l.x_max), web_limit)],
                    dark.stroke_width(2),
                )
            });
        chart.draw_series(dashes).map_err(err)?;
        legend.push((
            format!("web limit {} MiB", memstats::format_mb(w.limit_bytes)),
            Key::Dashed(dark),
        ));
    }
    if !s.redis.samples.is_empty() {
        let purple = RGBColor(140, 0, 160);
        let points: Vec<(f64, f64)> = s
            .redis
            .samples
            .iter()
            .map(|r| (r.t_s, bytes_mb(r.used_memory_bytes)))
            .collect();
        chart
            .draw_series(LineSeries::new(downsample(points), purple.stroke_width(1)))
            .map_err(err)?;
        legend.push((
            "Redis used_memory (every 250 ms)".into(),
            Key::Line(purple, 1),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
