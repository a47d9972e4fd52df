//! The sampler thread: the tree read every [`PROC_INTERVAL`], each reading
//! a [`Sample`], the tree's comings and goings recorded, and the limit
//! enforced as `--enforce` and `--oom-kill` say.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use memstats::ProcMemory;

use super::tree::{self, ProcessEvent, TreeWatch};
use super::{PROC_INTERVAL, Sample, Shared, Watched, record_event};
use crate::child::kill_tree;
use crate::watchdog::{self, Enforce, OomKill, Trigger, Victim};

pub(super) fn sample_until_stopped(
    shared: &Shared,
    target: &Watched,
    stop: &AtomicBool,
    killed: &AtomicBool,
) {
    let mut next = Instant::now();
    let mut last_debug_seq = None;
    let mut crossed = false;
    let mut members = TreeWatch::default();
    let mut oom_kills_before = target
        .cgroup
        .as_ref()
        .and_then(|c| c.read().ok())
        .map_or(0, |r| r.oom_kills);
    // A tree's PSS within a CPU budget: `smaps_rollup` of a large process
    // costs tens of milliseconds and slows the process it reads.
    let mut pss = memstats::PssReader::new();
    while !stop.load(Ordering::SeqCst) {
        let mem = match pss.read_tree(target.pid) {
            // A reaped process has no status; a zombie has no memory lines.
            Ok(t) if t.total.rss > 0 || t.total.hwm > 0 => Some(t),
            _ => None,
        };
        let cg = target.cgroup.as_ref().and_then(|c| c.read().ok());
        let t_ms = shared.now_ms();
        if let Some(reading) = cg.filter(|r| r.oom_kills > oom_kills_before) {
            oom_kills_before = reading.oom_kills;
            let m = mem.as_ref().map(|t| t.total).unwrap_or_default();
            kernel_kill(shared, target, &mut members, t_ms, &m, reading.peak_bytes);
        }
        let Some(tree) = mem else {
            // The server is gone; the harness notices through its exit.
            // Its processes went with it.
            record_changes(shared, target, members.root_gone(t_ms, target.generation));
            if cg.is_none() {
                break;
            }
            std::thread::sleep(PROC_INTERVAL);
            if stop.load(Ordering::SeqCst) {
                break;
            }
            continue;
        };
        record_changes(
            shared,
            target,
            members.update(&tree, target.pid, t_ms, target.generation),
        );
        // One quantity for a tree: its PSS sum, as a container's accounting
        // counts shared pages once. The sum of each process's own VmHWM is
        // only an upper bound (they need not peak together): kept apart,
        // never checked against the limit.
        let mut m = tree.total;
        if tree.processes.len() > 1 {
            shared.tree_hwm_sum(m.hwm);
            m.hwm = m.rss;
        }
        shared.push(sample_of(
            shared,
            target,
            &tree,
            m,
            cg,
            t_ms,
            &mut last_debug_seq,
        ));
        let check = !crossed && !members.victim_pending();
        let tree_of_many = tree.processes.len() > 1;
        if check && let Some(trigger) = watchdog::check(shared.limit, &m) {
            let trigger = match trigger {
                Trigger::Rss | Trigger::Vmhwm if tree_of_many => Trigger::Pss,
                t => t,
            };
            match shared.enforce {
                Enforce::Watchdog => {
                    let victim = match shared.oom_kill {
                        OomKill::Kernel => {
                            tree::kernel_victim(&tree).filter(|(pid, _, _)| *pid != target.pid)
                        }
                        OomKill::Tree => None,
                    };
                    match victim {
                        Some((pid, name, bytes)) => {
                            kill_one(pid);
                            members.watchdog_killed(pid);
                            record_event(shared, target, t_ms, trigger, true, &m, None);
                            set_victim(shared, Victim { pid, name, bytes });
                        }
                        None => {
                            // Flag and event first: the supervisor may reap
                            // the server the moment it dies, and must find
                            // the kill its own, not a crash.
                            killed.store(true, Ordering::SeqCst);
                            record_event(shared, target, t_ms, trigger, true, &m, None);
                            kill_tree(target.pid);
                            break;
                        }
                    }
                }
                Enforce::Off => {
                    crossed = true;
                    record_event(shared, target, t_ms, trigger, false, &m, None);
                }
                // The kernel enforces; its kill is recorded from the
                // cgroup's counter above.
                Enforce::Cgroup => {}
            }
        }
        next += PROC_INTERVAL;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Behind (a slow /proc read on a loaded machine): skip, do not
            // burst.
            next = now;
        }
    }
    // The kernel may kill between the last sample and the stop: look once
    // more, so a cgroup OOM kill is never missed.
    let t_ms = shared.now_ms();
    if let Some(reading) = target.cgroup.as_ref().and_then(|c| c.read().ok())
        && reading.oom_kills > oom_kills_before
    {
        let m = ProcMemory::default();
        kernel_kill(shared, target, &mut members, t_ms, &m, reading.peak_bytes);
    }
    // Stopped because the root ended (not before the harness stops it):
    // its processes ended with it.
    if memstats::read_tree(target.pid, false).is_err() {
        record_changes(shared, target, members.root_gone(t_ms, target.generation));
    }
}

/// The cgroup's OOM counter moved at `t_ms`: a limit event, and the next
/// process seen gone is the kernel's victim.
fn kernel_kill(
    shared: &Shared,
    target: &Watched,
    members: &mut TreeWatch,
    t_ms: u64,
    m: &ProcMemory,
    cgroup_peak: Option<u64>,
) {
    members.kernel_killed(t_ms);
    record_event(shared, target, t_ms, Trigger::Cgroup, true, m, cgroup_peak);
}

/// Processes that came and went: recorded, the kernel's victim named.
fn record_changes(shared: &Shared, target: &Watched, changes: Vec<ProcessEvent>) {
    after_kernel_kill(shared, target, &changes);
    shared.push_process_events(changes);
}

/// One sample of `tree`, with the latest `/debug/memory` figures when they
/// are new since the previous sample.
fn sample_of(
    shared: &Shared,
    target: &Watched,
    tree: &memstats::TreeMemory,
    m: ProcMemory,
    cg: Option<crate::cgroup::CgroupReading>,
    t_ms: u64,
    last_debug_seq: &mut Option<u64>,
) -> Sample {
    let (jemalloc, jobs, queue, stages) = {
        let st = shared.state();
        match &st.debug {
            Some(d) if Some(d.seq) != *last_debug_seq => {
                *last_debug_seq = Some(d.seq);
                let stages = d
                    .doc
                    .jobs_in_flight
                    .iter()
                    .map(|j| format!("{}:{}", j.job_id, j.stage))
                    .collect::<Vec<_>>()
                    .join(";");
                (
                    d.doc.jemalloc,
                    Some(d.doc.jobs_in_flight.len() as u32),
                    Some(d.doc.queue_depth),
                    Some(stages),
                )
            }
            _ => (None, None, None, None),
        }
    };
    let per_process = (tree.processes.len() > 1).then(|| {
        tree.processes
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p.pid,
                    p.name.replace([' ', ';'], "_"),
                    p.memory.pss.unwrap_or(p.memory.rss)
                )
            })
            .collect::<Vec<_>>()
            .join(";")
    });
    Sample {
        t_ms,
        generation: target.generation,
        rss: m.rss,
        rss_anon: m.rss_anon,
        rss_file: m.rss_file,
        hwm: m.hwm,
        processes: tree.processes.len() as u32,
        rss_sum: tree.rss_sum,
        per_process,
        cgroup_usage: cg.map(|r| r.usage_bytes),
        jemalloc,
        jobs_in_flight: jobs,
        queue_depth: queue,
        stages,
    }
}

/// SIGKILL to one process of the tree.
fn kill_one(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Names the one process a kill ended in the latest limit event.
fn set_victim(shared: &Shared, victim: Victim) {
    if let Some(e) = shared.state().oom_events.last_mut() {
        e.victim = Some(victim);
    }
}

/// The kernel's victim, seen gone after the cgroup's OOM counter moved:
/// named in its limit event; with `--oom-kill tree` on a cgroup that
/// cannot kill its group (v1), the rest of the tree follows it, as the
/// platform's restart of the instance would.
fn after_kernel_kill(shared: &Shared, target: &Watched, changes: &[ProcessEvent]) {
    let Some(e) = changes
        .iter()
        .find(|e| e.killed_by == Some(tree::Killer::Kernel))
    else {
        return;
    };
    set_victim(
        shared,
        Victim {
            pid: e.pid,
            name: e.name.clone(),
            bytes: e.last_bytes.unwrap_or(0),
        },
    );
    let group_kill = target.cgroup.as_ref().is_some_and(|c| c.kills_group());
    if shared.oom_kill == OomKill::Tree && !group_kill {
        kill_tree(target.pid);
    }
}
