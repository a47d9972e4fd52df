//! A process tree's PSS, read within a CPU budget.
//!
//! `smaps_rollup` walks the process's page tables under its memory map
//! lock: measured on this machine, 26 ms per read of a 2 GB process
//! (`/proc/<pid>/status`: 0.02 ms). Read every 10 ms it takes a core of
//! its own and holds off the process's `mmap` and `munmap` while it walks:
//! a Python app's 20-photo job ran about twice as long under the sampler
//! as on its own (docs/measurements/cpu-model.md). So [`PssReader`] reads
//! each process's PSS at most once per [`BUDGET`] share of a core (a read
//! that took 26 ms waits 260 ms for the next) and, in between, carries the
//! last PSS forward by the change in RSS since: what a process allocates or
//! frees after its fork is its own, so PSS moves with RSS page for page.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use super::{ProcMemory, ProcessMemory, TreeMemory, process_tree, read_proc_memory, sum_tree};

/// The share of one core that PSS reads may take, per process.
pub const BUDGET: f64 = 0.1;

#[derive(Debug, Clone, Copy)]
struct LastRead {
    pss: u64,
    rss: u64,
    at: Instant,
    /// How long the read of `smaps_rollup` took.
    cost: Duration,
}

/// Reads a process tree like [`super::read_tree`], PSS within [`BUDGET`].
#[derive(Debug, Default)]
pub struct PssReader {
    last: HashMap<u32, LastRead>,
    reads: u64,
    estimates: u64,
}

impl PssReader {
    pub fn new() -> PssReader {
        PssReader::default()
    }

    /// The tree of `pid`; every process's PSS read or carried forward
    /// (a one-process tree has none, as [`super::read_tree`] without PSS).
    pub fn read_tree(&mut self, pid: u32) -> io::Result<TreeMemory> {
        self.read_tree_at(pid, Instant::now())
    }

    fn read_tree_at(&mut self, pid: u32, now: Instant) -> io::Result<TreeMemory> {
        let pids = process_tree(pid);
        let many = pids.len() > 1;
        let mut processes = Vec::with_capacity(pids.len());
        for (i, &p) in pids.iter().enumerate() {
            let memory = if many {
                self.read_one(p, now)
            } else {
                read_proc_memory(p, false)
            };
            match memory {
                Ok(memory) => processes.push(ProcessMemory {
                    pid: p,
                    name: super::comm(p),
                    memory,
                }),
                // The root's absence is the caller's to see; a child may
                // exit between the walk and the read: it holds nothing.
                Err(e) if i == 0 => return Err(e),
                Err(_) => {}
            }
        }
        self.last.retain(|p, _| pids.contains(p));
        Ok(sum_tree(processes))
    }

    /// PSS reads done and PSS figures carried forward, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.reads, self.estimates)
    }

    fn read_one(&mut self, pid: u32, now: Instant) -> io::Result<ProcMemory> {
        let due = self
            .last
            .get(&pid)
            .is_none_or(|l| now.duration_since(l.at) >= l.cost.div_f64(BUDGET));
        if due {
            let started = Instant::now();
            let m = read_proc_memory(pid, true)?;
            if let Some(pss) = m.pss {
                self.reads += 1;
                self.last.insert(
                    pid,
                    LastRead {
                        pss,
                        rss: m.rss,
                        at: now,
                        cost: started.elapsed(),
                    },
                );
            }
            return Ok(m);
        }
        let mut m = read_proc_memory(pid, false)?;
        if let Some(l) = self.last.get(&pid) {
            self.estimates += 1;
            m.pss = Some(carried(l.pss, l.rss, m.rss));
        }
        Ok(m)
    }
}

/// The last PSS moved by the change in RSS since it was read, never above
/// the RSS now (PSS counts a shared page in part, RSS in whole).
fn carried(pss: u64, rss_then: u64, rss_now: u64) -> u64 {
    let moved = pss as i128 + rss_now as i128 - rss_then as i128;
    (moved.max(0) as u64).min(rss_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carried_pss_moves_with_rss_and_stays_under_it() {
        // 100 MB of RSS of which 60 counted in PSS; 50 MB allocated since.
        assert_eq!(carried(60, 100, 150), 110);
        // 30 MB freed.
        assert_eq!(carried(60, 100, 70), 30);
        // Never below 0, never above RSS.
        assert_eq!(carried(10, 100, 20), 0);
        assert_eq!(carried(100, 100, 120), 120);
    }

    #[test]
    fn a_tree_of_two_reads_pss_once_then_carries_it_within_the_budget() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep runs");
        // This test process and its child: a tree of two.
        let mut reader = PssReader::new();
        let me = std::process::id();
        let now = Instant::now();
        let first = reader.read_tree_at(me, now).unwrap();
        let n = first.processes.len() as u64;
        assert!(n >= 2, "{first:?}");
        assert_eq!(reader.counts(), (n, 0));
        // At the same instant: no read is due (each waits ten times what
        // it cost), every PSS carried forward.
        let second = reader.read_tree_at(me, now).unwrap();
        assert_eq!(reader.counts(), (n, n));
        assert!(second.processes.iter().all(|p| p.memory.pss.is_some()));
        assert!(second.total.pss.is_some());
        // Ten seconds on, every read is due again (a read of a small
        // process takes well under a second).
        reader
            .read_tree_at(me, now + Duration::from_secs(10))
            .unwrap();
        assert_eq!(reader.counts(), (2 * n, n));
        child.kill().ok();
        child.wait().ok();
    }
}
