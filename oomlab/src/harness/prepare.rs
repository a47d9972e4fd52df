//! What is set up before the target starts: the memory cgroup of `--enforce
//! cgroup` and the CPU cgroup of `--cpus`, or the reason there is none.

use std::fs::File;
use std::sync::Arc;

use anyhow::Context;

use super::{Output, RunConfig};
use crate::cgroup::{CpuCgroup, CpuLimitReport, MemoryCgroup, MemoryLimit, SystemdScope};
use crate::error::ConfigError;
use crate::watchdog::{Enforce, OomKill};

/// How the run's limits are enforced.
pub struct Limits {
    /// The memory limit, bytes.
    pub limit: u64,
    /// How it is enforced (the watchdog when a cgroup fell back).
    pub enforce: Enforce,
    /// The memory cgroup of `--enforce cgroup`.
    pub cgroup: Option<Arc<MemoryCgroup>>,
    /// With `--enforce cgroup` on an undelegated cgroup v2: the systemd
    /// user scope each start of the target runs in instead.
    pub scope: Option<SystemdScope>,
    /// The CPU cgroup of `--cpus`, when one could be made.
    pub cpu: Option<CpuCgroup>,
    /// What run.json says of the CPU when `cpu` is `None`.
    pub cpu_unlimited: CpuLimitReport,
    /// Why enforcement differs from what was asked.
    pub notes: Vec<String>,
}

impl Limits {
    /// Makes the cgroups the run asks for. A memory cgroup that cannot be
    /// made is a [`ConfigError`] unless `cgroup_fallback` allows the
    /// watchdog instead; a CPU cgroup that cannot be made leaves the CPU
    /// unlimited, and says so.
    /// This is for one service of the run: its own `limit` and a cgroup
    /// named after it (`suffix`, e.g. `-web`).
    pub fn prepare_for(cfg: &RunConfig, limit: u64, suffix: &str) -> anyhow::Result<Limits> {
        let name = format!(
            "oomlab-{}-{}{suffix}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        let say = |note: &str| {
            if cfg.output != Output::Silent {
                eprintln!("oomlab: {note}");
            }
        };
        let mut notes = Vec::new();
        let mut enforce = cfg.enforce;
        let mut cgroup = None;
        let mut scope = None;
        if enforce == Enforce::Cgroup {
            match crate::cgroup::memory_limit(&name, limit, cfg.cgroup_move_self) {
                Ok(MemoryLimit::Cgroup(cg)) => {
                    let tree = cfg.oom_kill == OomKill::Tree;
                    match cg.set_group_kill(tree) {
                        Ok(true) => {}
                        Ok(false) if tree => notes.push(
                            "this cgroup cannot have the kernel kill its whole group (cgroup v1): after the kernel's kill the harness ended the rest of the tree (--oom-kill tree)".into(),
                        ),
                        Ok(false) => {}
                        Err(e) => notes.push(format!(
                            "memory.oom.group of {} could not be set ({e}): the kernel chose what it killed",
                            cg.path().display()
                        )),
                    }
                    cgroup = Some(Arc::new(cg));
                }
                Ok(MemoryLimit::Scope(s)) => {
                    let note = format!(
                        "cgroup v2 without delegation: each start of the server ran in a systemd user scope ({}, {}, ...) with MemoryMax={} and MemorySwapMax=0",
                        s.unit(0),
                        s.unit(1),
                        limit
                    );
                    say(&note);
                    notes.push(note);
                    scope = Some(s);
                }
                Err(why) if cfg.cgroup_fallback => {
                    let note = format!(
                        "--enforce cgroup is not possible here ({why}); the watchdog enforced the limit instead"
                    );
                    say(&note);
                    notes.push(note);
                    enforce = Enforce::Watchdog;
                }
                Err(why) => {
                    return Err(ConfigError::Unsupported {
                        what: "--enforce cgroup".into(),
                        why,
                        fix: "use --enforce watchdog (the default), or add --cgroup-fallback to fall back to it"
                            .into(),
                    }
                    .into());
                }
            }
        }
        let (cpu, cpu_unlimited) = crate::cgroup::cpu_limit(cfg.cpus, &name, cgroup.as_deref());
        if let Some(why) = &cpu_unlimited.why_not {
            let note = format!("CPU was not limited: {why}");
            say(&note);
            notes.push(note);
        }
        Ok(Limits {
            limit,
            enforce,
            cgroup,
            scope,
            cpu,
            cpu_unlimited,
            notes,
        })
    }

    /// Open `cgroup.procs` files of the cgroups a start of the target joins.
    pub fn cgroup_procs(&self) -> anyhow::Result<Vec<File>> {
        let mut procs = Vec::new();
        if let Some(cg) = &self.cgroup {
            procs.push(
                cg.procs_file()
                    .with_context(|| format!("opening cgroup.procs of {}", cg.path().display()))?,
            );
        }
        // On v2 the CPU quota may sit in the memory cgroup, joined above.
        if let Some(cg) = self.cpu.as_ref().filter(|c| c.owned()) {
            procs.push(
                cg.procs_file()
                    .with_context(|| format!("opening cgroup.procs of {}", cg.path().display()))?,
            );
        }
        Ok(procs)
    }

    /// What run.json says of the CPU.
    pub fn cpu_report(&self) -> CpuLimitReport {
        self.cpu
            .as_ref()
            .map_or_else(|| self.cpu_unlimited.clone(), CpuCgroup::report)
    }
}
