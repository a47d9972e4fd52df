//! Synthetic run reports: what `oomlab run` writes, with chosen figures, so
//! the answers (compare, gate, plan) are tested in milliseconds.

use std::path::{Path, PathBuf};

use memstats::JobInFlight;
use oomlab::report::{
    Files, InputFile, JobReport, LimitReport, LoadReport, Outcome, PeakByJobs, Peaks, RunReport,
    SamplingReport, ServerReport, Verdict,
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
/// `jobs` completed jobs taking `ready_s` seconds each, within a 512 MB limit.
pub fn run(profile: &str, scenario: &str, peak_mb: u64, jobs: u32, ready_s: f64) -> RunReport {
    let peak = peak_mb * MB;
    let limit = 512 * MB;
    let job_reports: Vec<JobReport> = (1..=jobs)
        .map(|i| JobReport {
            job_id: i.to_string(),
            status: "completed".into(),
            submitted_at_s: 1.0,
            finished_at_s: Some(1.0 + ready_s),
            time_to_ready_s: Some(ready_s + i as f64 - 1.0),
            peak_rss_bytes: Some(peak),
            stages: vec![],
        })
        .collect();
    let mut by_jobs = vec![PeakByJobs {
        jobs_in_flight: 0,
        rss_bytes: 160 * MB,
    }];
    by_jobs.push(PeakByJobs {
        jobs_in_flight: 1,
        rss_bytes: if jobs >= 2 { peak * 2 / 3 } else { peak },
    });
    if jobs >= 2 {
        by_jobs.push(PeakByJobs {
            jobs_in_flight: 2,
            rss_bytes: peak,
        });
    }
    RunReport {
        schema_version: oomlab::report::SCHEMA_VERSION,
        oomlab_version: "0.1.0".into(),
        started_at: "2026-11-28T12:00:00.000Z".into(),
        duration_s: 30.0,
        profile: InputFile {
            name: profile.into(),
            path: profile_path(profile),
        },
        scenario: InputFile {
            name: scenario.into(),
            path: format!("scenarios/{scenario}.toml").into(),
        },
        limit: LimitReport {
            bytes: limit,
            enforce: Enforce::Watchdog,
            restart_on_oom: false,
            cgroup: None,
            notes: vec![],
            cpu: Default::default(),
        },
        verdict: Verdict {
            outcome: Outcome::WithinLimit,
            summary: format!(
                "within the limit: peak {peak_mb}.0 MB of 512.0 MB; {jobs} of {jobs} report(s) completed"
            ),
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
            idle_rss_bytes: Some(158 * MB),
            headroom_bytes: limit as i64 - peak as i64,
            stages_at_peak: if jobs >= 2 {
                "1:pdf;2:photos".into()
            } else {
                "1:pdf".into()
            },
            by_jobs_in_flight: by_jobs,
            attribution: None,
        },
        modelled_runtime_bytes: Some(150 * MB),
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
            acknowledged_never_completed: 0,
            time_to_ready_p50_s: Some(ready_s),
            time_to_ready_p95_s: Some(ready_s + jobs as f64 - 1.0),
            reports_per_minute: Some(jobs as f64 * 2.0),
            errors: vec![],
            goose_html: None,
            goose_json: None,
            losses: None,
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
    }
}

/// The same run, killed by the watchdog at `at_s` with `kill_mb` (VmHWM),
/// job 2 in stage pdf and job 1 in stage photos.
pub fn killed(mut r: RunReport, kill_mb: u64, at_s: f64) -> RunReport {
    let bytes = kill_mb * MB;
    let ev = OomEvent {
        at_s,
        generation: 0,
        trigger: Trigger::Vmhwm,
        killed: true,
        rss_bytes: bytes - MB,
        vmhwm_bytes: bytes,
        cgroup_peak_bytes: None,
        jobs_in_flight: vec![
            JobInFlight {
                job_id: 2,
                stage: "pdf".into(),
                progress: 60,
                elapsed_ms: 9000,
                live_bytes: None,
            },
            JobInFlight {
                job_id: 1,
                stage: "photos".into(),
                progress: 45,
                elapsed_ms: 9500,
                live_bytes: None,
            },
        ],
        queue_depth: Some(0),
        debug_age_ms: Some(40),
    };
    r.verdict = Verdict {
        outcome: Outcome::Killed,
        summary: format!(
            "killed at {at_s:.1} s: {kill_mb}.0 MB (VmHWM), job 2 in stage pdf, 2 jobs in flight; 0 of 2 report(s) completed"
        ),
        exit_code: 1,
    };
    r.oom_events = vec![ev];
    r.load.jobs_completed = 0;
    r.load.acknowledged_never_completed = r.load.submissions_acknowledged;
    r.load.time_to_ready_p50_s = None;
    r.load.time_to_ready_p95_s = None;
    r.load.reports_per_minute = Some(0.0);
    for j in &mut r.jobs {
        j.status = "processing".into();
        j.finished_at_s = None;
        j.time_to_ready_s = None;
    }
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
