//! Synthetic run reports: what `oomlab run` writes, with chosen figures, so
//! the answers (compare, gate, plan) are tested in milliseconds.
//!
//! Every fixture must be a report a real run could produce: the idle figure
//! and the modelled runtime follow the profile file (its `model.runtime_mb`,
//! plus the 15 MiB the reference server holds idle without it, as measured),
//! two jobs are in flight at once only with two or more workers, and the
//! peak is never below idle. [`check_invariants`] asserts it, and every
//! builder here calls it.

use std::path::{Path, PathBuf};

use memstats::JobInFlight;
use oomlab::report::{
    Files, InputFile, JobReport, JobTimes, LimitReport, LoadReport, Outcome, PeakByJobs, Peaks,
    RunReport, RunShape, SamplingReport, ServerReport, TargetKind, TimeSource, Verdict,
};
use oomlab::watchdog::{Enforce, OomEvent, Trigger};

pub const MB: u64 = 1 << 20;

/// The repository's `profiles/<name>.toml`, absolute.
pub fn profile_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profiles")
        .join(format!("{name}.toml"))
}

/// A run of `profile` on `scenario` that peaked at `peak_mb` (RSS) with
/// `jobs` completed jobs taking `ready_s` seconds each, within a 512 MiB limit.
pub fn run(profile: &str, scenario: &str, peak_mb: u64, jobs: u32, ready_s: f64) -> RunReport {
    run_from(&profile_path(profile), scenario, peak_mb, jobs, ready_s)
}

/// `profiles/<name>.toml` with `workers` set, written into `dir` under its
/// own file name (as `oomlab plan` derives it).
pub fn profile_with_workers(dir: &Path, name: &str, workers: usize) -> PathBuf {
    let mut t: toml::Table =
        toml::from_str(&std::fs::read_to_string(profile_path(name)).unwrap()).unwrap();
    t.insert("workers".into(), toml::Value::Integer(workers as i64));
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, toml::to_string(&t).unwrap()).unwrap();
    p
}

/// [`run`] of the profile file at `path`.
pub fn run_from(path: &Path, scenario: &str, peak_mb: u64, jobs: u32, ready_s: f64) -> RunReport {
    run_limited(
        path,
        scenario,
        peak_mb,
        jobs,
        ready_s,
        512,
        Enforce::Watchdog,
    )
}

/// [`run_from`] held to `limit_mb` (e.g. a plan's runs: no limit but the
/// largest plan's RAM, `--enforce off`).
pub fn run_limited(
    path: &Path,
    scenario: &str,
    peak_mb: u64,
    jobs: u32,
    ready_s: f64,
    limit_mb: u64,
    enforce: Enforce,
) -> RunReport {
    let profile = path.file_stem().unwrap().to_str().unwrap();
    let settings = report_server::settings::Settings::load(Some(path)).expect("a profile file");
    let runtime = settings.model.runtime_mb * MB;
    let workers = settings.workers as u32;
    let idle = runtime + 15 * MB;
    let peak = peak_mb * MB;
    let limit = limit_mb * MB;
    // Jobs overlap only with two workers or more; with one they queue.
    let overlap = workers >= 2 && jobs >= 2;
    let job_reports: Vec<JobReport> = (1..=jobs)
        .map(|i| {
            let ready = ready_s + i as f64 - 1.0;
            let queued = if overlap {
                0.004
            } else {
                (i - 1) as f64 * ready_s
            };
            let ms = |s: f64| {
                let t = chrono::DateTime::parse_from_rfc3339("2026-11-28T12:00:01.000Z").unwrap()
                    + chrono::Duration::microseconds((s * 1e6) as i64);
                Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            };
            JobReport {
                job_id: i.to_string(),
                status: "completed".into(),
                submitted_at_s: 1.0,
                finished_at_s: Some(1.0 + ready.ceil()),
                time_to_ready_s: Some(ready),
                time_to_ready_polled_s: Some(ready.ceil()),
                queue_wait_s: Some(queued),
                processing_s: Some(ready - queued),
                server_times: Some(JobTimes {
                    created_at: ms(0.0),
                    started_at: ms(queued),
                    finished_at: ms(ready),
                }),
                peak_rss_bytes: Some(peak),
                stages: vec![],
            }
        })
        .collect();
    let mut by_jobs = vec![PeakByJobs {
        jobs_in_flight: 0,
        rss_bytes: idle,
    }];
    by_jobs.push(PeakByJobs {
        jobs_in_flight: 1,
        rss_bytes: if overlap {
            idle + (peak - idle) * 2 / 3
        } else {
            peak
        },
    });
    if overlap {
        by_jobs.push(PeakByJobs {
            jobs_in_flight: 2,
            rss_bytes: peak,
        });
    }
    let r = RunReport {
        schema_version: oomlab::report::SCHEMA_VERSION,
        oomlab_version: "0.1.0".into(),
        started_at: "2026-11-28T12:00:00.000Z".into(),
        duration_s: 30.0,
        profile: InputFile {
            name: profile.into(),
            path: path.to_path_buf(),
        },
        shape: RunShape {
            target: TargetKind::ReferenceServer,
            workers: Some(workers),
            concurrency: jobs.max(1),
            cpus: None,
            declared_runtime_bytes: Some(runtime),
        },
        scenario: InputFile {
            name: scenario.into(),
            path: format!("scenarios/{scenario}.toml").into(),
        },
        photos: Default::default(),
        limit: LimitReport {
            bytes: limit,
            enforce: Enforce::Watchdog,
            restart_on_oom: false,
            restart: oomlab::watchdog::Restart::Never,
            oom_kill: oomlab::watchdog::OomKill::Tree,
            cgroup: None,
            notes: vec![],
            cpu: Default::default(),
        },
        verdict: Verdict {
            outcome: Outcome::WithinLimit,
            summary: String::new(),
            exit_code: 0,
        },
        peaks: Peaks {
            sampled_rss_bytes: peak,
            sampled_rss_at_s: 12.5,
            vmhwm_bytes: peak,
            jemalloc_allocated_bytes: None,
            jemalloc_active_bytes: None,
            jemalloc_resident_bytes: None,
            cgroup_peak_bytes: None,
            idle_rss_bytes: Some(idle),
            headroom_bytes: limit as i64 - peak as i64,
            stages_at_peak: if overlap {
                "1:pdf;2:photos".into()
            } else {
                "1:pdf".into()
            },
            by_jobs_in_flight: by_jobs,
            process_at_peak: None,
            rss_sum_at_peak_bytes: None,
            tree_vmhwm_sum_bytes: None,
            attribution: None,
        },
        modelled_runtime_bytes: Some(runtime),
        oom_events: vec![],
        server: ServerReport {
            command: vec!["oomlab".into(), "serve".into()],
            starts: 1,
            exits: vec![],
        },
        load: LoadReport {
            submissions_acknowledged: jobs as u64,
            jobs_completed: jobs as u64,
            jobs_failed: 0,
            jobs_lost: 0,
            acknowledged_never_completed: 0,
            time_to_ready_p50_s: Some(ready_s + jobs.div_ceil(2) as f64 - 1.0),
            time_to_ready_p95_s: Some(ready_s + jobs as f64 - 1.0),
            time_source: TimeSource::Server,
            queue_wait_p50_s: None,
            processing_p50_s: None,
            time_to_ready_polled_p50_s: Some((ready_s + jobs.div_ceil(2) as f64 - 1.0).ceil()),
            time_to_ready_polled_p95_s: Some((ready_s + jobs as f64 - 1.0).ceil()),
            reports_per_minute: (jobs as u64 >= oomlab::report::MIN_REPORTS_FOR_RATE)
                .then_some(jobs as f64 * 2.0),
            errors: vec![],
            goose_html: None,
            goose_json: None,
            losses: None,
            work: oomlab::report::work::WorkReport {
                users_asked: jobs as u64,
                users_started: jobs as u64,
                users_logged_in: None,
                submissions_asked: Some(jobs as u64),
                submissions_attempted: jobs as u64,
                submissions_acknowledged: jobs as u64,
                photo_uploads_asked: None,
                photos_uploaded: 0,
                reports_completed: jobs as u64,
                jobs_failed: 0,
                downloads_expected: jobs as u64,
                downloads_checked: jobs as u64,
                downloads_wrong_type: 0,
                steps: vec![],
                http_errors: 0,
                degraded_photos: vec![],
                degraded_photos_total: 0,
                app_errors: Default::default(),
                failures: vec![],
            },
        },
        jobs: job_reports,
        stage_spans: vec![],
        sampling: SamplingReport {
            proc_interval_ms: 10,
            debug_interval_ms: 100,
            samples: 3000,
            debug_errors: 0,
            csv_error: None,
        },
        files: Files::standard(),
        warnings: vec![],
        settle: None,
        trend: None,
        services: Vec::new(),
        log_stages: Vec::new(),
        split: None,
        heap: None,
    };
    with_limit(r, limit_mb, enforce)
}

/// `r` held to `limit_mb`: headroom and verdict line follow. The peak must
/// stay under it (a crossing is [`killed`]'s business).
fn with_limit(mut r: RunReport, limit_mb: u64, enforce: Enforce) -> RunReport {
    let limit = limit_mb * MB;
    let peak = r.peaks.sampled_rss_bytes.max(r.peaks.vmhwm_bytes);
    assert!(peak < limit, "a fixture under its limit");
    r.limit.bytes = limit;
    r.limit.enforce = enforce;
    r.peaks.headroom_bytes = limit as i64 - peak as i64;
    r.verdict.summary = format!(
        "within the limit: peak {} of {} (RSS{}), {} headroom; {} of {} report(s) completed",
        oomlab::units::mb(peak),
        oomlab::units::mb(limit),
        oomlab::watchdog::of_which_runtime(r.modelled_runtime_bytes),
        oomlab::units::mb(limit - peak),
        r.load.jobs_completed,
        r.load.submissions_acknowledged
    );
    check_invariants(&r);
    r
}

/// What every report a real run writes holds.
pub fn check_invariants(r: &RunReport) {
    let what = format!("{} on {}", r.profile.name, r.scenario.name);
    let peak = r.peaks.sampled_rss_bytes.max(r.peaks.vmhwm_bytes);
    if let Some(idle) = r.peaks.idle_rss_bytes {
        assert!(peak >= idle, "{what}: peak {peak} below idle {idle}");
        if let Some(rt) = r.modelled_runtime_bytes {
            assert!(idle >= rt, "{what}: idle below the modelled runtime");
        }
    }
    if let Ok(s) = report_server::settings::Settings::load(Some(&r.profile.path)) {
        assert_eq!(
            r.modelled_runtime_bytes,
            Some(s.model.runtime_mb * MB),
            "{what}: modelled runtime differs from the profile's model.runtime_mb"
        );
        assert_eq!(r.shape.workers, Some(s.workers as u32), "{what}: workers");
    }
    let most_at_once = r
        .peaks
        .by_jobs_in_flight
        .iter()
        .map(|b| b.jobs_in_flight)
        .chain(r.oom_events.iter().map(|e| e.jobs_in_flight.len() as u32))
        .max()
        .unwrap_or(0);
    assert!(
        most_at_once <= r.shape.workers.unwrap_or(u32::MAX),
        "{what}: {most_at_once} jobs at once with {:?} worker(s)",
        r.shape.workers
    );
    assert_eq!(
        r.verdict.exit_code,
        r.verdict.outcome.exit() as u8,
        "{what}: exit code"
    );
    if let Some(rpm) = r.load.reports_per_minute {
        assert!(
            r.load.jobs_completed >= oomlab::report::MIN_REPORTS_FOR_RATE && rpm > 0.0,
            "{what}: a rate from fewer than 5 reports"
        );
    }
    for b in &r.peaks.by_jobs_in_flight {
        assert!(b.rss_bytes <= peak, "{what}: a peak by jobs above the peak");
    }
}

/// The same run, killed by the watchdog at `at_s` with `kill_mb` (VmHWM),
/// job 2 in stage pdf and job 1 in stage photos.
pub fn killed(mut r: RunReport, kill_mb: u64, at_s: f64) -> RunReport {
    let bytes = kill_mb * MB;
    let workers = r.shape.workers.unwrap_or(1);
    let ev = OomEvent {
        at_s,
        generation: 0,
        trigger: Trigger::Vmhwm,
        killed: true,
        rss_bytes: bytes - MB,
        vmhwm_bytes: bytes,
        cgroup_peak_bytes: None,
        jobs_in_flight: [
            JobInFlight {
                job_id: 2,
                stage: "pdf".into(),
                progress: 60,
                elapsed_ms: 9000,
                live_bytes: Some(300 * MB as i64),
            },
            JobInFlight {
                job_id: 1,
                stage: "photos".into(),
                progress: 45,
                elapsed_ms: 9500,
                live_bytes: Some(40 * MB as i64),
            },
        ]
        .into_iter()
        .take(workers as usize)
        .collect(),
        queue_depth: Some(0),
        debug_age_ms: Some(40),
        victim: None,
    };
    r.verdict = Verdict {
        outcome: Outcome::Killed,
        summary: String::new(),
        exit_code: 1,
    };
    r.verdict.summary = format!(
        "{}; 0 of {} report(s) completed",
        ev.summary(r.modelled_runtime_bytes),
        r.load.submissions_acknowledged
    );
    r.oom_events = vec![ev];
    r.load.jobs_completed = 0;
    r.load.acknowledged_never_completed = r.load.submissions_acknowledged;
    r.load.time_to_ready_p50_s = None;
    r.load.time_to_ready_p95_s = None;
    r.load.time_to_ready_polled_p50_s = None;
    r.load.time_to_ready_polled_p95_s = None;
    r.load.reports_per_minute = None;
    for j in &mut r.jobs {
        j.status = "processing".into();
        j.finished_at_s = None;
        j.time_to_ready_s = None;
        j.time_to_ready_polled_s = None;
        j.processing_s = None;
        if let Some(t) = j.server_times.as_mut() {
            t.finished_at = None;
        }
    }
    check_invariants(&r);
    r
}

/// The same run, whose photo uploads all answered 404: nothing submitted,
/// nothing completed, the outcome "load failed" (exit 4).
pub fn load_failed(mut r: RunReport) -> RunReport {
    use oomlab::report::work::{WorkCheck, WorkFailure};
    let asked = r.load.submissions_acknowledged;
    let failure = WorkFailure {
        check: WorkCheck::HttpErrors,
        message: format!("upload photo answered 404 Not Found {asked} time(s): `not found`"),
        hint: Some("check `http.upload_path`".into()),
    };
    r.verdict = Verdict {
        outcome: Outcome::LoadFailed,
        summary: format!(
            "the load failed: {}; peak {} (of a load that did not do its work)",
            failure.line(),
            r.peaks.vmhwm_bytes
        ),
        exit_code: Outcome::LoadFailed.exit() as u8,
    };
    r.load.submissions_acknowledged = 0;
    r.load.jobs_completed = 0;
    r.load.reports_per_minute = None;
    r.load.time_to_ready_p50_s = None;
    r.load.time_to_ready_p95_s = None;
    r.load.time_to_ready_polled_p50_s = None;
    r.load.time_to_ready_polled_p95_s = None;
    r.jobs.clear();
    r.load.work.submissions_acknowledged = 0;
    r.load.work.reports_completed = 0;
    r.load.work.downloads_expected = 0;
    r.load.work.downloads_checked = 0;
    r.load.work.http_errors = asked;
    r.load.work.failures = vec![failure];
    check_invariants(&r);
    r
}

/// Writes `r` as `<dir>/<name>/run.json`; returns the file.
pub fn write(dir: &Path, name: &str, r: &RunReport) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("run.json");
    std::fs::write(&p, serde_json::to_string_pretty(r).unwrap()).unwrap();
    p
}

/// `oomlab` with `args`, from the repository root; (exit code, stdout, stderr).
pub fn oomlab(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oomlab"));
    cmd.args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
