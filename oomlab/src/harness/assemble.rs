//! The [`RunReport`] of a finished run, from what the sampler, the load and
//! the target said. Pure apart from reading the shared sampler state and the
//! cgroup's final figures.

use std::collections::HashMap;
use std::path::PathBuf;

use super::RunConfig;
use super::prepare::Limits;
use super::supervise::{End, JobDetail};
use crate::cgroup::{CgroupVersion, MemoryCgroup};
use crate::load::LoadOutcome;
use crate::report::{
    self, CgroupReport, Files, InputFile, JobReport, LimitReport, LoadReport, MIN_REPORTS_FOR_RATE,
    Outcome, RunReport, RunShape, SamplingReport, ServerExit, ServerReport, TimeSource, Verdict,
};
use crate::sampler::{self, Shared};
use crate::units::mb;
use crate::watchdog::{Restart, of_which_runtime};

/// How the headline names a service.
fn service_name(name: &str) -> &'static str {
    match name {
        "web" => "the web service",
        "worker" => "the worker",
        _ => "the server",
    }
}

/// What a run leaves to be assembled.
pub struct Inputs<'a> {
    pub cfg: &'a RunConfig,
    pub limits: &'a Limits,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub end: End,
    pub end_ms: u64,
    pub load_start_ms: u64,
    pub outcome: LoadOutcome,
    pub details: HashMap<String, JobDetail>,
    pub exits: Vec<ServerExit>,
    /// The first service of the run that ended before the harness stopped
    /// it (by name: `server`, `web`, `worker`), and how: the headline
    /// names it, never the one the harness stopped afterwards.
    pub first_death: Option<(&'static str, ServerExit)>,
    pub notes: Vec<String>,
    /// In a systemd scope (`Limits::scope`): the latest start's scope
    /// cgroup, reported as `limit.cgroup`.
    pub scope_cgroup: Option<PathBuf>,
    pub shared: &'a Shared,
    /// The settle step's start and end, milliseconds, if one ran.
    pub settle_ms: Option<(u64, u64)>,
    pub command: Vec<String>,
    pub files: Files,
    /// The run's folder (the files above are relative to it).
    pub run_dir: PathBuf,
    /// The stages an app's own log began (`[log] stage`).
    pub log_stages: Vec<crate::report::log_stage::LogStage>,
}

/// The report of the run.
pub fn report(i: Inputs<'_>) -> RunReport {
    let st = i.shared.state();
    let mut peaks = report::peaks_from_samples(&st.samples, i.limits.limit);
    let je = st.jemalloc_peak;
    let have_je = st.samples.iter().any(|s| s.jemalloc.is_some());
    peaks.jemalloc_allocated_bytes = have_je.then_some(je.allocated);
    peaks.jemalloc_active_bytes = have_je.then_some(je.active);
    peaks.jemalloc_resident_bytes = have_je.then_some(je.resident);
    peaks.attribution = st
        .jemalloc_peak_reading
        .as_ref()
        .map(report::PeakAttribution::from_reading);
    peaks.tree_vmhwm_sum_bytes = st.tree_hwm_sum_peak;
    let cgroup_reading = i.limits.cgroup.as_ref().and_then(|c| c.read().ok());
    peaks.cgroup_peak_bytes = cgroup_reading
        .and_then(|r| r.peak_bytes)
        .or_else(|| st.samples.iter().filter_map(|s| s.cgroup_usage).max());

    let jobs = jobs(&i, &st.samples, &st.spans);
    let mut events = st.oom_events.clone();
    if !st.samples.iter().any(|s| s.jobs_in_flight.is_some()) {
        jobs_from_the_loads_view(&mut peaks, &st.samples, &jobs);
        // The target does not say what it was doing at a crossing: the
        // jobs the load was waiting on stand in, named as such.
        // With `[log] stage`, the stage the app's own log had begun.
        let stage_at = |t: f64| {
            crate::report::log_stage::at(&i.log_stages, t)
                .map_or_else(|| LOAD_VIEW_STAGE.to_string(), |s| s.stage.clone())
        };
        if !i.log_stages.is_empty() {
            peaks.stages_at_peak = in_flight_at(&jobs, peaks.sampled_rss_at_s)
                .iter()
                .map(|j| format!("{}:{}", j.job_id, stage_at(peaks.sampled_rss_at_s)))
                .collect::<Vec<_>>()
                .join(";");
        }
        for e in &mut events {
            e.jobs_in_flight = in_flight_at(&jobs, e.at_s)
                .iter()
                .filter_map(|j| {
                    Some(memstats::JobInFlight {
                        job_id: j.job_id.parse().ok()?,
                        stage: stage_at(e.at_s),
                        progress: 0,
                        elapsed_ms: ((e.at_s - j.submitted_at_s) * 1000.0) as u64,
                        live_bytes: None,
                    })
                })
                .collect();
        }
    }
    let load = load(&i, &jobs, &events);
    let exits = exits_with_the_loads_view(&i.exits, &jobs);
    let modelled_runtime = st.modelled_runtime_bytes;
    let end = if i.end == End::LoadDone && i.outcome.interrupted {
        End::Interrupted
    } else {
        i.end
    };
    let tree = crate::report::services::tree_line(&st.process_events, load.jobs_lost);
    let verdict = verdict(&i, end, &peaks, &events, &load, modelled_runtime, tree);

    let mut warnings = Vec::new();
    if let Some(a) = peaks.attribution.as_ref().filter(|a| !a.within_tolerance) {
        warnings.push(format!(
            "per-job live bytes + idle ({}) are {:+.1}% off jemalloc's allocated ({}) at its peak, beyond the \
             {:.0}% tolerance: the per-job and per-stage figures of this run do not add up to what the \
             allocator holds, so do not read the peak's owners from them",
            crate::units::signed_mb(a.attributed_bytes),
            a.difference_pct,
            mb(a.jemalloc_allocated_bytes),
            report::ATTRIBUTION_TOLERANCE_PCT
        ));
    }
    if let (Some(declared), Some(read)) = (i.cfg.target.declared_runtime_bytes, modelled_runtime)
        && declared != read
    {
        warnings.push(format!(
            "the profile declares a modelled runtime of {} but the server reported {}",
            mb(declared),
            mb(read)
        ));
    }

    let settle = i
        .settle_ms
        .and_then(|(from, to)| report::SettleReport::from_samples(&st.samples, from, to));
    let trend = report::leak::trend(&report::leak::TrendInputs {
        samples: &st.samples,
        jobs: &jobs,
        load_start_ms: i.load_start_ms,
        settle: settle.as_ref(),
        limit: i.limits.limit,
    });

    RunReport {
        schema_version: report::SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").into(),
        started_at: i
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_s: i.end_ms as f64 / 1000.0,
        profile: i.cfg.target.file.clone(),
        shape: RunShape {
            target: i.cfg.target.kind,
            workers: i.cfg.target.workers,
            concurrency: u32::try_from(i.cfg.scenario.users.count).unwrap_or(u32::MAX),
            cpus: {
                let cpu = i.limits.cpu_report();
                cpu.cpus.filter(|_| cpu.limited)
            },
            declared_runtime_bytes: i.cfg.target.declared_runtime_bytes,
        },
        scenario: InputFile {
            name: i.cfg.scenario.name.clone(),
            path: i.cfg.scenario.path.clone(),
        },
        photos: i.cfg.scenario.submission.photo_origin(),
        limit: LimitReport {
            bytes: i.limits.limit,
            enforce: i.limits.enforce,
            restart_on_oom: i.cfg.restart != Restart::Never,
            restart: i.cfg.restart,
            oom_kill: i.cfg.oom_kill,
            cgroup: i
                .limits
                .cgroup
                .as_ref()
                .map(|c| CgroupReport {
                    path: c.path().to_path_buf(),
                    version: c.version(),
                    reading: cgroup_reading,
                })
                .or_else(|| {
                    // A scope's cgroup is gone with its process: read only
                    // if it is still there (the samples have its usage).
                    let path = i.scope_cgroup.clone()?;
                    let reading = MemoryCgroup::observed(path.clone()).read().ok();
                    Some(CgroupReport {
                        path,
                        version: CgroupVersion::V2,
                        reading,
                    })
                }),
            notes: i.notes.clone(),
            cpu: i.limits.cpu_report(),
        },
        verdict,
        peaks,
        modelled_runtime_bytes: modelled_runtime,
        oom_events: events,
        server: ServerReport {
            command: i.command.clone(),
            starts: i.exits.iter().map(|x| x.generation + 1).max().unwrap_or(1),
            exits,
        },
        load,
        jobs,
        stage_spans: st.spans.clone(),
        sampling: SamplingReport {
            proc_interval_ms: sampler::PROC_INTERVAL.as_millis() as u64,
            debug_interval_ms: sampler::DEBUG_INTERVAL.as_millis() as u64,
            samples: st.samples.len() as u64,
            debug_errors: st.debug_errors,
            csv_error: st.csv_error.clone(),
        },
        files: i.files,
        warnings,
        settle,
        trend,
        services: Vec::new(),
        log_stages: i.log_stages.clone(),
        split: None,
        heap: None,
    }
}

/// For a target that does not say which jobs it is working on (no
/// `/debug/memory`): jobs in flight as the load saw them, acknowledged and
/// not yet seen finished, at each sample.
fn jobs_from_the_loads_view(
    peaks: &mut report::Peaks,
    samples: &[sampler::Sample],
    jobs: &[JobReport],
) {
    let in_flight = |t: f64| in_flight_at(jobs, t);
    let mut by: std::collections::BTreeMap<u32, u64> = Default::default();
    for s in samples {
        let n = in_flight(s.t_ms as f64 / 1000.0).len() as u32;
        let e = by.entry(n).or_default();
        *e = (*e).max(s.rss);
    }
    peaks.by_jobs_in_flight = by
        .into_iter()
        .map(|(jobs_in_flight, rss_bytes)| report::PeakByJobs {
            jobs_in_flight,
            rss_bytes,
        })
        .collect();
    peaks.stages_at_peak = in_flight(peaks.sampled_rss_at_s)
        .iter()
        .map(|j| format!("{}:{}", j.job_id, LOAD_VIEW_STAGE))
        .collect::<Vec<_>>()
        .join(";");
}

/// The exits, where a crash of a target that does not say which jobs it is
/// running (no `/debug/memory`) gets the jobs the load was waiting on.
fn exits_with_the_loads_view(exits: &[ServerExit], jobs: &[JobReport]) -> Vec<ServerExit> {
    let mut exits = exits.to_vec();
    for x in &mut exits {
        if let Some(c) = x.crash.as_mut().filter(|c| c.jobs_seen_at_s.is_none()) {
            c.jobs_in_flight = in_flight_at(jobs, x.exited_at_s)
                .iter()
                .filter_map(|j| {
                    Some(memstats::JobInFlight {
                        job_id: j.job_id.parse().ok()?,
                        stage: LOAD_VIEW_STAGE.into(),
                        progress: 0,
                        elapsed_ms: ((x.exited_at_s - j.submitted_at_s) * 1000.0) as u64,
                        live_bytes: None,
                    })
                })
                .collect();
        }
    }
    exits
}

/// The jobs acknowledged and not yet seen finished at `t`, seconds.
fn in_flight_at(jobs: &[JobReport], t: f64) -> Vec<&JobReport> {
    jobs.iter()
        .filter(|j| j.submitted_at_s <= t && j.finished_at_s.is_none_or(|f| t < f))
        .collect()
}

/// The stage of a job seen only from the load: submitted, report not yet
/// seen ready.
pub const LOAD_VIEW_STAGE: &str = "awaiting its report (load's view)";

/// Every acknowledged job, with the target's timestamps where it gave them.
fn jobs(
    i: &Inputs<'_>,
    samples: &[sampler::Sample],
    spans: &[sampler::StageSpan],
) -> Vec<JobReport> {
    let at = |m: u64| (m + i.load_start_ms) as f64 / 1000.0;
    i.outcome
        .jobs
        .iter()
        .map(|j| {
            let detail = i.details.get(&j.job_id);
            let times = detail.and_then(|d| d.times.clone());
            let (queue_wait_s, processing_s, created_to_finished_s) = times
                .as_ref()
                .map_or((None, None, None), report::job_time_spans);
            let polled = j.time_to_ready_ms.map(|t| t as f64 / 1000.0);
            let completed = j.time_to_ready_ms.is_some();
            JobReport {
                job_id: j.job_id.clone(),
                status: j.status.clone(),
                submitted_at_s: at(j.submitted_at_ms),
                finished_at_s: j.finished_at_ms.map(at),
                time_to_ready_s: if completed {
                    created_to_finished_s.or(polled)
                } else {
                    None
                },
                time_to_ready_polled_s: polled,
                queue_wait_s,
                processing_s,
                server_times: times,
                peak_rss_bytes: report::job_peak(samples, spans, &j.job_id),
                stages: detail.map(|d| d.stages.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn load(i: &Inputs<'_>, jobs: &[JobReport], events: &[crate::watchdog::OomEvent]) -> LoadReport {
    let o = &i.outcome;
    let completed: Vec<&JobReport> = jobs
        .iter()
        .filter(|j| j.time_to_ready_s.is_some())
        .collect();
    let from_server = !completed.is_empty()
        && completed.iter().all(|j| {
            j.server_times
                .as_ref()
                .is_some_and(|t| t.finished_at.is_some())
        });
    let values = |f: fn(&JobReport) -> Option<f64>| -> Vec<f64> {
        jobs.iter().filter_map(f).collect::<Vec<f64>>()
    };
    let ready = values(|j| j.time_to_ready_s);
    let polled = values(|j| j.time_to_ready_polled_s);
    let load_minutes = (i.end_ms.saturating_sub(i.load_start_ms)) as f64 / 60_000.0;
    let rel = |p: &Option<PathBuf>| {
        p.as_ref().map(|p| {
            p.file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| p.clone())
        })
    };
    LoadReport {
        submissions_acknowledged: o.submissions_acknowledged,
        jobs_completed: o.jobs_completed,
        jobs_failed: o.jobs_failed,
        jobs_lost: o.jobs_lost,
        acknowledged_never_completed: jobs.iter().filter(|j| j.finished_at_s.is_none()).count()
            as u64,
        time_to_ready_p50_s: report::quantile(&ready, 0.5),
        time_to_ready_p95_s: report::quantile(&ready, 0.95),
        time_source: if from_server {
            TimeSource::Server
        } else {
            TimeSource::Polls {
                resolution_s: i.cfg.scenario.users.poll_interval.as_secs_f64(),
            }
        },
        queue_wait_p50_s: report::quantile(&values(|j| j.queue_wait_s), 0.5),
        processing_p50_s: report::quantile(&values(|j| j.processing_s), 0.5),
        time_to_ready_polled_p50_s: report::quantile(&polled, 0.5),
        time_to_ready_polled_p95_s: report::quantile(&polled, 0.95),
        reports_per_minute: (load_minutes > 0.0 && o.jobs_completed >= MIN_REPORTS_FOR_RATE)
            .then(|| o.jobs_completed as f64 / load_minutes),
        errors: o.errors.clone(),
        goose_html: rel(&o.goose_html),
        goose_json: rel(&o.goose_json),
        losses: report::submission_losses(jobs, events, i.cfg.max_restarts > 0),
        work: report::work::WorkReport::check(
            &i.cfg.scenario,
            o,
            &ready,
            report::work::scan_app_errors(
                &i.run_dir.join(&i.files.server_log),
                i.cfg.target.error_patterns(),
            ),
        ),
    }
}

/// The outcome, from which the verdict line and the exit code follow.
fn verdict(
    i: &Inputs<'_>,
    end: End,
    peaks: &report::Peaks,
    events: &[crate::watchdog::OomEvent],
    load: &LoadReport,
    modelled_runtime: Option<u64>,
    tree: Option<String>,
) -> Verdict {
    let limit = i.limits.limit;
    let (outcome, mut summary) = if let Some(e) = events.iter().find(|e| e.killed) {
        (Outcome::Killed, e.summary(modelled_runtime))
    } else if let Some(e) = events.first() {
        (Outcome::Crossed, e.summary(modelled_runtime))
    } else {
        let peak = peaks.sampled_rss_bytes.max(peaks.vmhwm_bytes);
        // A tree's figure is its PSS sum (what the watchdog checks).
        let what = if peaks.process_at_peak.is_some() {
            "PSS sum of the tree"
        } else {
            "RSS"
        };
        let held = format!(
            "peak {} of {} ({what}{}), {} headroom",
            mb(peak),
            mb(limit),
            of_which_runtime(modelled_runtime),
            mb(limit.saturating_sub(peak))
        );
        let (who, last_exit) = match &i.first_death {
            Some((name, x)) => (service_name(name), Some(x)),
            None => ("the server", i.exits.last()),
        };
        match end {
            End::Crashed => (
                Outcome::Crashed,
                match last_exit.and_then(|x| Some((x, x.crash.as_ref()?))) {
                    Some((x, c)) if c.before_ready => format!(
                        "{who} crashed before it was ready, at {:.1} s ({}); no load ran",
                        x.exited_at_s,
                        c.how()
                    ),
                    Some((x, c)) => format!(
                        "{who} crashed at {:.1} s ({}), {held}",
                        x.exited_at_s,
                        c.how()
                    ),
                    None => format!(
                        "{who} exited on its own at {:.1} s ({}), {held}",
                        last_exit.map_or(0.0, |x| x.exited_at_s),
                        last_exit.map_or("", |x| x.status.as_str())
                    ),
                },
            ),
            End::SidecarDied => (
                Outcome::Crashed,
                format!("Redis, the queue, died and was not restarted: {held}"),
            ),
            End::Interrupted => (
                Outcome::Interrupted,
                format!("interrupted at {:.1} s: {held}", i.end_ms as f64 / 1000.0),
            ),
            End::TimedOut => match load.work.failures.first() {
                Some(f) => (
                    Outcome::LoadFailed,
                    format!(
                        "the load failed: stopped at --max-duration ({:.1} s) with {}; {held} (of a load that did not do its work)",
                        i.end_ms as f64 / 1000.0,
                        f.line()
                    ),
                ),
                None => (
                    Outcome::TimedOut,
                    format!(
                        "stopped at --max-duration ({:.1} s), within the limit: {held}",
                        i.end_ms as f64 / 1000.0
                    ),
                ),
            },
            End::LoadDone | End::Killed => match load.work.failures.first() {
                Some(f) => (
                    Outcome::LoadFailed,
                    format!(
                        "the load failed: {}; {held} (of a load that did not do its work)",
                        f.line()
                    ),
                ),
                None => (Outcome::WithinLimit, format!("within the limit: {held}")),
            },
        }
    };
    // The app's own word for what it was doing at the kill.
    if let Some(e) = events.iter().find(|e| e.killed).or(events.first())
        && let Some(st) = crate::report::log_stage::at(&i.log_stages, e.at_s)
    {
        summary.push_str(&format!(
            "; stage {} from the app's log: `{}`",
            st.stage, st.line
        ));
    }
    // What happened inside the tree (the state is locked by the caller:
    // the line comes in made).
    if let Some(line) = tree {
        summary.push_str(&format!("; {line}"));
        if events.iter().any(|e| e.victim.is_some()) && i.exits.iter().any(|x| x.cause.is_kill()) {
            summary.push_str("; the main process was killed too, and the service ended");
        }
    }
    if i.cfg.restart != Restart::Never && i.exits.len() > 1 {
        let kills = i.exits.iter().filter(|x| x.cause.is_kill()).count();
        let restarts = i.exits.iter().map(|x| x.generation).max().unwrap_or(0);
        summary.push_str(&format!(
            "; killed {kills} time(s), restarted {restarts} time(s), {} acknowledged submission(s) never completed (an in-memory queue would have lost {})",
            load.acknowledged_never_completed,
            load.losses.as_ref().map_or(0, |l| l.lost_by_in_memory_queue)
        ));
    }
    if matches!(
        outcome,
        Outcome::WithinLimit | Outcome::Killed | Outcome::Crossed | Outcome::LoadFailed
    ) {
        summary.push_str(&format!("; {}", load.work.counts()));
    }
    Verdict {
        outcome,
        summary,
        exit_code: outcome.exit() as u8,
    }
}
