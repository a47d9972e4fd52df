//! A CPU cgroup below the harness's own, for `--cpus`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CgroupVersion, MemoryCgroup, own_cgroup_dir};

/// The CFS period the harness sets, microseconds (the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The CFS quota for `share` cores per [`CPU_PERIOD_US`], microseconds; the
/// kernel refuses quotas under 1 ms.
pub fn cpu_quota_us(share: f64) -> u64 {
    ((share * CPU_PERIOD_US as f64).round() as u64).max(1_000)
}

/// A CPU cgroup that this process created below its own, holding the
/// server to a share of the CPU (CFS bandwidth: `cpu.cfs_quota_us` per
/// `cpu.cfs_period_us` on v1, `cpu.max` on v2); removed on drop. On v2 next
/// to a memory cgroup it is that cgroup (a process is in one v2 cgroup
/// only). Like
/// [`MemoryCgroup`], it moves no other process and changes no cgroup it did
/// not create: the server joins it between `fork` and `exec`.
#[derive(Debug)]
pub struct CpuCgroup {
    path: PathBuf,
    version: CgroupVersion,
    share: f64,
    quota_us: u64,
    /// Whether this is a cgroup of its own, created here and removed on
    /// drop (else the quota sits in the run's v2 memory cgroup).
    owned: bool,
}

/// How the server's CPU was limited, for `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CpuLimitReport {
    /// The share asked for with `--cpus`, in cores; `None`: not asked.
    pub cpus: Option<f64>,
    /// Whether the server ran under a CPU quota.
    pub limited: bool,
    /// The CPU cgroup's directory, when limited.
    pub cgroup: Option<PathBuf>,
    /// `v1` or `v2`, when limited.
    pub version: Option<CgroupVersion>,
    /// CFS period, microseconds, when limited.
    pub period_us: Option<u64>,
    /// CFS quota per period, microseconds, when limited.
    pub quota_us: Option<u64>,
    /// Why the CPU was not limited although `--cpus` asked for it.
    pub why_not: Option<String>,
    /// Periods in which the server was throttled (`cpu.stat`
    /// `nr_throttled`), read at the end of the run.
    pub nr_throttled: Option<u64>,
    /// Time the server was throttled, seconds (`cpu.stat` `throttled_time`
    /// on v1, `throttled_usec` on v2).
    pub throttled_s: Option<f64>,
}

impl CpuCgroup {
    /// Creates `name` below the harness's own CPU cgroup, limited to `share`
    /// cores. The error says why it is not possible.
    pub fn create(name: &str, share: f64) -> Result<CpuCgroup, String> {
        CpuCgroup::create_with(name, share, None)
    }

    /// [`CpuCgroup::create`], next to the run's memory cgroup `memory`: on
    /// cgroup v2 a process is in exactly one cgroup, so the quota is set in
    /// the memory cgroup itself (joining a second cgroup would take the
    /// server out of the memory limit).
    pub fn create_with(
        name: &str,
        share: f64,
        memory: Option<&MemoryCgroup>,
    ) -> Result<CpuCgroup, String> {
        if !(share > 0.0 && share.is_finite()) {
            return Err(format!("{share} is not a positive share of a core"));
        }
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let (version, parent) = own_cgroup_dir(&own, &mountinfo, "cpu")?;
        let memory = memory
            .filter(|m| m.version() == CgroupVersion::V2)
            .map(MemoryCgroup::path);
        CpuCgroup::create_in(&parent, version, name, share, memory)
    }

    /// Creates `name` below `parent`, the harness's own CPU cgroup, limited
    /// to `share` cores; on v2 with `memory` (a v2 memory cgroup of this
    /// run) the quota goes into that cgroup instead, which is not made nor
    /// removed here.
    pub fn create_in(
        parent: &Path,
        version: CgroupVersion,
        name: &str,
        share: f64,
        memory: Option<&Path>,
    ) -> Result<CpuCgroup, String> {
        if version == CgroupVersion::V2 {
            // The memory cgroup's parent is the cgroup that must enable
            // `cpu` for it (after a `--cgroup-move-self` leaf move the
            // harness's own cgroup is the leaf, not that parent).
            let parent = memory.and_then(Path::parent).unwrap_or(parent);
            let control =
                fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            if !super::v2::lists(&control, "cpu") {
                return Err(format!(
                    "cgroup v2: the cpu controller is not enabled for the children of {} (its \
                     cgroup.subtree_control is `{}`). Enabling it would need oomlab to move \
                     itself out of that cgroup (the kernel's no-internal-process rule), which \
                     it does not do for --cpus (--cgroup-move-self enables only the memory \
                     controller); run oomlab in a cgroup that already enables cpu for its \
                     children, or leave out --cpus",
                    parent.display(),
                    control.trim()
                ));
            }
        }
        let (path, owned) = match (version, memory) {
            (CgroupVersion::V2, Some(m)) => (m.to_path_buf(), false),
            _ => {
                let path = parent.join(name);
                fs::create_dir(&path).map_err(|e| {
                    format!(
                        "cannot create the CPU cgroup {}: {e} (the harness's own cgroup {} is \
                         not writable by this user)",
                        path.display(),
                        parent.display()
                    )
                })?;
                (path, true)
            }
        };
        let cg = CpuCgroup {
            path,
            version,
            share,
            quota_us: cpu_quota_us(share),
            owned,
        };
        let set = match version {
            CgroupVersion::V1 => {
                fs::write(cg.path.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string()).and_then(
                    |()| fs::write(cg.path.join("cpu.cfs_quota_us"), cg.quota_us.to_string()),
                )
            }
            CgroupVersion::V2 => fs::write(
                cg.path.join("cpu.max"),
                format!("{} {CPU_PERIOD_US}", cg.quota_us),
            ),
        };
        set.map_err(|e| {
            format!(
                "cannot set the CPU quota of the cgroup {}: {e}",
                cg.path.display()
            )
        })?;
        Ok(cg)
    }

    /// Whether it is a cgroup of its own (else the v2 memory cgroup, which
    /// the server joins already).
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `cgroup.procs`, open for writing (see [`MemoryCgroup::procs_file`]).
    pub fn procs_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .open(self.path.join("cgroup.procs"))
    }

    /// The report: the quota, and the throttling `cpu.stat` shows now.
    pub fn report(&self) -> CpuLimitReport {
        let stat = fs::read_to_string(self.path.join("cpu.stat")).unwrap_or_default();
        let key = |k: &str| -> Option<u64> {
            stat.lines().find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next()? == k).then(|| it.next()?.parse().ok())?
            })
        };
        let throttled_s = match self.version {
            CgroupVersion::V1 => key("throttled_time").map(|ns| ns as f64 / 1e9),
            CgroupVersion::V2 => key("throttled_usec").map(|us| us as f64 / 1e6),
        };
        CpuLimitReport {
            cpus: Some(self.share),
            limited: true,
            cgroup: Some(self.path.clone()),
            version: Some(self.version),
            period_us: Some(CPU_PERIOD_US),
            quota_us: Some(self.quota_us),
            why_not: None,
            nr_throttled: key("nr_throttled"),
            throttled_s,
        }
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for _ in 0..50 {
            match fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        tracing::warn!(path = %self.path.display(), "could not remove the CPU cgroup");
    }
}

/// For `--cpus`: the CPU cgroup `name` holding `cpus` cores (on v2 the
/// quota in the run's memory cgroup `memory`, when there is one), or, when
/// none was asked for or none can be made, the report that says so (and
/// why).
pub fn cpu_limit(
    cpus: Option<f64>,
    name: &str,
    memory: Option<&MemoryCgroup>,
) -> (Option<CpuCgroup>, CpuLimitReport) {
    let Some(share) = cpus else {
        return (None, CpuLimitReport::default());
    };
    match CpuCgroup::create_with(name, share, memory) {
        Ok(cg) => (Some(cg), CpuLimitReport::default()),
        Err(why) => (
            None,
            CpuLimitReport {
                cpus: Some(share),
                why_not: Some(why),
                ..CpuLimitReport::default()
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_v2_the_quota_goes_into_the_memory_cgroup_the_server_joins() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path();
        fs::write(own.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
        let mem = own.join("oomlab-1");
        fs::create_dir(&mem).unwrap();
        let cg = CpuCgroup::create_in(own, CgroupVersion::V2, "oomlab-1", 0.5, Some(&mem)).unwrap();
        assert!(!cg.owned());
        assert_eq!(cg.path(), mem);
        assert_eq!(
            fs::read_to_string(mem.join("cpu.max")).unwrap(),
            "50000 100000"
        );
        fs::remove_file(mem.join("cpu.max")).unwrap();
        drop(cg);
        // The memory cgroup is its owner's to remove.
        assert!(mem.is_dir());

        // Without a memory cgroup: a cgroup of its own, removed on drop.
        let cg = CpuCgroup::create_in(own, CgroupVersion::V2, "oomlab-2", 0.1, None).unwrap();
        assert!(cg.owned());
        assert_eq!(
            fs::read_to_string(own.join("oomlab-2/cpu.max")).unwrap(),
            "10000 100000"
        );
        fs::remove_file(own.join("oomlab-2/cpu.max")).unwrap();
        drop(cg);
        assert!(!own.join("oomlab-2").exists());
    }

    #[test]
    fn on_v2_without_cpu_in_subtree_control_nothing_is_moved_and_the_error_says_why() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path();
        fs::write(own.join("cgroup.subtree_control"), "memory\n").unwrap();
        let e = CpuCgroup::create_in(own, CgroupVersion::V2, "oomlab-1", 0.5, None).unwrap_err();
        assert!(e.contains("`memory`"), "{e}");
        assert!(e.contains("--cgroup-move-self"), "{e}");
        assert!(e.contains("leave out --cpus"), "{e}");
        assert!(!own.join("oomlab-1").exists());
        assert_eq!(
            fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            "memory\n"
        );
        // After a leaf move, the memory cgroup's parent is what counts.
        let mem = own.join("oomlab-1");
        fs::create_dir(&mem).unwrap();
        let leaf = own.join("oomlab-harness-7");
        fs::create_dir(&leaf).unwrap();
        fs::write(leaf.join("cgroup.subtree_control"), "cpu\n").unwrap();
        let e = CpuCgroup::create_in(&leaf, CgroupVersion::V2, "x", 0.5, Some(&mem)).unwrap_err();
        assert!(e.contains(&own.display().to_string()), "{e}");
        assert!(!mem.join("cpu.max").exists());
    }
}
