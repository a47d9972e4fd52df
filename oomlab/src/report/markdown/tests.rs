use memstats::{JobInFlight, StageMemory};

use super::{headroom_line, opt_secs, render};
use crate::report::{
    Files, InputFile, JobReport, KillLosses, LimitReport, LoadReport, Outcome, PeakAttribution,
    PeakByJobs, Peaks, RunReport, SamplingReport, ServerExit, ServerReport, SubmissionLosses,
    Verdict,
};
use crate::watchdog::{OomEvent, Trigger};

const MB: u64 = 1 << 20;

fn stage(name: &str, ms: u64, hw_mb: u64, alloc_mb: u64, live_mb: i64) -> StageMemory {
    StageMemory {
        stage: name.into(),
        duration_ms: ms,
        allocated_high_water: hw_mb * MB,
        allocated_at_start: 150 * MB,
        thread_allocated: Some(alloc_mb * MB),
        thread_live_after: Some(live_mb * MB as i64),
    }
}

fn in_flight(id: i64, stage: &str, live_mb: i64) -> JobInFlight {
    JobInFlight {
        job_id: id,
        stage: stage.into(),
        progress: 45,
        elapsed_ms: 300,
        live_bytes: Some(live_mb * MB as i64),
    }
}

/// A run of `original` on `two-reports` with `--restart-on-oom`: killed
/// once at 0.9 s with job 2 in `pdf` and job 3 waiting, then restarted;
/// every job completed after the restart.
pub(crate) fn synthetic() -> RunReport {
    let job = |id: &str, submitted: f64, finished: f64, stages| JobReport {
        job_id: id.into(),
        status: "completed".into(),
        submitted_at_s: submitted,
        finished_at_s: Some(finished),
        // The server's timestamps: a little before the poll saw it.
        time_to_ready_s: Some(finished - submitted - 0.213),
        time_to_ready_polled_s: Some(finished - submitted),
        queue_wait_s: Some(0.004),
        processing_s: Some(finished - submitted - 0.217),
        server_times: None,
        peak_rss_bytes: Some(400 * MB),
        stages,
    };
    let kill = OomEvent {
        at_s: 0.9,
        generation: 0,
        trigger: Trigger::Rss,
        killed: true,
        rss_bytes: 523 * MB,
        vmhwm_bytes: 523 * MB,
        cgroup_peak_bytes: None,
        jobs_in_flight: vec![in_flight(2, "pdf", 262)],
        queue_depth: Some(1),
        debug_age_ms: Some(73),
        victim: None,
    };
    let jobs = vec![
        job(
            "1",
            0.2,
            0.6,
            vec![
                stage("load", 2, 154, 0, 0),
                stage("photos", 10, 162, 7, 1),
                stage("pdf", 400, 406, 294, 5),
                stage("pdf_upload", 10, 165, 0, -6),
            ],
        ),
        job("2", 0.5, 2.4, vec![]),
        job("3", 0.6, 2.9, vec![stage("pdf", 380, 402, 290, 4)]),
    ];
    RunReport {
        schema_version: crate::report::SCHEMA_VERSION,
        oomlab_version: "0.1.0".into(),
        started_at: "2026-11-28T12:00:00.000Z".into(),
        duration_s: 3.2,
        profile: InputFile {
            name: "original".into(),
            path: "profiles/original.toml".into(),
        },
        shape: crate::report::RunShape {
            target: crate::report::TargetKind::ReferenceServer,
            workers: Some(2),
            concurrency: 2,
            cpus: None,
            declared_runtime_bytes: Some(150 * MB),
        },
        scenario: InputFile {
            name: "two-reports".into(),
            path: "scenarios/two-reports.toml".into(),
        },
        photos: Default::default(),
        // From JSON, so that the fields with a default need not be named.
        limit: serde_json::from_value::<LimitReport>(serde_json::json!({
            "bytes": 512 * MB,
            "enforce": "watchdog",
            "restart_on_oom": true,
            "cgroup": null,
            "notes": [],
        }))
        .expect("a limit"),
        verdict: Verdict {
            outcome: Outcome::Killed,
            summary: kill.summary(Some(150 * MB)),
            exit_code: 1,
        },
        peaks: Peaks {
            sampled_rss_bytes: 523 * MB,
            sampled_rss_at_s: 0.9,
            vmhwm_bytes: 523 * MB,
            jemalloc_allocated_bytes: Some(438 * MB),
            jemalloc_active_bytes: Some(440 * MB),
            jemalloc_resident_bytes: Some(460 * MB),
            cgroup_peak_bytes: None,
            idle_rss_bytes: Some(165 * MB),
            headroom_bytes: -11 * MB as i64,
            stages_at_peak: "2:pdf".into(),
            by_jobs_in_flight: vec![
                PeakByJobs {
                    jobs_in_flight: 0,
                    rss_bytes: 220 * MB,
                },
                PeakByJobs {
                    jobs_in_flight: 1,
                    rss_bytes: 523 * MB,
                },
            ],
            process_at_peak: None,
            rss_sum_at_peak_bytes: None,
            tree_vmhwm_sum_bytes: None,
            attribution: Some(PeakAttribution::from_reading(
                &crate::sampler::PeakReading {
                    at_ms: 800,
                    generation: 0,
                    allocated: 438 * MB,
                    idle_allocated: Some(151 * MB),
                    idle_from_earlier_start: false,
                    jobs: vec![in_flight(2, "pdf", 262)],
                    uncollected: 0,
                    idle_uncollected: 0,
                },
            )),
        },
        modelled_runtime_bytes: Some(150 * MB),
        oom_events: vec![kill.clone()],
        server: ServerReport {
            command: vec!["oomlab".into(), "serve".into()],
            starts: 2,
            exits: vec![
                ServerExit {
                    generation: 0,
                    started_at_s: 0.0,
                    ready_after_s: 0.1,
                    exited_at_s: 0.9,
                    status: "signal: 9 (SIGKILL)".into(),
                    cause: crate::report::ExitCause::Watchdog,
                    crash: None,
                },
                ServerExit {
                    generation: 1,
                    started_at_s: 0.9,
                    ready_after_s: 0.1,
                    exited_at_s: 3.2,
                    status: "exit status: 0".into(),
                    cause: crate::report::ExitCause::Stopped,
                    crash: None,
                },
            ],
        },
        load: LoadReport {
            submissions_acknowledged: 3,
            jobs_completed: 3,
            jobs_failed: 0,
            jobs_lost: 0,
            acknowledged_never_completed: 0,
            time_to_ready_p50_s: Some(1.687),
            time_to_ready_p95_s: Some(2.087),
            time_source: crate::report::TimeSource::Server,
            queue_wait_p50_s: Some(0.004),
            processing_p50_s: Some(1.683),
            time_to_ready_polled_p50_s: Some(1.9),
            time_to_ready_polled_p95_s: Some(2.3),
            reports_per_minute: None,
            errors: vec![],
            goose_html: Some("goose-report.html".into()),
            goose_json: Some("goose-report.json".into()),
            losses: crate::report::submission_losses(&jobs, &[kill], true),
            work: crate::report::work::WorkReport {
                users_asked: 3,
                users_started: 3,
                users_logged_in: None,
                submissions_asked: Some(3),
                submissions_attempted: 3,
                submissions_acknowledged: 3,
                photo_uploads_asked: None,
                photos_uploaded: 0,
                reports_completed: 3,
                jobs_failed: 0,
                downloads_expected: 3,
                downloads_checked: 3,
                downloads_wrong_type: 0,
                steps: vec![],
                http_errors: 0,
                degraded_photos: vec![],
                degraded_photos_total: 0,
                app_errors: Default::default(),
                failures: vec![],
            },
        },
        jobs,
        stage_spans: vec![],
        sampling: SamplingReport {
            proc_interval_ms: 10,
            debug_interval_ms: 100,
            samples: 320,
            debug_errors: 2,
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
    }
}

#[test]
fn the_synthetic_run_counts_what_each_server_lost() {
    let r = synthetic();
    assert_eq!(
        r.load.losses,
        Some(SubmissionLosses {
            kills: 1,
            lost_by_reference_server: 0,
            lost_by_in_memory_queue: 2,
            per_kill: vec![KillLosses {
                at_s: 0.9,
                generation: 0,
                processing: 1,
                pending: 1,
                job_ids: vec!["2".into(), "3".into()],
            }],
        })
    );
    let a = r.peaks.attribution.as_ref().expect("attribution");
    assert_eq!(a.attributed_bytes, 413 * MB as i64);
    assert!((a.difference_pct - (413.0 - 438.0) / 438.0 * 100.0).abs() < 1e-9);
    assert!(a.within_tolerance);
    // The attribution names the same jemalloc peak as the table.
    assert_eq!(
        Some(a.jemalloc_allocated_bytes),
        r.peaks.jemalloc_allocated_bytes
    );
}

#[test]
fn headroom_is_never_negative_and_no_figure_reads_n_a_s() {
    assert_eq!(
        headroom_line(80 * MB as i64),
        "Headroom: 80.0 MiB below the limit."
    );
    assert_eq!(
        headroom_line(-(11 * MB as i64) / 2),
        "Over the limit by 5.5 MiB: the peak is above it."
    );
    assert_eq!(opt_secs(Some(1.5), 3), "1.500 s");
    assert_eq!(opt_secs(None, 3), "n/a");
    let mut r = synthetic();
    r.load.time_to_ready_p50_s = None;
    r.load.time_to_ready_p95_s = None;
    let md = render(&r);
    assert!(md.contains("report ready: p50 n/a, p95 n/a ("), "{md}");
    assert!(!md.contains("n/a s"), "{md}");
}

#[test]
fn report_md_of_a_synthetic_run() {
    insta::assert_snapshot!(render(&synthetic()));
}

#[test]
fn the_synthetic_run_json_matches_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../schema/run.schema.json")).unwrap();
    let doc = serde_json::to_value(synthetic()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
