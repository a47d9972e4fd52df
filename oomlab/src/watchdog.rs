//! The limit check, and the OOM event it records.
//!
//! The check reads both the sampled resident set and the kernel's high-water
//! mark (`VmHWM`): an allocation spike that rises and falls between two
//! samples still leaves its mark in `VmHWM`, so it is caught at the next
//! sample, as the platform's kill would have caught it.

use memstats::{JobInFlight, ProcMemory};
use serde::{Deserialize, Serialize};

/// How the memory limit is enforced.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Enforce {
    /// The harness sends SIGKILL when RSS or VmHWM crosses the limit.
    Watchdog,
    /// A memory cgroup below the harness's own holds the limit; the kernel
    /// kills.
    Cgroup,
    /// Nothing is killed; crossing the limit is recorded.
    Off,
}

impl Enforce {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Enforce::Watchdog => "watchdog",
            Enforce::Cgroup => "cgroup",
            Enforce::Off => "off",
        }
    }
}

/// What a kill at the limit ends (`--oom-kill`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OomKill {
    /// Only the process the kernel's OOM killer would choose: the highest
    /// `oom_score` of the tree. A gunicorn worker dies, its master starts
    /// another and the jobs it held are lost, as in a container. With
    /// `--enforce cgroup` the kernel itself chooses.
    Kernel,
    /// The whole process tree, as a platform that restarts the instance
    /// after an out-of-memory event. With `--enforce cgroup` on cgroup v2
    /// the kernel kills the group (`memory.oom.group`); on v1 the harness
    /// kills the rest of the tree after the kernel's kill.
    Tree,
}

impl OomKill {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OomKill::Kernel => "kernel",
            OomKill::Tree => "tree",
        }
    }
}

/// When a service is started again after it ended (`--restart`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Never: the first end of a service ends the run.
    Never,
    /// After a kill at the limit (the watchdog's or the kernel's).
    OnOom,
    /// Whatever ended it (a kill, a crash, an exit, a SIGKILL from
    /// outside), as Render restarts a service.
    Always,
}

impl Restart {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Never => "never",
            Restart::OnOom => "on-oom",
            Restart::Always => "always",
        }
    }

    /// Whether a service that ended during the run (`kill`: killed at
    /// the limit; else it ended some other way) is started again.
    pub fn after(self, kill: bool) -> bool {
        match self {
            Restart::Never => false,
            Restart::OnOom => kill,
            Restart::Always => true,
        }
    }
}

/// The process a kill at the limit ended, when it was not the whole tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Victim {
    /// Its pid.
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`).
    pub name: String,
    /// Its memory at the kill (PSS in a tree), bytes.
    pub bytes: u64,
}

/// Which figure crossed the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The sampled resident set (`VmRSS`, summed over the process tree).
    Rss,
    /// The kernel's high-water mark (`VmHWM`): a peak between two samples.
    Vmhwm,
    /// The memory cgroup's OOM killer (`--enforce cgroup`).
    Cgroup,
    /// The PSS sum of a tree of processes (an app's master and workers):
    /// shared pages counted once, as a container's accounting does.
    Pss,
}

impl Trigger {
    /// How reports name the figure.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Rss => "RSS",
            Trigger::Vmhwm => "VmHWM",
            Trigger::Cgroup => "cgroup usage",
            Trigger::Pss => "PSS sum of the tree",
        }
    }
}

/// Whether `mem` crosses `limit` (bytes), and by which figure. RSS is
/// preferred when both do, as it is what was resident at the sample.
pub fn check(limit: u64, mem: &ProcMemory) -> Option<Trigger> {
    if mem.rss > limit {
        Some(Trigger::Rss)
    } else if mem.hwm > limit {
        Some(Trigger::Vmhwm)
    } else {
        None
    }
}

/// The limit was crossed: what the server held and was doing at that moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OomEvent {
    /// Seconds since the run started.
    pub at_s: f64,
    /// Which server start this was (0 for the first, 1 after one restart...).
    pub generation: u32,
    /// Which figure crossed the limit.
    pub trigger: Trigger,
    /// Whether the server was killed (false with `--enforce off`).
    pub killed: bool,
    /// Resident set at the sample, in bytes.
    pub rss_bytes: u64,
    /// The kernel's high-water mark at the sample, in bytes.
    pub vmhwm_bytes: u64,
    /// The cgroup's usage (v1 `memory.max_usage_in_bytes`, v2
    /// `memory.peak`) in bytes, with `--enforce cgroup`.
    pub cgroup_peak_bytes: Option<u64>,
    /// Jobs being processed at the last `/debug/memory` reading before the
    /// event, with their stages.
    pub jobs_in_flight: Vec<JobInFlight>,
    /// Jobs waiting in the queue at that reading.
    pub queue_depth: Option<u64>,
    /// Age of that `/debug/memory` reading at the event, in milliseconds.
    pub debug_age_ms: Option<u64>,
    /// The one process killed, when the kill (`--oom-kill kernel`, or the
    /// kernel's own in a cgroup) ended a process of the tree and not its
    /// root; `None`: the whole service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<Victim>,
}

impl OomEvent {
    /// The memory figure that crossed the limit, in bytes.
    pub fn bytes(&self) -> u64 {
        match self.trigger {
            Trigger::Rss | Trigger::Pss => self.rss_bytes,
            Trigger::Vmhwm => self.vmhwm_bytes.max(self.rss_bytes),
            Trigger::Cgroup => self
                .cgroup_peak_bytes
                .unwrap_or(self.vmhwm_bytes.max(self.rss_bytes)),
        }
    }

    /// One line: "killed at 14.2 s: 531.0 MiB (VmHWM), job 2 in stage pdf,
    /// 2 jobs in flight".
    /// With `modelled_runtime` (bytes the target holds as a declared
    /// stand-in for a modelled runtime, included in the figure) the source
    /// says how much of the figure that is: `(RSS, of which 150.0 MiB
    /// modelled runtime)`.
    pub fn summary(&self, modelled_runtime: Option<u64>) -> String {
        let verb = if self.killed {
            "killed"
        } else {
            "crossed the limit"
        };
        let mut s = format!(
            "{verb} at {:.1} s: {} MiB ({}{})",
            self.at_s,
            memstats::format_mb(self.bytes()),
            self.trigger.label(),
            of_which_runtime(modelled_runtime)
        );
        // The job that was furthest along its memory-hungry path is the
        // likeliest culprit: name the one with the most live bytes, else the
        // one running longest.
        let culprit = self
            .jobs_in_flight
            .iter()
            .max_by_key(|j| (j.live_bytes.unwrap_or(i64::MIN), j.elapsed_ms));
        if let Some(j) = culprit {
            s.push_str(&format!(", job {} in stage {}", j.job_id, j.stage));
        }
        let n = self.jobs_in_flight.len();
        s.push_str(&format!(
            ", {n} job{} in flight",
            if n == 1 { "" } else { "s" }
        ));
        if let Some(q) = self.queue_depth.filter(|q| *q > 0) {
            s.push_str(&format!(", {q} queued"));
        }
        s
    }
}

/// `, of which 150.0 MiB modelled runtime` for a figure that includes a
/// modelled runtime; empty when there is none.
pub fn of_which_runtime(modelled_runtime: Option<u64>) -> String {
    match modelled_runtime {
        Some(b) if b > 0 => format!(", of which {} MiB modelled runtime", memstats::format_mb(b)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(rss: u64, hwm: u64) -> ProcMemory {
        ProcMemory {
            rss,
            hwm,
            ..Default::default()
        }
    }

    #[test]
    fn a_peak_between_samples_is_caught_by_the_high_water_mark() {
        assert_eq!(check(100, &mem(50, 60)), None);
        assert_eq!(
            check(100, &mem(100, 100)),
            None,
            "at the limit is not over it"
        );
        assert_eq!(check(100, &mem(50, 150)), Some(Trigger::Vmhwm));
        assert_eq!(check(100, &mem(120, 150)), Some(Trigger::Rss));
    }

    #[test]
    fn the_event_summary_names_time_memory_job_stage_and_jobs_in_flight() {
        let job = |id, stage: &str, live| JobInFlight {
            job_id: id,
            stage: stage.into(),
            progress: 60,
            elapsed_ms: 1000,
            live_bytes: Some(live),
        };
        let e = OomEvent {
            at_s: 14.23,
            generation: 0,
            trigger: Trigger::Rss,
            killed: true,
            rss_bytes: 531 << 20,
            vmhwm_bytes: 531 << 20,
            cgroup_peak_bytes: None,
            jobs_in_flight: vec![job(1, "photos", 10), job(2, "pdf", 400 << 20)],
            queue_depth: Some(0),
            debug_age_ms: Some(40),
            victim: None,
        };
        assert_eq!(
            e.summary(None),
            "killed at 14.2 s: 531.0 MiB (RSS), job 2 in stage pdf, 2 jobs in flight"
        );
        assert_eq!(
            e.summary(Some(150 << 20)),
            "killed at 14.2 s: 531.0 MiB (RSS, of which 150.0 MiB modelled runtime), job 2 in stage pdf, 2 jobs in flight"
        );
    }
}
