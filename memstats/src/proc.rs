//! Readings of a process's memory from `/proc`.
//!
//! `VmHWM` is the kernel's own high-water mark of resident memory: reading it
//! with every sample means a peak between two samples is never missed.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

mod pss;
pub use pss::PssReader;

/// Memory of one process (or a process tree, summed), in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcMemory {
    /// Resident set size (`VmRSS`).
    pub rss: u64,
    /// Anonymous resident memory (`RssAnon`): heap, stacks.
    pub rss_anon: u64,
    /// File-backed resident memory (`RssFile`): code, mapped files.
    pub rss_file: u64,
    /// Resident shared memory (`RssShmem`).
    pub rss_shmem: u64,
    /// Kernel high-water mark of `VmRSS` since the process started (`VmHWM`).
    pub hwm: u64,
    /// Virtual size (`VmSize`).
    pub vm_size: u64,
    /// Proportional set size from `smaps_rollup` (shared pages divided among
    /// the processes that share them); `None` when it was not read.
    pub pss: Option<u64>,
}

/// Read `/proc/<pid>/status` (and `smaps_rollup` when `with_pss`).
pub fn read_proc_memory(pid: u32, with_pss: bool) -> io::Result<ProcMemory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut m = parse_status(&status);
    if with_pss && let Ok(rollup) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        m.pss = kb_field(&rollup, "Pss:");
    }
    Ok(m)
}

/// Parse the memory lines of a `/proc/<pid>/status` document.
pub fn parse_status(status: &str) -> ProcMemory {
    ProcMemory {
        rss: kb_field(status, "VmRSS:").unwrap_or(0),
        rss_anon: kb_field(status, "RssAnon:").unwrap_or(0),
        rss_file: kb_field(status, "RssFile:").unwrap_or(0),
        rss_shmem: kb_field(status, "RssShmem:").unwrap_or(0),
        hwm: kb_field(status, "VmHWM:").unwrap_or(0),
        vm_size: kb_field(status, "VmSize:").unwrap_or(0),
        pss: None,
    }
}

fn kb_field(doc: &str, key: &str) -> Option<u64> {
    doc.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// The pids of `pid` and all its descendants, `pid` first.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let path = t.path().join("children");
                if let Ok(children) = fs::read_to_string(path) {
                    for c in children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok())
                    {
                        if !out.contains(&c) {
                            out.push(c);
                        }
                    }
                }
            }
        }
        i += 1;
        if out.len() > 4096 {
            break; // a fork bomb is not ours to measure
        }
    }
    out
}

/// One process of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// Its pid.
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`, e.g. `gunicorn`).
    pub name: String,
    /// Its reading (PSS included when the tree has more than one process).
    pub memory: ProcMemory,
}

/// Memory of a process tree: each process, and the sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeMemory {
    /// The sums. `rss` is the sum of the processes' PSS when the tree has
    /// more than one process (shared pages counted once, as a container's
    /// memory limit counts them), else the process's own RSS; `pss` is the
    /// PSS sum; `hwm` the sum of the processes' high-water marks (an upper
    /// bound of the tree's peak: they need not peak together).
    pub total: ProcMemory,
    /// The plain sum of the processes' `VmRSS` (shared pages counted once
    /// per process that maps them).
    pub rss_sum: u64,
    /// Each process, the root first.
    pub processes: Vec<ProcessMemory>,
}

/// Memory of `pid` and its descendants, per process and summed. PSS is read
/// only when the tree has more than one process (it costs a walk of the
/// page tables) or `with_pss` asks for it.
pub fn read_tree(pid: u32, with_pss: bool) -> io::Result<TreeMemory> {
    let pids = process_tree(pid);
    let pss = with_pss || pids.len() > 1;
    let root = read_proc_memory(pid, pss)?;
    let mut processes = vec![ProcessMemory {
        pid,
        name: comm(pid),
        memory: root,
    }];
    for &child in &pids[1..] {
        // A child may exit between the walk and the read: it holds nothing.
        if let Ok(memory) = read_proc_memory(child, true) {
            processes.push(ProcessMemory {
                pid: child,
                name: comm(child),
                memory,
            });
        }
    }
    Ok(sum_tree(processes))
}

/// A process's name (`/proc/<pid>/comm`), empty when it is gone.
fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A tree's readings summed (the root first): one process as read; more,
/// their PSS (RSS where none was read) as the total's RSS.
fn sum_tree(processes: Vec<ProcessMemory>) -> TreeMemory {
    let mut total = processes.first().map(|p| p.memory).unwrap_or_default();
    if processes.len() > 1 {
        total = ProcMemory::default();
        for p in &processes {
            let m = p.memory;
            total.rss += m.pss.unwrap_or(m.rss);
            total.rss_anon += m.rss_anon;
            total.rss_file += m.rss_file;
            total.rss_shmem += m.rss_shmem;
            total.hwm += m.hwm;
            total.vm_size += m.vm_size;
            total.pss = Some(total.pss.unwrap_or(0) + m.pss.unwrap_or(m.rss));
        }
    }
    TreeMemory {
        total,
        rss_sum: processes.iter().map(|p| p.memory.rss).sum(),
        processes,
    }
}

/// [`read_tree`]'s sums and the number of processes.
pub fn read_tree_memory(pid: u32, with_pss: bool) -> io::Result<(ProcMemory, usize)> {
    let t = read_tree(pid, with_pss)?;
    Ok((t.total, t.processes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_bytes() {
        let doc = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nRssAnon:\t 512 kB\nRssFile:\t 500 kB\nRssShmem:\t 12 kB\nVmSize:\t 9000 kB\n";
        let m = parse_status(doc);
        assert_eq!(m.rss, 1024 * 1024);
        assert_eq!(m.hwm, 2048 * 1024);
        assert_eq!(m.rss_anon, 512 * 1024);
        assert_eq!(m.rss_file, 500 * 1024);
        assert_eq!(m.rss_shmem, 12 * 1024);
        assert_eq!(m.vm_size, 9000 * 1024);
    }

    #[test]
    fn own_process_has_resident_memory_and_a_high_water_mark() {
        let m = read_proc_memory(std::process::id(), true).unwrap();
        assert!(m.rss > 0);
        assert!(m.hwm >= m.rss);
        assert!(m.pss.is_some());
    }

    #[test]
    fn a_tree_with_a_child_sums_pss_and_rss_per_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let t = read_tree(std::process::id(), false).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(t.processes.len() >= 2, "{t:?}");
        assert!(
            t.processes
                .iter()
                .any(|p| p.pid == child.id() && p.name == "sleep")
        );
        let pss: u64 = t.processes.iter().map(|p| p.memory.pss.unwrap()).sum();
        assert_eq!(t.total.pss, Some(pss));
        assert_eq!(t.total.rss, pss);
        assert!(t.rss_sum >= t.total.rss);
    }

    #[test]
    fn tree_of_a_process_without_children_is_itself() {
        let pids = process_tree(std::process::id());
        assert_eq!(pids[0], std::process::id());
    }
}
