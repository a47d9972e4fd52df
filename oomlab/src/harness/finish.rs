//! The report of a finished run, from every service: the last service's
//! figures at the top (where the reports are built), each service in
//! `services`, a split run's Redis, API checks and jobs, and the verdict
//! that names the first thing that died.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::RunConfig;
use super::assemble;
use super::prepare::Limits;
use super::services::{Polls, ServiceSpec};
use super::supervise::{End, JobDetail, Supervisor};
use crate::child::ServerCommand;
use crate::load::LoadOutcome;
use crate::report::services::{Service, ServiceInputs, ServiceReport};
use crate::report::split::{SidecarExit, SplitJobs, SplitReport, summary};
use crate::report::{ExitCause, Files, Outcome, RunReport};
use crate::sampler::Shared;

/// Everything a finished run leaves.
pub struct RunParts<'a, 'b> {
    pub cfg: &'a RunConfig,
    pub specs: &'a [ServiceSpec],
    pub limits: &'a [Limits],
    pub shared: &'a [Arc<Shared>],
    pub sups: &'a mut [Supervisor<'b>],
    pub cmds: &'a [ServerCommand],
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub end: End,
    pub end_ms: u64,
    pub load_start_ms: u64,
    pub outcome: LoadOutcome,
    pub details: HashMap<String, JobDetail>,
    pub settle_ms: Option<(u64, u64)>,
    pub files: Files,
    pub dir: &'a Path,
    /// A split run's Redis (its program and deaths) and what the pollers
    /// saw.
    pub split: Option<((String, Vec<SidecarExit>), Polls)>,
    /// The stages the app's own log began (`[log] stage`).
    pub log_stages: Vec<crate::report::log_stage::LogStage>,
}

/// The run's report.
pub fn run_report(p: RunParts<'_, '_>) -> RunReport {
    let primary = p.specs.len() - 1;
    let attempts: HashMap<String, u32> = p
        .details
        .iter()
        .filter_map(|(id, d)| Some((id.clone(), d.attempts?)))
        .collect();
    // The first service to end before the harness stopped it, by when.
    let first_death = p
        .specs
        .iter()
        .zip(p.sups.iter())
        .filter_map(|(s, sup)| {
            let x = sup.exits.iter().find(|x| x.cause != ExitCause::Stopped)?;
            Some((s.service.as_str(), x.clone()))
        })
        .min_by(|a, b| a.1.exited_at_s.total_cmp(&b.1.exited_at_s));
    let several = p.specs.len() > 1;
    let mut notes = Vec::new();
    for (s, sup) in p.specs.iter().zip(p.sups.iter_mut()) {
        let prefix = if several {
            format!("{}: ", s.service.as_str())
        } else {
            String::new()
        };
        notes.extend(sup.notes.drain(..).map(|n| format!("{prefix}{n}")));
    }
    let services: Vec<ServiceReport> = p
        .specs
        .iter()
        .zip(p.sups.iter())
        .zip(p.shared)
        .zip(p.cmds)
        .map(|(((s, sup), sh), cmd)| {
            let st = sh.state();
            let have_je = st.samples.iter().any(|x| x.jemalloc.is_some());
            ServiceReport::new(ServiceInputs {
                service: s.service,
                limit: s.limit,
                samples: &st.samples,
                jemalloc_allocated: have_je.then_some(st.jemalloc_peak.allocated),
                exits: sup.exits.clone(),
                oom_events: st.oom_events.clone(),
                command: cmd.display(),
                samples_csv: s.samples_csv.clone(),
                log: s.log.clone(),
                processes: st.process_events.clone(),
            })
        })
        .collect();
    let mut report = assemble::report(assemble::Inputs {
        cfg: p.cfg,
        limits: &p.limits[primary],
        started_at: p.started_at,
        end: p.end,
        end_ms: p.end_ms,
        load_start_ms: p.load_start_ms,
        outcome: p.outcome,
        details: p.details,
        exits: std::mem::take(&mut p.sups[primary].exits),
        first_death,
        notes,
        scope_cgroup: p.sups[primary].scope_cgroup.take(),
        shared: &p.shared[primary],
        settle_ms: p.settle_ms,
        command: p.cmds[primary].display(),
        files: p.files,
        run_dir: p.dir.to_path_buf(),
        log_stages: p.log_stages,
    });
    if let Some(((program, exits), polled)) = p.split {
        let worker_kill_s = services
            .iter()
            .find(|s| s.service == Service::Worker)
            .and_then(ServiceReport::first_kill_s);
        let api = polled.api_checks(worker_kill_s);
        let jobs = SplitJobs::count(&report.jobs, |id| attempts.get(id).copied());
        let redis = polled.redis_report(program, exits);
        let line = summary(&services, &api, &jobs, &redis);
        combine_verdict(
            &mut report,
            &services,
            SplitReport {
                redis,
                api,
                jobs,
                summary: line,
            },
        );
    }
    report.services = services;
    report
}

/// A split run's verdict: the worker's outcome, made worse by the web
/// service's (a kill of either is a kill), and the split summary line.
fn combine_verdict(report: &mut RunReport, services: &[ServiceReport], split: SplitReport) {
    let web = services.iter().find(|s| s.service == Service::Web);
    let mut outcome = report.verdict.outcome;
    if let Some(w) = web
        && !outcome.over_limit()
        && matches!(
            outcome,
            Outcome::WithinLimit | Outcome::TimedOut | Outcome::LoadFailed
        )
    {
        if w.killed() {
            outcome = Outcome::Killed;
        } else if w.crossed() {
            outcome = Outcome::Crossed;
        }
    }
    report.verdict.summary = match outcome {
        Outcome::Crashed | Outcome::Interrupted | Outcome::TimedOut | Outcome::LoadFailed => {
            format!("{} ({})", report.verdict.summary, split.summary)
        }
        _ => split.summary.clone(),
    };
    report.verdict.outcome = outcome;
    report.verdict.exit_code = outcome.exit() as u8;
    report.split = Some(split);
}
