//! Tests of the fidelity figures: medians, spreads, the time column.
use super::*;

fn r(t_s: f64, mb: u64) -> Reading {
    Reading {
        t_s,
        bytes: mb << 20,
    }
}

fn side_of(peak_mb: u64, idle_mb: u64) -> Side {
    Side {
        run: "x".into(),
        peak_bytes: peak_mb << 20,
        idle_bytes: Some(idle_mb << 20),
        per_photo_bytes: None,
        left_after_bytes: None,
        job_durations_s: vec![],
        job_ready_s: vec![],
        jobs_completed: 1,
        jobs_not_completed: 0,
        failed: None,
    }
}

#[test]
fn the_reading_after_the_settle_time_is_the_last_one_before_it() {
    let rs = [
        r(0.0, 100),
        r(1.0, 500),
        r(2.0, 400),
        r(3.0, 300),
        r(4.0, 300),
    ];
    assert_eq!(reading_at(&rs, 2.5), Some(400 << 20));
    assert_eq!(reading_at(&rs, 3.0), Some(300 << 20));
    // The run ended before the time asked for: no reading.
    assert_eq!(reading_at(&rs, 6.0), None);
    assert_eq!(reading_at(&[], 1.0), None);
}

#[test]
fn the_error_is_signed_and_relative_to_the_app() {
    assert!((error_pct(110, 100) - 10.0).abs() < 1e-9);
    assert!((error_pct(85, 100) + 15.0).abs() < 1e-9);
    assert_eq!(error_pct(5, 0), 0.0);
}

#[test]
fn a_row_is_within_tolerance_only_when_both_sides_completed() {
    let one = |app, model| row("s".into(), 10, vec![app], vec![model], 15.0);
    let ok = one(side_of(100, 10), side_of(114, 10));
    assert!(ok.within_tolerance && ok.passes());
    let far = one(side_of(100, 10), side_of(116, 10));
    assert!(!far.within_tolerance && !far.passes());
    let mut failed = side_of(114, 10);
    failed.jobs_not_completed = 1;
    let incomplete = one(side_of(100, 10), failed);
    assert!(!incomplete.within_tolerance);
}

#[test]
fn repeated_runs_compare_medians_and_the_app_spread_can_pass_a_row() {
    let sides = |mbs: &[u64]| mbs.iter().map(|m| side_of(*m, 80)).collect::<Vec<_>>();
    // The app at 734, 999, 1160 (measured on two jobs in sequence); the
    // model at 1285, 1290, 1300: median 1290 against 999 (+29%), and
    // above the app's highest: fails.
    let r = row(
        "seq".into(),
        10,
        sides(&[999, 1160, 734]),
        sides(&[1300, 1285, 1290]),
        15.0,
    );
    assert_eq!(r.app.peak_bytes, 999 << 20);
    assert_eq!(r.model.peak_bytes, 1290 << 20);
    assert_eq!(r.app_peaks_bytes, vec![999 << 20, 1160 << 20, 734 << 20]);
    assert!(
        (r.peak_error_pct - 29.13).abs() < 0.01,
        "{}",
        r.peak_error_pct
    );
    assert!(!r.within_tolerance && !r.within_app_spread && !r.passes());
    // A model at 1150: +15.1% from the median, inside the app's spread.
    let r = row(
        "seq".into(),
        10,
        sides(&[999, 1160, 734]),
        sides(&[1150]),
        15.0,
    );
    assert!(!r.within_tolerance && r.within_app_spread && r.passes());
    // Two runs of the app are not a spread.
    let r = row("seq".into(), 10, sides(&[999, 1160]), sides(&[1150]), 15.0);
    assert_eq!(r.app.peak_bytes, 999 << 20, "the lower middle");
    assert!(!r.within_app_spread && !r.passes());
    // A run that did not complete fails the row however close it is.
    let mut apps = sides(&[999, 1160, 734]);
    apps[1].jobs_not_completed = 1;
    let r = row("seq".into(), 10, apps, sides(&[1000]), 15.0);
    assert!(!r.passes());
}

#[test]
fn the_time_column_compares_the_median_job_of_every_run() {
    let timed = |secs: &[f64]| {
        let mut s = side_of(500, 80);
        s.job_durations_s = secs.to_vec();
        s
    };
    // The app's jobs 3.0, 4.0 | 5.0, 9.0: median 4.5; the model's 1.0 |
    // 2.0, 3.0: median 2.0, so -55.6%.
    let r = row(
        "seq".into(),
        10,
        vec![timed(&[3.0, 4.0]), timed(&[5.0, 9.0])],
        vec![timed(&[1.0]), timed(&[2.0, 3.0])],
        15.0,
    );
    assert_eq!(r.app_job_s, Some(4.5));
    assert_eq!(r.model_job_s, Some(2.0));
    let err = r.job_time_error_pct.unwrap();
    assert!((err + 55.56).abs() < 0.01, "{err}");
    // Memory alone decides whether the row passes.
    assert!(r.passes());
    // No job times on one side: no time error.
    let r = row("s".into(), 1, vec![timed(&[])], vec![timed(&[2.0])], 15.0);
    assert_eq!(r.app_job_s, None);
    assert_eq!(r.job_time_error_pct, None);
}

#[test]
fn the_cpu_scale_is_the_median_ratio_and_only_when_the_times_are_far_apart() {
    let timed = |app: f64, model: f64| {
        let mut r = row(
            "s".into(),
            1,
            vec![side_of(500, 80)],
            vec![side_of(500, 80)],
            15.0,
        );
        r.app_job_s = Some(app);
        r.model_job_s = Some(model);
        r
    };
    // Ratios 2.0, 2.5, 3.0: the median.
    let rows = [timed(6.0, 3.0), timed(10.0, 4.0), timed(3.0, 1.0)];
    assert_eq!(cpu_scale_for_time(&rows), Some(2.5));
    // Within 25% either way: nothing to suggest.
    assert_eq!(cpu_scale_for_time(&[timed(5.0, 4.5)]), None);
    assert_eq!(cpu_scale_for_time(&[timed(4.0, 5.0)]), None);
    // The model 22% short (a time error within the bar): nothing.
    assert_eq!(cpu_scale_for_time(&[timed(5.1, 4.0)]), None);
    assert_eq!(cpu_scale_for_time(&[timed(5.5, 4.0)]), Some(1.375));
    // The model too slow.
    assert_eq!(cpu_scale_for_time(&[timed(2.0, 4.0)]), Some(0.5));
    assert_eq!(cpu_scale_for_time(&[]), None);
}

#[test]
fn an_app_without_its_jobs_times_is_compared_on_the_loads_view_on_both_sides() {
    let seen = |worker: &[f64], ready: &[f64]| {
        let mut s = side_of(500, 80);
        s.job_durations_s = worker.to_vec();
        s.job_ready_s = ready.to_vec();
        s
    };
    // The app gives no worker times; the model does (2.0 s) but its
    // load saw 3.0 s: 3.0 is compared with the app's 6.0, not 2.0.
    let r = row(
        "seq".into(),
        10,
        vec![seen(&[], &[5.0, 6.0, 7.0])],
        vec![seen(&[2.0], &[3.0])],
        15.0,
    );
    assert_eq!(r.job_time_basis, JobTimeBasis::Polled);
    assert_eq!((r.app_job_s, r.model_job_s), (Some(6.0), Some(3.0)));
    assert_eq!(r.job_time_error_pct, Some(-50.0));
    // Worker times on the app's side: those, on both sides.
    let r = row(
        "seq".into(),
        10,
        vec![seen(&[4.0], &[5.0])],
        vec![seen(&[2.0], &[3.0])],
        15.0,
    );
    assert_eq!(r.job_time_basis, JobTimeBasis::OnWorker);
    assert_eq!(r.job_time_error_pct, Some(-50.0));
}

#[test]
fn the_runtime_that_closes_the_idle_gap_uses_the_median_gap() {
    let rows = vec![
        row(
            "a".into(),
            1,
            vec![side_of(200, 90)],
            vec![side_of(200, 160)],
            15.0,
        ),
        row(
            "b".into(),
            1,
            vec![side_of(200, 80)],
            vec![side_of(200, 160)],
            15.0,
        ),
        row(
            "c".into(),
            1,
            vec![side_of(200, 300)],
            vec![side_of(200, 160)],
            15.0,
        ),
    ];
    // Gaps -70, -80, +140: the median is -70, so 150 - 70.
    assert_eq!(runtime_mb_for_idle(&rows, 150), Some(80));
    assert_eq!(runtime_mb_for_idle(&[], 150), None);
}

#[test]
fn samples_csv_is_read_by_its_header() {
    let text = "t_s,generation,rss_bytes,stages,per_process\n\
                0.010,0,1048576,,\n\
                0.020,0,2097152,\"1:pdf, 2:photos\",pid 1 a: 3; pid 2 b: 4\n";
    let rs = parse_samples(text).unwrap();
    assert_eq!(rs, vec![r(0.01, 1), r(0.02, 2)]);
    let err = parse_samples("t_s,rss_bytes\nx,1\n").unwrap_err();
    assert!(err.contains("row 2"), "{err}");
    assert!(parse_samples("a,b\n").unwrap_err().contains("t_s"));
}
