//! The processes of the measured tree as they come and go: a worker killed
//! by the kernel (or by the watchdog standing in for it), a worker its
//! master started in its place, a helper process that ended.
//!
//! The sampler reads the tree every 10 ms; [`TreeWatch`] compares each
//! reading with the one before and records a [`ProcessEvent`] for every
//! process that appeared or ended. The tree's root is not followed here:
//! its end is the service's exit, recorded by the supervisor with its
//! status. A process the kernel ended is named as such only when the
//! cgroup's own OOM counter moved just before it vanished: observed, not
//! assumed.

use std::collections::BTreeMap;

use memstats::TreeMemory;
use serde::{Deserialize, Serialize};

/// Events kept per run at most: a target that forks a helper per request
/// would otherwise grow the report without bound.
pub const MAX_EVENTS: usize = 1000;

/// How long after the cgroup's OOM counter moved a vanished process is
/// taken for the kernel's victim, milliseconds.
const KERNEL_KILL_WINDOW_MS: u64 = 1000;

/// A process of a service's tree (its root excepted) that appeared or
/// ended: a worker killed by the kernel or the watchdog, a worker its
/// master started in its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcessEvent {
    /// Seconds since the run started.
    pub at_s: f64,
    /// The service's start number.
    pub generation: u32,
    /// Its pid.
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`).
    pub name: String,
    /// Whether it appeared or ended.
    pub change: ProcessChange,
    /// Its memory at its last sample (PSS in a tree of several processes,
    /// else RSS), bytes; for an ended process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bytes: Option<u64>,
    /// What ended it, when the harness knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed_by: Option<Killer>,
}

/// A process appeared or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessChange {
    /// It appeared (a worker started by its master, a helper).
    Started,
    /// It ended (killed, or exited).
    Ended,
}

/// What killed a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Killer {
    /// The harness's watchdog (`--oom-kill kernel`: the process the kernel
    /// would have chosen).
    Watchdog,
    /// The kernel's OOM killer in the run's memory cgroup (its counter
    /// moved just before the process vanished).
    Kernel,
}

impl Killer {
    /// How the verdict says it: "the watchdog", "the kernel".
    pub fn label(self) -> &'static str {
        match self {
            Killer::Watchdog => "the watchdog",
            Killer::Kernel => "the kernel",
        }
    }
}

/// The tree's members between two readings.
#[derive(Debug, Default)]
pub struct TreeWatch {
    /// pid -> (name, memory at the latest reading); `None` before the
    /// first reading.
    members: Option<BTreeMap<u32, (String, u64)>>,
    /// When the cgroup's OOM counter last moved, ms; cleared once a victim
    /// is found.
    kernel_kill_at_ms: Option<u64>,
    /// The watchdog's victims not seen gone yet.
    watchdog_victims: Vec<u32>,
}

impl TreeWatch {
    /// The cgroup's OOM counter moved at `t_ms`.
    pub fn kernel_killed(&mut self, t_ms: u64) {
        self.kernel_kill_at_ms = Some(t_ms);
    }

    /// The watchdog sent SIGKILL to `pid`.
    pub fn watchdog_killed(&mut self, pid: u32) {
        self.watchdog_victims.push(pid);
    }

    /// Whether a process the watchdog killed is still in the tree (the
    /// limit is not checked again until it is gone: its memory is being
    /// freed).
    pub fn victim_pending(&self) -> bool {
        !self.watchdog_victims.is_empty()
    }

    /// The root is gone (killed or exited): every member seen at the last
    /// reading ended with it, the kernel's victim named when its OOM
    /// counter had just moved. Once; the members are forgotten.
    pub fn root_gone(&mut self, t_ms: u64, generation: u32) -> Vec<ProcessEvent> {
        let empty = TreeMemory {
            total: memstats::ProcMemory::default(),
            rss_sum: 0,
            processes: Vec::new(),
        };
        let events = self.update(&empty, 0, t_ms, generation);
        self.members = None;
        events
    }

    /// Compares `tree` (rooted at `root`) with the previous reading: the
    /// events of the processes that appeared or ended since, the root
    /// excepted. The first reading only sets the members.
    pub fn update(
        &mut self,
        tree: &TreeMemory,
        root: u32,
        t_ms: u64,
        generation: u32,
    ) -> Vec<ProcessEvent> {
        // A zombie (ended, not yet reaped by its parent) has no memory
        // lines: it is gone.
        // A dying process's name reads empty: the one read before stays.
        let known = |pid: u32, name: &str| -> String {
            match self.members.as_ref().and_then(|m| m.get(&pid)) {
                Some((old, _)) if name.is_empty() => old.clone(),
                _ => name.to_string(),
            }
        };
        let now: BTreeMap<u32, (String, u64)> = tree
            .processes
            .iter()
            .filter(|p| p.pid != root && (p.memory.rss > 0 || p.memory.hwm > 0))
            .map(|p| {
                let m = p.memory;
                (p.pid, (known(p.pid, &p.name), m.pss.unwrap_or(m.rss)))
            })
            .collect();
        let Some(before) = self.members.replace(now.clone()) else {
            return Vec::new();
        };
        let at_s = t_ms as f64 / 1000.0;
        let mut events = Vec::new();
        for (&pid, (name, bytes)) in &before {
            if now.contains_key(&pid) {
                continue;
            }
            let killed_by = if let Some(i) = self.watchdog_victims.iter().position(|&v| v == pid) {
                self.watchdog_victims.remove(i);
                Some(Killer::Watchdog)
            } else if self
                .kernel_kill_at_ms
                .is_some_and(|k| t_ms.saturating_sub(k) <= KERNEL_KILL_WINDOW_MS)
            {
                self.kernel_kill_at_ms = None;
                Some(Killer::Kernel)
            } else {
                None
            };
            events.push(ProcessEvent {
                at_s,
                generation,
                pid,
                name: name.clone(),
                change: ProcessChange::Ended,
                last_bytes: Some(*bytes),
                killed_by,
            });
        }
        for (&pid, (name, _)) in &now {
            if !before.contains_key(&pid) {
                events.push(ProcessEvent {
                    at_s,
                    generation,
                    pid,
                    name: name.clone(),
                    change: ProcessChange::Started,
                    last_bytes: None,
                    killed_by: None,
                });
            }
        }
        // A victim that vanished without being seen again (a reading that
        // skipped it) is not waited for.
        self.watchdog_victims.retain(|v| before.contains_key(v));
        events
    }
}

/// The process of `tree` the kernel's OOM killer would choose: the highest
/// `/proc/<pid>/oom_score` (the kernel's own badness figure: its share of
/// memory, adjusted by `oom_score_adj`), the largest by memory when the
/// scores cannot be read or tie. `None` for an empty tree.
pub fn kernel_victim(tree: &TreeMemory) -> Option<(u32, String, u64)> {
    let score = |pid: u32| -> i64 {
        std::fs::read_to_string(format!("/proc/{pid}/oom_score"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(-1)
    };
    tree.processes
        .iter()
        .map(|p| {
            let bytes = p.memory.pss.unwrap_or(p.memory.rss);
            (score(p.pid), bytes, p)
        })
        .max_by_key(|(s, b, _)| (*s, *b))
        .map(|(_, b, p)| (p.pid, p.name.clone(), b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use memstats::{ProcMemory, ProcessMemory};

    fn tree(procs: &[(u32, &str, u64)]) -> TreeMemory {
        TreeMemory {
            total: ProcMemory::default(),
            rss_sum: 0,
            processes: procs
                .iter()
                .map(|&(pid, name, rss)| ProcessMemory {
                    pid,
                    name: name.into(),
                    memory: ProcMemory {
                        rss,
                        hwm: rss,
                        ..Default::default()
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn a_worker_replaced_by_its_master_is_an_end_and_a_start() {
        let mut w = TreeWatch::default();
        assert!(
            w.update(&tree(&[(1, "master", 10), (2, "worker", 500)]), 1, 0, 0)
                .is_empty(),
            "the first reading sets the members"
        );
        w.kernel_killed(4290);
        let ev = w.update(&tree(&[(1, "master", 10), (3, "worker", 40)]), 1, 4300, 0);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].pid, 2);
        assert_eq!(ev[0].change, ProcessChange::Ended);
        assert_eq!(ev[0].last_bytes, Some(500));
        assert_eq!(ev[0].killed_by, Some(Killer::Kernel));
        assert_eq!((ev[1].pid, ev[1].change), (3, ProcessChange::Started));
        assert_eq!(ev[1].killed_by, None);
    }

    #[test]
    fn a_process_that_ends_long_after_a_kernel_kill_is_not_its_victim() {
        let mut w = TreeWatch::default();
        w.update(&tree(&[(1, "m", 1), (2, "w", 1), (4, "h", 1)]), 1, 0, 0);
        w.kernel_killed(100);
        let ev = w.update(&tree(&[(1, "m", 1), (4, "h", 1)]), 1, 150, 0);
        assert_eq!(ev[0].killed_by, Some(Killer::Kernel));
        // One kill, one victim: the next end is not the kernel's.
        let ev = w.update(&tree(&[(1, "m", 1)]), 1, 200, 0);
        assert_eq!(ev[0].killed_by, None);
    }

    #[test]
    fn the_watchdogs_victim_is_named_and_waited_for() {
        let mut w = TreeWatch::default();
        w.update(&tree(&[(1, "m", 1), (2, "w", 9)]), 1, 0, 0);
        w.watchdog_killed(2);
        assert!(w.victim_pending());
        // A zombie has no memory: gone.
        let ev = w.update(&tree(&[(1, "m", 1), (2, "w", 0)]), 1, 20, 0);
        assert_eq!(ev[0].killed_by, Some(Killer::Watchdog));
        assert!(!w.victim_pending());
    }

    #[test]
    fn a_dying_process_keeps_its_name_and_the_roots_end_ends_the_members() {
        let mut w = TreeWatch::default();
        w.update(&tree(&[(1, "gunicorn", 1), (2, "gunicorn", 500)]), 1, 0, 0);
        w.update(&tree(&[(1, "gunicorn", 1), (2, "", 500)]), 1, 10, 0);
        w.kernel_killed(15);
        let ev = w.root_gone(20, 0);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].pid, ev[0].name.as_str()), (2, "gunicorn"));
        assert_eq!(ev[0].killed_by, Some(Killer::Kernel));
        assert!(w.root_gone(30, 0).is_empty(), "once");
    }

    #[test]
    fn the_largest_process_is_the_victim_when_scores_tie() {
        // Pids that do not exist: no score, so memory decides.
        let t = tree(&[(u32::MAX - 1, "master", 10), (u32::MAX - 2, "worker", 500)]);
        assert_eq!(kernel_victim(&t).map(|v| v.0), Some(u32::MAX - 2));
    }
}
