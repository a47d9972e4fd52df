//! A memory cgroup created below the harness's own, for `--enforce cgroup`.
//!
//! The harness never moves a process out of the cgroup it started in, and
//! never changes a cgroup it did not create: it makes a child cgroup of its
//! own (cgroup v1's memory controller, or v2 when the memory controller is
//! delegated to its subtree), sets the limit there, and the server child
//! joins it between `fork` and `exec` (see [`MemoryCgroup::procs_file`]).
//! The cgroup is removed when the handle is dropped.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which cgroup hierarchy holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    /// cgroup v1, `memory` controller hierarchy.
    V1,
    /// cgroup v2, unified hierarchy.
    V2,
}

/// A memory cgroup that this process created; removed on drop.
#[derive(Debug)]
pub struct MemoryCgroup {
    path: PathBuf,
    version: CgroupVersion,
}

/// What the cgroup's files said, in bytes and counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupReading {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`),
    /// in bytes; includes page cache.
    pub usage_bytes: u64,
    /// Highest usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`), in
    /// bytes; `None` when the kernel does not keep it.
    pub peak_bytes: Option<u64>,
    /// Processes the kernel's OOM killer killed in this cgroup (v1
    /// `memory.oom_control` `oom_kill`, v2 `memory.events` `oom_kill`).
    pub oom_kills: u64,
}

impl MemoryCgroup {
    /// Creates `name` below the harness's own memory cgroup with `limit`
    /// bytes (and no swap beyond it). The error says why it is not possible.
    pub fn create(name: &str, limit: u64) -> Result<MemoryCgroup, String> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let (version, parent) = own_memory_cgroup_dir(&own, &mountinfo)?;
        if version == CgroupVersion::V2 {
            let control =
                fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            if !control.split_whitespace().any(|c| c == "memory") {
                return Err(format!(
                    "cgroup v2: the memory controller is not enabled for the children of {} \
                     (its cgroup.subtree_control is `{}`); it must be delegated to this user's \
                     subtree, e.g. by running under `systemd-run --user --scope -p Delegate=yes`",
                    parent.display(),
                    control.trim()
                ));
            }
        }
        let path = parent.join(name);
        fs::create_dir(&path).map_err(|e| {
            format!(
                "cannot create the memory cgroup {}: {e} (the harness's own cgroup {} is not \
                 writable by this user)",
                path.display(),
                parent.display()
            )
        })?;
        let cg = MemoryCgroup { path, version };
        cg.set_limit(limit).map_err(|e| {
            format!(
                "cannot set the limit of the memory cgroup {}: {e}",
                cg.path.display()
            )
        })?;
        Ok(cg)
    }

    fn set_limit(&self, limit: u64) -> io::Result<()> {
        match self.version {
            CgroupVersion::V1 => {
                fs::write(self.path.join("memory.limit_in_bytes"), limit.to_string())?;
                // Without swap accounting the file is missing: then swap
                // cannot be limited, which a swapless host does not need.
                let memsw = self.path.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    fs::write(memsw, limit.to_string())?;
                }
                Ok(())
            }
            CgroupVersion::V2 => {
                fs::write(self.path.join("memory.max"), limit.to_string())?;
                let swap = self.path.join("memory.swap.max");
                if swap.exists() {
                    fs::write(swap, "0")?;
                }
                Ok(())
            }
        }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which hierarchy it is in.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// `cgroup.procs`, open for writing. The server child writes `0` (itself)
    /// into it between `fork` and `exec`, so the server never runs outside the
    /// limit and no other process is moved.
    pub fn procs_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .open(self.path.join("cgroup.procs"))
    }

    /// Reads usage, peak and OOM kills.
    pub fn read(&self) -> io::Result<CgroupReading> {
        let num = |f: &str| -> Option<u64> {
            fs::read_to_string(self.path.join(f))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        let keyed = |f: &str, key: &str| -> Option<u64> {
            let doc = fs::read_to_string(self.path.join(f)).ok()?;
            doc.lines().find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next()? == key).then(|| it.next()?.parse().ok())?
            })
        };
        match self.version {
            CgroupVersion::V1 => Ok(CgroupReading {
                usage_bytes: num("memory.usage_in_bytes")
                    .ok_or_else(|| io::Error::other("memory.usage_in_bytes unreadable"))?,
                peak_bytes: num("memory.max_usage_in_bytes"),
                oom_kills: keyed("memory.oom_control", "oom_kill").unwrap_or(0),
            }),
            CgroupVersion::V2 => Ok(CgroupReading {
                usage_bytes: num("memory.current")
                    .ok_or_else(|| io::Error::other("memory.current unreadable"))?,
                peak_bytes: num("memory.peak"),
                oom_kills: keyed("memory.events", "oom_kill").unwrap_or(0),
            }),
        }
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The server has been killed and reaped by now; the kernel may take a
        // moment to let go of the cgroup, so retry briefly.
        for _ in 0..50 {
            match fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        tracing::warn!(path = %self.path.display(), "could not remove the memory cgroup");
    }
}

/// The directory of this process's memory cgroup, from `/proc/self/cgroup`
/// and `/proc/self/mountinfo`.
fn own_memory_cgroup_dir(
    proc_cgroup: &str,
    mountinfo: &str,
) -> Result<(CgroupVersion, PathBuf), String> {
    own_cgroup_dir(proc_cgroup, mountinfo, "memory")
}

/// The directory of this process's cgroup for `controller` (`memory`,
/// `cpu`): the v1 hierarchy that holds the controller (a line
/// `N:cpu,cpuacct:/path` counts for `cpu`), else the v2 unified one.
fn own_cgroup_dir(
    proc_cgroup: &str,
    mountinfo: &str,
    controller: &str,
) -> Result<(CgroupVersion, PathBuf), String> {
    // v1 first: a line `N:controller[,...]:/path`.
    let v1 = proc_cgroup.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    });
    if let Some(path) = v1 {
        let (root, mount) = find_mount(mountinfo, |fstype, opts| {
            fstype == "cgroup" && opts.split(',').any(|o| o == controller)
        })
        .ok_or_else(|| {
            format!(
                "this process is in a cgroup v1 {controller} cgroup, but its hierarchy is not mounted"
            )
        })?;
        return Ok((CgroupVersion::V1, join_below(&mount, &root, &path)?));
    }
    let v2 = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string));
    if let Some(path) = v2 {
        let (root, mount) = find_mount(mountinfo, |fstype, _| fstype == "cgroup2").ok_or_else(|| {
            format!("no cgroup v2 hierarchy is mounted and no cgroup v1 {controller} controller is in use")
        })?;
        return Ok((CgroupVersion::V2, join_below(&mount, &root, &path)?));
    }
    Err(format!(
        "this process is in no {controller} cgroup (see /proc/self/cgroup)"
    ))
}

/// The CFS period the harness sets, microseconds (the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The CFS quota for `share` cores per [`CPU_PERIOD_US`], microseconds; the
/// kernel refuses quotas under 1 ms.
pub fn cpu_quota_us(share: f64) -> u64 {
    ((share * CPU_PERIOD_US as f64).round() as u64).max(1_000)
}

/// A CPU cgroup that this process created below its own, holding the
/// server to a share of the CPU (CFS bandwidth: `cpu.cfs_quota_us` per
/// `cpu.cfs_period_us` on v1, `cpu.max` on v2); removed on drop. Like
/// [`MemoryCgroup`], it moves no other process and changes no cgroup it did
/// not create: the server joins it between `fork` and `exec`.
#[derive(Debug)]
pub struct CpuCgroup {
    path: PathBuf,
    version: CgroupVersion,
    share: f64,
    quota_us: u64,
}

/// How the server's CPU was limited, for `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
        if !(share > 0.0 && share.is_finite()) {
            return Err(format!("{share} is not a positive share of a core"));
        }
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let (version, parent) = own_cgroup_dir(&own, &mountinfo, "cpu")?;
        if version == CgroupVersion::V2 {
            let control =
                fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            if !control.split_whitespace().any(|c| c == "cpu") {
                return Err(format!(
                    "cgroup v2: the cpu controller is not enabled for the children of {} \
                     (its cgroup.subtree_control is `{}`)",
                    parent.display(),
                    control.trim()
                ));
            }
        }
        let path = parent.join(name);
        fs::create_dir(&path).map_err(|e| {
            format!(
                "cannot create the CPU cgroup {}: {e} (the harness's own cgroup {} is not \
                 writable by this user)",
                path.display(),
                parent.display()
            )
        })?;
        let cg = CpuCgroup {
            path,
            version,
            share,
            quota_us: cpu_quota_us(share),
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

/// For `--cpus`: the CPU cgroup `name` holding `cpus` cores, or, when none
/// was asked for or none can be made, the report that says so (and why).
pub fn cpu_limit(cpus: Option<f64>, name: &str) -> (Option<CpuCgroup>, CpuLimitReport) {
    let Some(share) = cpus else {
        return (None, CpuLimitReport::default());
    };
    match CpuCgroup::create(name, share) {
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

/// `(root, mount point)` of the first mount whose type and super options
/// match.
fn find_mount(mountinfo: &str, want: impl Fn(&str, &str) -> bool) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        let (fstype, opts) = (*post.first()?, *post.get(2).unwrap_or(&""));
        if !want(fstype, opts) {
            return None;
        }
        Some((pre.get(3)?.to_string(), PathBuf::from(pre.get(4)?)))
    })
}

/// The directory of cgroup `path` in a hierarchy mounted at `mount` whose
/// root is `root` (a container sees its own cgroup as the mount's root).
fn join_below(mount: &Path, root: &str, path: &str) -> Result<PathBuf, String> {
    let rel = if root == "/" {
        path
    } else if let Some(rest) = path.strip_prefix(root) {
        rest
    } else if path == "/" {
        "/"
    } else {
        return Err(format!(
            "this process's cgroup {path} is outside the mounted part {root} of its hierarchy"
        ));
    };
    let dir = mount.join(rel.trim_start_matches('/'));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "the cgroup directory {} does not exist",
            dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_memory_cgroup_is_found_below_its_mount() {
        let cg = "4:memory:/\n0::/\n";
        let mi = "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
        let (v, dir) = own_memory_cgroup_dir(cg, mi).unwrap();
        assert_eq!(v, CgroupVersion::V1);
        assert_eq!(dir, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn the_v1_cpu_cgroup_is_found_in_a_cpu_cpuacct_hierarchy_below_its_mount() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("cpu,cpuacct");
        std::fs::create_dir_all(mount.join("user/job")).unwrap();
        let cg = "5:memory:/other\n3:cpu,cpuacct:/user/job\n0::/\n";
        let mi = format!(
            "36 25 0:31 / {} rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
             37 25 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
            mount.display()
        );
        let (v, d) = own_cgroup_dir(cg, &mi, "cpu").unwrap();
        assert_eq!(v, CgroupVersion::V1);
        assert_eq!(d, mount.join("user/job"));
        // `cpuacct` alone is not the cpu controller.
        let e = own_cgroup_dir("2:cpuacct:/\n", &mi, "cpu").unwrap_err();
        assert!(e.contains("cpu"), "{e}");
    }

    #[test]
    fn the_v2_cpu_cgroup_is_the_unified_one_and_quotas_follow_the_share() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let mi = format!(
            "30 25 0:27 /a {} rw - cgroup2 cgroup2 rw\n",
            dir.path().join("a").display()
        );
        let (v, d) = own_cgroup_dir("0::/a/b\n", &mi, "cpu").unwrap();
        assert_eq!(v, CgroupVersion::V2);
        assert_eq!(d, dir.path().join("a/b"));
        assert_eq!(cpu_quota_us(0.1), 10_000);
        assert_eq!(cpu_quota_us(0.5), 50_000);
        assert_eq!(cpu_quota_us(2.0), 200_000);
        assert_eq!(cpu_quota_us(0.001), 1_000);
    }

    #[test]
    fn a_cgroup_outside_the_mounted_root_is_refused_with_a_reason() {
        let e = join_below(Path::new("/sys/fs/cgroup"), "/a", "/b/c").unwrap_err();
        assert!(e.contains("outside"));
    }
}
