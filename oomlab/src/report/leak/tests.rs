use memstats::AllocatorStats;

use super::*;

const MIB: u64 = 1 << 20;

fn sample(t_ms: u64, rss: u64, allocated: Option<u64>) -> Sample {
    Sample {
        t_ms,
        generation: 0,
        rss,
        rss_anon: rss,
        rss_file: 0,
        hwm: rss,
        processes: 1,
        rss_sum: rss,
        per_process: None,
        cgroup_usage: None,
        jemalloc: allocated.map(|a| AllocatorStats {
            allocated: a,
            ..AllocatorStats::default()
        }),
        jobs_in_flight: None,
        queue_depth: None,
        stages: None,
    }
}

fn job(id: usize, submitted_at_s: f64, ready_after_s: f64) -> JobReport {
    JobReport {
        job_id: id.to_string(),
        status: "completed".into(),
        submitted_at_s,
        // The polls saw it up to a second later: the server's times win.
        finished_at_s: Some(submitted_at_s + ready_after_s + 0.9),
        time_to_ready_s: Some(ready_after_s),
        time_to_ready_polled_s: Some(ready_after_s + 0.9),
        queue_wait_s: None,
        processing_s: None,
        server_times: Some(memstats::JobTimes {
            created_at: Some("2026-11-30T10:00:00.000Z".into()),
            started_at: Some("2026-11-30T10:00:00.000Z".into()),
            finished_at: Some(format!(
                "2026-11-30T10:00:0{}.{:03}Z",
                ready_after_s as u64,
                ((ready_after_s.fract()) * 1000.0).round() as u64
            )),
        }),
        peak_rss_bytes: None,
        stages: Vec::new(),
    }
}

/// A run of `n` jobs, one every 2 s from t = 1 s, each ready 1.5 s after
/// submission; memory is `level(t_ms)` (MiB) while no job is in flight
/// and 100 MiB above it while one is, sampled every 10 ms; jemalloc read
/// every 100 ms.
fn run(n: usize, level: impl Fn(u64) -> u64) -> (Vec<Sample>, Vec<JobReport>) {
    let jobs: Vec<JobReport> = (0..n)
        .map(|i| job(i + 1, 1.0 + 2.0 * i as f64, 1.5))
        .collect();
    let busy = |t: u64| {
        jobs.iter().any(|j| {
            let from = (j.submitted_at_s * 1000.0) as u64;
            (from..from + 1500).contains(&t)
        })
    };
    let samples = (0..(2000 * n as u64 + 2000) / 10)
        .map(|k| {
            let t = k * 10;
            let rss = (level(t) + if busy(t) { 100 } else { 0 }) * MIB;
            sample(t, rss, (t % 100 == 0).then_some(rss / 2))
        })
        .collect();
    (samples, jobs)
}

fn inputs<'a>(
    samples: &'a [Sample],
    jobs: &'a [JobReport],
    settle: Option<&'a SettleReport>,
) -> TrendInputs<'a> {
    TrendInputs {
        samples,
        jobs,
        load_start_ms: 1000,
        settle,
        limit: 512 * MIB,
    }
}

#[test]
fn each_cycle_is_read_just_after_its_report_is_ready_not_inside_the_job() {
    let (samples, jobs) = run(6, |_| 20);
    let t = trend(&inputs(&samples, &jobs, None)).unwrap();
    assert_eq!(t.jobs, 6);
    assert_eq!(t.warmup_jobs, 1);
    // Ready at 2.5 s, 4.5 s, ...: read there, outside the 100 MiB of a job.
    assert_eq!(t.rss.points[0].at_s, 2.5);
    assert_eq!(t.rss.points[5].at_s, 12.5);
    assert!(
        t.rss.points.iter().all(|p| p.bytes == 20 * MIB),
        "{:?}",
        t.rss.points
    );
    assert_eq!(t.rss.reference_bytes, 20 * MIB);
    assert_eq!(t.rss.end_from, EndLevel::LastCycles);
    assert_eq!(t.verdict, LeakVerdict::Returns);
    let a = t.allocated.as_ref().expect("jemalloc read every 100 ms");
    assert_eq!(a.points.len(), 6);
    assert_eq!(a.points[0].bytes, 10 * MIB);
    assert!(
        t.summary
            .starts_with("returns: anonymous RSS +0.00 MiB/job"),
        "{}",
        t.summary
    );
}

#[test]
fn a_job_that_leaves_memory_behind_grows_at_its_rate() {
    // 6 MiB left by every job that finished before t.
    let (samples, jobs) = run(12, |t| 20 + 6 * ((t + 500) / 2000));
    let t = trend(&inputs(&samples, &jobs, None)).unwrap();
    assert_eq!(t.verdict, LeakVerdict::Grows, "{}", t.summary);
    assert_eq!(t.rss.slope_per_job.estimate, 6.0 * MIB as f64);
    assert!(t.rss.jobs_to_limit.is_some());
    assert!(t.summary.contains("+6.00 MiB/job"), "{}", t.summary);
    assert!(t.summary.contains("the limit in about"), "{}", t.summary);
}

#[test]
fn the_settle_step_decides_between_returns_and_plateaus() {
    // Every cycle point 60 MiB above the 20 MiB idle (retained until a
    // purge or a collection).
    let (samples, jobs) = run(8, |t| if t < 1000 { 20 } else { 80 });
    let back = SettleReport::from_samples(&samples, 16_000, 17_000).unwrap();
    let mut gone = back.clone();
    gone.rss_anon_after_bytes = 22 * MIB;
    let t = trend(&inputs(&samples, &jobs, Some(&gone))).unwrap();
    assert_eq!(
        (t.verdict, t.rss.end_from),
        (LeakVerdict::Returns, EndLevel::Settle)
    );
    let t = trend(&inputs(&samples, &jobs, Some(&back))).unwrap();
    assert_eq!(back.rss_anon_after_bytes, 80 * MIB);
    assert_eq!(t.verdict, LeakVerdict::Plateaus, "{}", t.summary);
    assert!(t.summary.contains("after the settle step"), "{}", t.summary);
}

#[test]
fn fewer_than_five_completed_jobs_or_a_restart_give_no_trend() {
    let (samples, mut jobs) = run(6, |_| 20);
    jobs[0].status = "failed".into();
    jobs[1].status = "failed".into();
    assert_eq!(trend(&inputs(&samples, &jobs, None)), None);
    let (mut samples, jobs) = run(6, |_| 20);
    samples.last_mut().unwrap().generation = 1;
    assert_eq!(trend(&inputs(&samples, &jobs, None)), None);
}

#[test]
fn the_settle_step_reads_the_samples_around_it() {
    let samples: Vec<Sample> = (0..10)
        .map(|k| sample(k * 1000, (50 - k) * MIB, (k % 2 == 0).then_some(k * MIB)))
        .collect();
    let s = SettleReport::from_samples(&samples, 3500, 8500).unwrap();
    assert_eq!(
        (s.rss_before_bytes, s.rss_after_bytes),
        (47 * MIB, 42 * MIB)
    );
    assert_eq!(
        (s.allocated_before_bytes, s.allocated_after_bytes),
        (Some(2 * MIB), Some(8 * MIB))
    );
    assert_eq!(SettleReport::from_samples(&samples[5..], 1000, 2000), None);
}
