use super::{LEGEND_WIDTH, MAX_LANE_ROWS, WIDTH, layout, render};
use crate::report::RunReport;
use crate::report::markdown::tests::synthetic;
use crate::sampler::{Sample, StageSpan};

const MB: u64 = 1 << 20;

fn sample(t_ms: u64, generation: u32, mb: u64) -> Sample {
    Sample {
        t_ms,
        generation,
        rss: mb * MB,
        hwm: mb * MB,
        ..Default::default()
    }
}

fn span(job_id: i64, stage: &str, start_s: f64, end_s: f64, generation: u32) -> StageSpan {
    StageSpan {
        job_id,
        stage: stage.into(),
        start_s,
        end_s,
        generation,
    }
}

/// The synthetic run (killed at 0.9 s, restarted): samples from the
/// server's start at 0.3 s, and stages across the kill.
fn killed_run() -> (RunReport, Vec<Sample>) {
    let mut r = synthetic();
    r.stage_spans = vec![
        span(1, "load", 0.3, 0.35, 0),
        span(1, "photos", 0.35, 0.45, 0),
        span(1, "pdf", 0.45, 0.7, 0),
        // Job 2 was in `pdf` when the server was killed; the sampler kept
        // its span open to the end of the run.
        span(2, "pdf", 0.55, 3.2, 0),
        span(3, "pdf", 1.4, 2.6, 1),
    ];
    let mut samples: Vec<Sample> = (3..=9)
        .map(|i| sample(i * 100, 0, 150 + (i - 3) * 62))
        .collect();
    samples.extend((12..=32).map(|i| sample(i * 100, 1, 160 + (i % 7) * 30)));
    (r, samples)
}

/// A 40 MiB run under a 512 MiB limit, not killed.
fn small_run() -> (RunReport, Vec<Sample>) {
    let mut r = synthetic();
    r.oom_events.clear();
    r.modelled_runtime_bytes = None;
    r.peaks.sampled_rss_bytes = 40 * MB;
    r.peaks.vmhwm_bytes = 40 * MB;
    r.peaks.jemalloc_allocated_bytes = Some(30 * MB);
    let samples = (23..=60).map(|i| sample(i * 100, 0, 20 + i / 3)).collect();
    (r, samples)
}

/// The `x` attribute of the `<text>` element that says `label`.
fn text_x(svg: &str, label: &str) -> f64 {
    let end = svg
        .find(&format!(">\n{label}\n</text>"))
        .unwrap_or_else(|| panic!("no text {label:?} in the chart"));
    let start = svg[..end].rfind("<text").expect("a text element");
    let attr = &svg[start..end];
    let x = attr.find(" x=\"").expect("an x attribute") + 4;
    attr[x..x + attr[x..].find('"').expect("a closing quote")]
        .parse()
        .expect("a number")
}

#[test]
fn a_small_run_is_scaled_to_its_data_and_names_the_limit_in_a_note() {
    let (r, samples) = small_run();
    let l = layout(&r, &samples, &[]);
    assert!(l.y_max >= 40.0 && l.y_max <= 40.0 * 1.2, "{}", l.y_max);
    assert!(l.y_max < 512.0 * 0.2, "{}", l.y_max);
    assert!(!l.limit_drawn);
    assert_eq!(l.notes, vec!["limit 512.0 MiB, off the chart".to_string()]);
    let svg = render(&r, &samples, &[]).unwrap();
    assert!(svg.contains("limit 512.0 MiB, off the chart"));
    assert!(
        !svg.contains(">\nlimit 512.0 MiB\n</text>"),
        "no limit line in the legend"
    );
}

#[test]
fn a_run_near_its_limit_draws_the_limit_line() {
    let (r, samples) = killed_run();
    let l = layout(&r, &samples, &[]);
    assert!(l.limit_drawn);
    assert!(l.notes.is_empty());
    assert!(l.y_max > 523.0 && l.y_max < 523.0 * 1.2, "{}", l.y_max);
    let svg = render(&r, &samples, &[]).unwrap();
    assert!(svg.contains(">\nlimit 512.0 MiB\n</text>"));
}

#[test]
fn the_kill_is_labelled_inside_the_plot() {
    let (r, samples) = killed_run();
    let l = layout(&r, &samples, &[]);
    assert_eq!(l.kills.len(), 1);
    assert_eq!(l.kills[0].label, "killed at 0.9 s, 523.0 MiB");
    let svg = render(&r, &samples, &[]).unwrap();
    let label = "killed at 0.9 s, 523.0 MiB";
    // Once in the plot, once in the legend panel.
    assert_eq!(svg.matches(&format!(">\n{label}\n</text>")).count(), 2);
    let x = text_x(&svg, label);
    assert!(x > 60.0 && x < f64::from(WIDTH - LEGEND_WIDTH), "{x}");
}

#[test]
fn stage_bands_stop_at_the_kill_and_sit_in_their_own_lane() {
    let (r, samples) = killed_run();
    let l = layout(&r, &samples, &[]);
    let band = |job: i64| l.bands.iter().find(|b| b.job_id == job).unwrap();
    // Job 2's span ran to the end of the run: it stops at the kill.
    assert_eq!(band(2).end_s, 0.9);
    assert!(
        l.bands
            .iter()
            .filter(|b| b.start_s < 0.9)
            .all(|b| b.end_s <= 0.9)
    );
    // Job 3 ran after the restart: not cut.
    assert_eq!(band(3).end_s, 2.6);
    // Jobs 1 and 2 overlap: two rows; job 3 reuses a freed one.
    assert_eq!(l.rows, 2);
    assert_ne!(band(1).row, band(2).row);
    assert_eq!(band(3).row, 0);
    // The lane does not touch the memory axis: y is scaled to memory alone.
    assert!(l.y_max < 523.0 * 1.2);
}

#[test]
fn the_lane_has_a_row_per_overlapping_job_up_to_a_cap() {
    let mut r = synthetic();
    r.oom_events.clear();
    // A soak run: 30 jobs, all overlapping.
    r.stage_spans = (0..30)
        .map(|j| span(j, "pdf", 1.0 + j as f64 * 0.1, 20.0, 0))
        .collect();
    let l = layout(&r, &[sample(500, 0, 100)], &[]);
    assert_eq!(l.rows, MAX_LANE_ROWS);
    assert!(l.bands.iter().all(|b| b.row < MAX_LANE_ROWS));
    // One after another: a single row.
    r.stage_spans = (0..30)
        .map(|j| span(j, "pdf", j as f64, j as f64 + 0.9, 0))
        .collect();
    assert_eq!(layout(&r, &[sample(500, 0, 100)], &[]).rows, 1);
}

#[test]
fn the_x_axis_starts_at_the_first_sample() {
    let (r, samples) = small_run();
    let l = layout(&r, &samples, &[]);
    assert_eq!(l.x_min, 2.3);
    assert_eq!(l.x_max, 6.0_f64.max(r.duration_s));
    // Bands from before the first sample are cut to it.
    let mut r = r;
    r.stage_spans = vec![span(1, "load", 1.0, 3.0, 0)];
    let l = layout(&r, &samples, &[]);
    assert_eq!(l.bands[0].start_s, 2.3);
}

#[test]
fn the_legend_sits_right_of_the_plot() {
    let (r, samples) = killed_run();
    let svg = render(&r, &samples, &[]).unwrap();
    for label in [
        "RSS (sampled every 10 ms)",
        "limit 512.0 MiB",
        "stage pdf (lane below)",
    ] {
        let x = text_x(&svg, label);
        assert!(x >= f64::from(WIDTH - LEGEND_WIDTH), "{label}: {x}");
    }
    if let Some(dir) = std::env::var_os("OOMLAB_SVG_OUT") {
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join("killed.svg"), &svg).unwrap();
        let (r, samples) = small_run();
        std::fs::write(dir.join("small.svg"), render(&r, &samples, &[]).unwrap()).unwrap();
    }
}
