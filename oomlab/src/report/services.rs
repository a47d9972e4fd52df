//! The measured services of a run (`services` in `run.json`): each with
//! its own limit, peaks, starts, limit events, processes and verdict line.
//! A plain run has one (`server`); a split run two (`web`, `worker`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ExitCause, ServerExit};
use crate::sampler::Sample;
use crate::sampler::tree::ProcessEvent;
use crate::table::{Align, Table};
use crate::units::mb;
use crate::watchdog::OomEvent;

/// A measured service of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// The target as one service: the reference server in one process, or
    /// the user's app (its whole process tree).
    Server,
    /// The HTTP API (`report-server web`): takes submissions, queues jobs.
    Web,
    /// The background worker (`report-server worker`): builds the reports.
    Worker,
}

impl Service {
    /// `server`, `web` or `worker` (the reference server's role argument
    /// names the last two).
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Server => "server",
            Service::Web => "web",
            Service::Worker => "worker",
        }
    }
}

/// One measured service of a run: its limit, peaks, starts, limit
/// crossings, the processes of its tree that came and went, and its verdict
/// line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceReport {
    /// Which service.
    pub service: Service,
    /// Its limit, bytes.
    pub limit_bytes: u64,
    /// Highest sampled RSS over its starts, bytes.
    pub peak_rss_bytes: u64,
    /// When it was sampled, seconds.
    pub peak_rss_at_s: f64,
    /// Highest kernel high-water mark (`VmHWM`), bytes.
    pub vmhwm_bytes: u64,
    /// Highest jemalloc `stats.allocated` from its `/debug/memory`, bytes.
    pub jemalloc_allocated_bytes: Option<u64>,
    /// Its starts (1 + restarts).
    pub starts: u32,
    /// How every start ended, in order.
    pub exits: Vec<ServerExit>,
    /// Its limit crossings.
    pub oom_events: Vec<OomEvent>,
    /// The command line of its first start.
    pub command: Vec<String>,
    /// Its samples, relative to the run's folder.
    pub samples_csv: PathBuf,
    /// Its stdout and stderr, relative to the run's folder.
    pub log: PathBuf,
    /// One line: killed (when, at what), or untouched with its peak.
    pub verdict: String,
    /// Processes of its tree that appeared or ended (a worker killed, a
    /// worker its master started in its place).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessEvent>,
}

/// What [`ServiceReport::new`] needs of a service.
pub struct ServiceInputs<'a> {
    pub service: Service,
    pub limit: u64,
    pub samples: &'a [Sample],
    pub jemalloc_allocated: Option<u64>,
    pub exits: Vec<ServerExit>,
    pub oom_events: Vec<OomEvent>,
    pub command: Vec<String>,
    pub samples_csv: PathBuf,
    pub log: PathBuf,
    pub processes: Vec<ProcessEvent>,
}

impl ServiceReport {
    /// A service's figures and its verdict line.
    pub fn new(i: ServiceInputs<'_>) -> ServiceReport {
        let peaks = super::peaks_from_samples(i.samples, i.limit);
        let starts = i.exits.iter().map(|x| x.generation + 1).max().unwrap_or(1);
        let verdict = service_verdict(i.service, i.limit, &peaks, &i.exits, &i.oom_events);
        ServiceReport {
            service: i.service,
            limit_bytes: i.limit,
            peak_rss_bytes: peaks.sampled_rss_bytes,
            peak_rss_at_s: peaks.sampled_rss_at_s,
            vmhwm_bytes: peaks.vmhwm_bytes,
            jemalloc_allocated_bytes: i.jemalloc_allocated,
            starts,
            exits: i.exits,
            oom_events: i.oom_events,
            command: i.command,
            samples_csv: i.samples_csv,
            log: i.log,
            verdict,
            processes: i.processes,
        }
    }

    /// Whether it was killed at its limit (by any start).
    pub fn killed(&self) -> bool {
        self.oom_events.iter().any(|e| e.killed)
    }

    /// Whether it crossed its limit (killed or, with `--enforce off`, not).
    pub fn crossed(&self) -> bool {
        !self.oom_events.is_empty()
    }

    /// When it was first killed or exited on its own, seconds; `None`
    /// when it ran until the harness stopped it.
    pub fn first_kill_s(&self) -> Option<f64> {
        self.exits
            .iter()
            .find(|x| x.cause != ExitCause::Stopped)
            .map(|x| x.exited_at_s)
    }
}

fn service_verdict(
    service: Service,
    limit: u64,
    peaks: &super::Peaks,
    exits: &[ServerExit],
    events: &[OomEvent],
) -> String {
    let name = service.as_str();
    let peak = peaks.sampled_rss_bytes.max(peaks.vmhwm_bytes);
    let restarts = exits.iter().map(|x| x.generation).max().unwrap_or(0);
    let restarted = match restarts {
        0 => String::new(),
        1 => ", restarted once".to_string(),
        n => format!(", restarted {n} times"),
    };
    if let Some(e) = events.iter().find(|e| e.killed) {
        let kills = events.iter().filter(|e| e.killed).count();
        let mut what = format!(
            "{} {}, limit {}",
            mb(e.bytes()),
            e.trigger.label(),
            mb(limit)
        );
        if let Some(v) = &e.victim {
            what.push_str(&format!("; only {} {} was killed", v.name, v.pid));
        }
        return if kills > 1 {
            format!(
                "{name} killed {kills} times (first at {:.1} s: {what}){restarted}",
                e.at_s
            )
        } else {
            format!("{name} killed at {:.1} s ({what}){restarted}", e.at_s)
        };
    }
    if let Some(e) = events.first() {
        return format!(
            "{name} crossed its {} limit at {:.1} s ({})",
            mb(limit),
            e.at_s,
            mb(e.bytes())
        );
    }
    if let Some(x) = exits.iter().find(|x| x.cause == ExitCause::Crashed) {
        return format!(
            "{name} exited on its own at {:.1} s ({}){restarted}",
            x.exited_at_s, x.status
        );
    }
    format!(
        "{name} untouched: peak {} of {}{restarted}",
        mb(peak),
        mb(limit)
    )
}

/// The `report.md` section of the processes that came and went inside each
/// service's tree; nothing when none did.
pub fn processes_section(o: &mut String, services: &[ServiceReport]) {
    use crate::sampler::tree::ProcessChange;
    use std::fmt::Write as _;
    if services.iter().all(|s| s.processes.is_empty()) {
        return;
    }
    let _ = writeln!(o, "\n## Processes that came and went\n");
    let _ = writeln!(
        o,
        "Inside each service's process tree (its main process's own end is under \
         the exits above). A process the kernel killed is named so only when the \
         cgroup's OOM counter moved just before it vanished.\n"
    );
    let mut t = Table::new(&[
        ("service", Align::Text),
        ("at", Align::Figure),
        ("pid", Align::Figure),
        ("process", Align::Text),
        ("what", Align::Text),
        ("memory at its end", Align::Figure),
    ]);
    for s in services {
        for e in &s.processes {
            let what = match (e.change, e.killed_by) {
                (ProcessChange::Started, _) => "started".to_string(),
                (ProcessChange::Ended, Some(k)) => format!("killed by {}", k.label()),
                (ProcessChange::Ended, None) => "ended".to_string(),
            };
            t.row(vec![
                s.service.as_str().to_string(),
                format!("{:.1} s", e.at_s),
                e.pid.to_string(),
                e.name.clone(),
                what,
                e.last_bytes.map_or_else(|| "-".to_string(), mb),
            ]);
        }
    }
    o.push_str(&t.markdown());
}

/// What happened inside a service's tree, in one line for the verdict:
/// "the kernel killed python3 31669 (504.0 MiB); python3 31682 started in
/// its place; 1 job lost". `None` when no process of the tree ended.
pub fn tree_line(events: &[ProcessEvent], jobs_lost: u64) -> Option<String> {
    use crate::sampler::tree::ProcessChange;
    let mut parts = Vec::new();
    let ended: Vec<&ProcessEvent> = events
        .iter()
        .filter(|e| e.change == ProcessChange::Ended)
        .collect();
    if ended.is_empty() {
        return None;
    }
    // A process whose name was never read (it came and went between two
    // readings of /proc) is called a process.
    let name = |e: &ProcessEvent| -> String {
        if e.name.is_empty() {
            "process".to_string()
        } else {
            e.name.clone()
        }
    };
    for e in ended.iter().take(3) {
        let memory = e
            .last_bytes
            .map_or_else(String::new, |b| format!(" ({})", mb(b)));
        parts.push(match e.killed_by {
            Some(k) => format!(
                "{} killed {} {} at {:.1} s{memory}",
                k.label(),
                name(e),
                e.pid,
                e.at_s
            ),
            None => format!("{} {} ended at {:.1} s{memory}", name(e), e.pid, e.at_s),
        });
    }
    if ended.len() > 3 {
        parts.push(format!("{} more processes ended", ended.len() - 3));
    }
    let first_end = ended[0].at_s;
    let started: Vec<String> = events
        .iter()
        .filter(|e| e.change == ProcessChange::Started && e.at_s >= first_end)
        .take(3)
        .map(|e| format!("{} {}", name(e), e.pid))
        .collect();
    if !started.is_empty() {
        parts.push(format!("then started: {}", started.join(", ")));
    }
    if jobs_lost > 0 {
        parts.push(format!(
            "{jobs_lost} job{} lost",
            if jobs_lost == 1 { "" } else { "s" }
        ));
    }
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::tree::{Killer, ProcessChange};

    #[test]
    fn the_tree_line_names_the_victim_its_replacement_and_the_lost_job() {
        let ev = |pid, change, killed_by, last_bytes| ProcessEvent {
            at_s: 4.3,
            generation: 0,
            pid,
            name: "gunicorn".into(),
            change,
            last_bytes,
            killed_by,
        };
        let events = [
            ev(
                31669,
                ProcessChange::Ended,
                Some(Killer::Kernel),
                Some(504 << 20),
            ),
            ev(31682, ProcessChange::Started, None, None),
        ];
        assert_eq!(
            tree_line(&events, 1).as_deref(),
            Some(
                "the kernel killed gunicorn 31669 at 4.3 s (504.0 MiB); then started: gunicorn 31682; 1 job lost"
            )
        );
        assert_eq!(
            tree_line(&events[1..], 0),
            None,
            "a start alone is no event"
        );
    }
}
