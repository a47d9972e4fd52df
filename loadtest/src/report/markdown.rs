//! `report.md`: the run in prose and tables, rendered from [`RunReport`].

use std::fmt::Write;

use memstats::format_mb;

use super::RunReport;

fn mb(b: u64) -> String {
    format_mb(b)
}

fn opt_mb(b: Option<u64>) -> String {
    b.map(mb).unwrap_or_else(|| "n/a".into())
}

/// Signed bytes as MB with one decimal.
fn smb(b: i64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 20) as f64)
}

fn opt_smb(b: Option<i64>) -> String {
    b.map(smb).unwrap_or_else(|| "n/a".into())
}

fn opt_s(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "n/a".into())
}

/// Renders the report. Units: MB = 1,048,576 bytes, s = seconds.
pub fn render(r: &RunReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# oomlab run: {} on {}\n",
        r.profile.name, r.scenario.name
    );
    let _ = writeln!(o, "**Verdict:** {}\n", r.verdict.summary);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| profile | {} (`{}`) |",
        r.profile.name,
        r.profile.path.display()
    );
    let _ = writeln!(
        o,
        "| scenario | {} (`{}`) |",
        r.scenario.name,
        r.scenario.path.display()
    );
    let _ = writeln!(
        o,
        "| limit | {} MB, enforced by {}{} |",
        mb(r.limit.bytes),
        r.limit.enforce.as_str(),
        if r.limit.restart_on_oom {
            ", restart on OOM"
        } else {
            ""
        }
    );
    let _ = writeln!(o, "| started | {} |", r.started_at);
    let _ = writeln!(o, "| duration | {:.1} s |", r.duration_s);
    let _ = writeln!(o, "| server starts | {} |", r.server.starts);
    let _ = writeln!(o, "| exit code | {} |", r.verdict.exit_code);
    for n in &r.limit.notes {
        let _ = writeln!(o, "\nNote: {n}");
    }

    let p = &r.peaks;
    let _ = writeln!(o, "\n## Peak memory by source\n");
    let _ = writeln!(
        o,
        "| source | peak (MB) | what it measures |\n|---|---:|---|"
    );
    let _ = writeln!(
        o,
        "| sampled RSS | {} at {:.1} s | `VmRSS` of the server's process tree, read from `/proc` every 10 ms |",
        mb(p.sampled_rss_bytes),
        p.sampled_rss_at_s
    );
    let _ = writeln!(
        o,
        "| VmHWM | {} | the kernel's high-water mark of RSS: no peak between samples is missed |",
        mb(p.vmhwm_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc allocated | {} | bytes the server's code holds (`stats.allocated`, every 100 ms) |",
        opt_mb(p.jemalloc_allocated_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc active | {} | pages of live allocations (`stats.active`) |",
        opt_mb(p.jemalloc_active_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc resident | {} | pages the allocator holds resident (`stats.resident`) |",
        opt_mb(p.jemalloc_resident_bytes)
    );
    if let Some(c) = p.cgroup_peak_bytes {
        let _ = writeln!(
            o,
            "| cgroup peak | {} | the memory cgroup's peak usage, page cache included |",
            mb(c)
        );
    }
    let _ = writeln!(
        o,
        "| idle RSS | {} | RSS at the first sample after the server was ready |",
        opt_mb(p.idle_rss_bytes)
    );
    let _ = writeln!(
        o,
        "\nHeadroom: {:.1} MB below the limit (negative: over it).",
        p.headroom_bytes as f64 / (1u64 << 20) as f64
    );
    if !p.stages_at_peak.is_empty() {
        let _ = writeln!(
            o,
            "Jobs and stages at the RSS peak: `{}`.",
            p.stages_at_peak
        );
    }
    if let Some(a) = &p.attribution {
        attribution(&mut o, a);
    }
    match r.modelled_runtime_bytes {
        Some(m) if m > 0 => {
            let _ = writeln!(
                o,
                "\nModelled runtime: {} MB held from start to stand in for the modelled app's \
                 interpreter. A declared model input, not a measurement; it is included in the \
                 measured figures above.",
                mb(m)
            );
        }
        _ => {
            let _ = writeln!(
                o,
                "\nModelled runtime: none (the Rust server measured as it is)."
            );
        }
    }

    if !p.by_jobs_in_flight.is_empty() {
        let _ = writeln!(o, "\n## Peak by jobs in flight\n");
        let _ = writeln!(o, "| jobs in flight | peak sampled RSS (MB) |\n|---:|---:|");
        for b in &p.by_jobs_in_flight {
            let _ = writeln!(o, "| {} | {} |", b.jobs_in_flight, mb(b.rss_bytes));
        }
    }

    if !r.oom_events.is_empty() {
        let _ = writeln!(o, "\n## Limit events\n");
        for e in &r.oom_events {
            let _ = writeln!(o, "- server start {}: {}", e.generation, e.summary());
            for j in &e.jobs_in_flight {
                let _ = writeln!(
                    o,
                    "  - job {}: stage {}, progress {}, {:.1} s in{}",
                    j.job_id,
                    j.stage,
                    j.progress,
                    j.elapsed_ms as f64 / 1000.0,
                    j.live_bytes
                        .map(|b| format!(
                            ", {:.1} MB live on its thread",
                            b as f64 / (1u64 << 20) as f64
                        ))
                        .unwrap_or_default()
                );
            }
        }
    }

    let _ = writeln!(o, "\n## Jobs\n");
    if r.jobs.is_empty() {
        let _ = writeln!(o, "No submission was acknowledged.");
    } else {
        let _ = writeln!(
            o,
            "| job | status | submitted (s) | ready after (s) | peak RSS in flight (MB) | heaviest stage (allocated high water, MB) |\n|---|---|---:|---:|---:|---|"
        );
        for j in &r.jobs {
            let heaviest = j
                .stages
                .iter()
                .max_by_key(|s| s.allocated_high_water)
                .map(|s| format!("{} ({})", s.stage, mb(s.allocated_high_water)))
                .unwrap_or_else(|| "n/a".into());
            let _ = writeln!(
                o,
                "| {} | {} | {:.1} | {} | {} | {} |",
                j.job_id,
                j.status,
                j.submitted_at_s,
                opt_s(j.time_to_ready_s),
                opt_mb(j.peak_rss_bytes),
                heaviest
            );
        }
    }

    per_job_stages(&mut o, r);

    let l = &r.load;
    let _ = writeln!(o, "\n## Load\n");
    let _ = writeln!(
        o,
        "- submissions acknowledged: {}; completed: {}; failed: {}; acknowledged but never completed: {}",
        l.submissions_acknowledged, l.jobs_completed, l.jobs_failed, l.acknowledged_never_completed
    );
    let _ = writeln!(
        o,
        "- time from submission to report ready: p50 {} s, p95 {} s; reports per minute: {}",
        opt_s(l.time_to_ready_p50_s),
        opt_s(l.time_to_ready_p95_s),
        l.reports_per_minute
            .map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "n/a".into())
    );
    if let Some(x) = &l.losses {
        losses(&mut o, x, r.limit.restart_on_oom);
    }
    if !l.errors.is_empty() {
        let _ = writeln!(o, "- errors:");
        for e in &l.errors {
            let _ = writeln!(o, "  - {e}");
        }
    }
    let _ = writeln!(o, "\n## Server exits\n");
    for x in &r.server.exits {
        let _ = writeln!(
            o,
            "- start {}: started at {:.1} s (ready after {:.2} s), exited at {:.1} s: {} ({})",
            x.generation, x.started_at_s, x.ready_after_s, x.exited_at_s, x.cause, x.status
        );
    }
    let _ = writeln!(o, "\n## Files\n");
    let f = &r.files;
    let _ = write!(
        o,
        "`{}` (this report as data), `{}` (timeline), `{}` (every sample), `{}` (server output)",
        f.run_json.display(),
        f.memory_svg.display(),
        f.samples_csv.display(),
        f.server_log.display()
    );
    if let Some(h) = &l.goose_html {
        let _ = write!(o, ", `{}` (goose)", h.display());
    }
    o.push('\n');
    o
}

/// The attribution check at the jemalloc peak (issue 6).
fn attribution(o: &mut String, a: &super::PeakAttribution) {
    let _ = writeln!(
        o,
        "\nAttribution at the jemalloc peak ({:.1} s, server start {}): per-job live bytes + idle = {} MB of {} MB allocated ({:+.1}%).",
        a.at_s,
        a.generation,
        smb(a.attributed_bytes),
        mb(a.jemalloc_allocated_bytes),
        a.difference_pct
    );
    let jobs: Vec<String> = a
        .jobs
        .iter()
        .map(|j| {
            format!(
                "job {} ({}) {} MB",
                j.job_id,
                j.stage,
                opt_smb(j.live_bytes)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Jobs: {} = {} MB; idle (jemalloc allocated at the last reading with no job in flight{}): {} MB.",
        if jobs.is_empty() {
            "none in flight".to_string()
        } else {
            jobs.join(", ")
        },
        smb(a.jobs_live_bytes),
        if a.idle_from_earlier_start {
            ", from the run's first server start: this one had none"
        } else {
            ""
        },
        opt_mb(a.idle_allocated_bytes)
    );
}

/// A table per job of what each stage cost, or, for a job the server could
/// no longer be asked about, what it held at the kill.
fn per_job_stages(o: &mut String, r: &RunReport) {
    if r.jobs.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Memory by job and stage\n");
    let _ = writeln!(
        o,
        "Per stage, as the server measured it (`GET /api/jobs/{{id}}`): high-water is the process-wide jemalloc `allocated` during the stage; thread allocated and still live after come from the job's worker thread (jemalloc per-thread counters)."
    );
    let mut without = Vec::new();
    for j in &r.jobs {
        if !j.stages.is_empty() {
            let _ = writeln!(o, "\n### Job {} ({})\n", j.job_id, j.status);
            let _ = writeln!(
                o,
                "| stage | duration (s) | allocated high-water (MB) | thread allocated (MB) | still live after (MB) |\n|---|---:|---:|---:|---:|"
            );
            for s in &j.stages {
                let _ = writeln!(
                    o,
                    "| {} | {:.2} | {} | {} | {} |",
                    s.stage,
                    s.duration_ms as f64 / 1000.0,
                    mb(s.allocated_high_water),
                    opt_mb(s.thread_allocated),
                    opt_smb(s.thread_live_after)
                );
            }
            continue;
        }
        // No job document: the server was killed. What the last
        // `/debug/memory` reading before a kill said about it.
        let at_kill = r.oom_events.iter().filter(|e| e.killed).find_map(|e| {
            e.jobs_in_flight
                .iter()
                .find(|f| f.job_id.to_string() == j.job_id)
                .map(|f| (e, f))
        });
        match at_kill {
            Some((e, f)) => {
                let _ = writeln!(
                    o,
                    "\n### Job {} ({})\n\nNo per-stage figures from the server (it was killed before it could be asked). At the kill ({:.1} s, server start {}): stage {}, progress {}, {:.1} s in, {} MB live on its worker thread{}.",
                    j.job_id,
                    j.status,
                    e.at_s,
                    e.generation,
                    f.stage,
                    f.progress,
                    f.elapsed_ms as f64 / 1000.0,
                    opt_smb(f.live_bytes),
                    e.debug_age_ms
                        .map(|a| format!(" (last `/debug/memory` reading, {a} ms before the kill)"))
                        .unwrap_or_default()
                );
            }
            None => without.push(j.job_id.as_str()),
        }
    }
    if !without.is_empty() {
        let _ = writeln!(
            o,
            "\nNo per-stage figures for job(s) {}: not in flight at a kill, and the server could not be asked at the end.",
            without.join(", ")
        );
    }
}

/// Submissions lost to kills (issue 7).
fn losses(o: &mut String, x: &super::SubmissionLosses, restarted: bool) {
    let server = if restarted {
        format!(
            "the reference server, restarted, lost {} acknowledged submission(s) (never completed or failed by the end)",
            x.lost_by_reference_server
        )
    } else {
        format!(
            "the server was not restarted (no `--restart-on-oom`), so {} acknowledged submission(s) never completed",
            x.lost_by_reference_server
        )
    };
    let _ = writeln!(
        o,
        "- {} kill(s): {server}; the modelled app's in-memory queue would have lost {} (acknowledged and not finished at the moment of a kill)",
        x.kills, x.lost_by_in_memory_queue
    );
    for k in &x.per_kill {
        let _ = writeln!(
            o,
            "  - kill at {:.1} s (server start {}): {} processing, {} pending{}",
            k.at_s,
            k.generation,
            k.processing,
            k.pending,
            if k.job_ids.is_empty() {
                String::new()
            } else {
                format!(" (jobs {})", k.job_ids.join(", "))
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use memstats::{JobInFlight, StageMemory};

    use super::render;
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
            time_to_ready_s: Some(finished - submitted),
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
            jobs_in_flight: vec![in_flight(2, "pdf", 124)],
            queue_depth: Some(1),
            debug_age_ms: Some(73),
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
            scenario: InputFile {
                name: "two-reports".into(),
                path: "scenarios/two-reports.toml".into(),
            },
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
                summary: kill.summary(),
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
                attribution: Some(PeakAttribution::from_reading(
                    &crate::sampler::PeakReading {
                        at_ms: 800,
                        generation: 0,
                        allocated: 300 * MB,
                        idle_allocated: Some(151 * MB),
                        idle_from_earlier_start: false,
                        jobs: vec![in_flight(2, "pdf", 124)],
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
                        cause: "watchdog".into(),
                    },
                    ServerExit {
                        generation: 1,
                        started_at_s: 0.9,
                        ready_after_s: 0.1,
                        exited_at_s: 3.2,
                        status: "exit status: 0".into(),
                        cause: "stopped".into(),
                    },
                ],
            },
            load: LoadReport {
                submissions_acknowledged: 3,
                jobs_completed: 3,
                jobs_failed: 0,
                acknowledged_never_completed: 0,
                time_to_ready_p50_s: Some(1.9),
                time_to_ready_p95_s: Some(2.3),
                reports_per_minute: Some(56.3),
                errors: vec![],
                goose_html: Some("goose-report.html".into()),
                goose_json: Some("goose-report.json".into()),
                losses: crate::report::submission_losses(&jobs, &[kill], true),
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
        assert_eq!(a.attributed_bytes, 275 * MB as i64);
        assert!((a.difference_pct - (275.0 - 300.0) / 300.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn report_md_of_a_synthetic_run() {
        insta::assert_snapshot!(render(&synthetic()));
    }

    #[test]
    fn the_synthetic_run_json_matches_the_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/run.schema.json")).unwrap();
        let doc = serde_json::to_value(synthetic()).unwrap();
        let v = jsonschema::validator_for(&schema).expect("the schema compiles");
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
}
