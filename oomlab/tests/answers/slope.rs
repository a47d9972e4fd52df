//! `oomlab gate --max-slope` through the binary, on synthetic runs whose
//! memory trend is computed by the harness's own code from a sample
//! stream (`report::leak::trend`), as a real run's is.

use oomlab::report::RunReport;
use oomlab::report::leak::{SettleReport, TrendInputs, trend};
use oomlab::sampler::Sample;

use crate::fixtures::{self, MB, oomlab};

/// `r` (its jobs one second apart) with the trend of a server whose RSS is
/// its idle figure plus `mib_per_job` for every report ready so far,
/// sampled every 100 ms, and a 3 s settle step at the end.
fn with_leak(mut r: RunReport, mib_per_job: f64) -> RunReport {
    let idle = r.peaks.idle_rss_bytes.unwrap();
    let ready_ms: Vec<u64> = r
        .jobs
        .iter()
        .map(|j| ((j.submitted_at_s + j.time_to_ready_s.unwrap()) * 1000.0).round() as u64)
        .collect();
    let end_ms = ready_ms.last().unwrap() + 4000;
    let samples: Vec<Sample> = (0..=end_ms / 100)
        .map(|k| {
            let t_ms = k * 100;
            let done = ready_ms.iter().filter(|r| **r <= t_ms).count();
            let rss = idle + (done as f64 * mib_per_job * MB as f64) as u64;
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
                jemalloc: None,
                jobs_in_flight: None,
                queue_depth: None,
                stages: None,
            }
        })
        .collect();
    let settle = SettleReport::from_samples(&samples, end_ms - 3000, end_ms);
    r.trend = trend(&TrendInputs {
        samples: &samples,
        jobs: &r.jobs,
        load_start_ms: 1000,
        settle: settle.as_ref(),
        limit: r.limit.bytes,
    });
    r.settle = settle;
    r
}

fn gate(run: &RunReport, max_slope: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let from = fixtures::write(dir.path(), "soak", run);
    let mut args = vec!["gate", "--from", from.to_str().unwrap()];
    for m in max_slope {
        args.extend(["--max-slope", m]);
    }
    oomlab(&args, &[])
}

#[test]
fn a_flat_soak_passes_the_slope_check() {
    let r = with_leak(fixtures::run("lean", "soak", 60, 12, 2.0), 0.0);
    assert_eq!(r.trend.as_ref().unwrap().verdict.as_str(), "returns");
    let (code, out, err) = gate(&r, &["1MiB/job", "20MiB/h"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "pass anonymous RSS slope at most 1.0 MiB/job: anonymous RSS slope +0.00 MiB/job"
        ),
        "{out}"
    );
    assert!(
        out.contains("pass anonymous RSS slope at most 20.0 MiB/h"),
        "{out}"
    );
}

#[test]
fn a_soak_that_grows_2_mib_a_job_fails_naming_the_slope_and_the_limit() {
    let r = with_leak(fixtures::run("lean", "soak", 60, 20, 2.0), 2.0);
    assert_eq!(r.trend.as_ref().unwrap().verdict.as_str(), "grows");
    let (code, out, err) = gate(&r, &["1MiB/job"]);
    assert_eq!(code, 1, "{out}\n{err}");
    // Each check's line is wrapped to 100 columns.
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(
            "FAIL anonymous RSS slope at most 1.0 MiB/job: anonymous RSS slope +2.00 MiB/job"
        ) && flat.contains("(grows); allowed: up to 1.0 MiB/job"),
        "{out}"
    );
    // One job a second: 7200 MiB an hour, far over 100 MiB/h.
    let (code, out, _) = gate(&r, &["100MiB/h"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("+7200.00 MiB/h"), "{out}");
    // ... and under 3 MiB a job.
    let (code, out, _) = gate(&r, &["3MiB/job"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn too_few_jobs_for_a_slope_exit_2_naming_the_flag_and_the_fix() {
    let r = with_leak(fixtures::run("lean", "tiny", 60, 4, 2.0), 2.0);
    assert!(r.trend.is_none());
    let (code, out, err) = gate(&r, &["1MiB/job"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("--max-slope")
            && err.contains("4 job(s) completed")
            && err.contains("at least 5")
            && err.contains("--scenario soak"),
        "{err}"
    );
}

#[test]
fn a_slope_without_a_unit_of_job_or_hour_is_refused() {
    let r = fixtures::run("lean", "tiny", 60, 1, 2.0);
    for bad in ["1MiB/day", "1MiB", "lots/job"] {
        let (code, _, err) = gate(&r, &[bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("--max-slope") && err.contains("1MiB/job"),
            "{bad}: {err}"
        );
    }
}
