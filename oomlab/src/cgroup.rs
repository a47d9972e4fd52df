//! A memory cgroup created below the harness's own, for `--enforce cgroup`.
//!
//! By default the harness never moves a process out of the cgroup it started
//! in, never moves any process but the server child, and never changes a
//! cgroup it did not create: it makes a child cgroup of its own (cgroup v1's
//! memory controller, or v2 when its own cgroup already enables `memory` for
//! its children), sets the limit there, and the server child joins it
//! between `fork` and `exec` (see [`MemoryCgroup::procs_file`]). The cgroup
//! is removed when the handle is dropped. Otherwise on v2 the server is
//! started in a systemd user scope ([`scope`]). Only when asked with
//! `--cgroup-move-self` does it, on a delegated v2 cgroup, move itself into
//! a leaf child and enable `+memory` in its own cgroup's
//! `cgroup.subtree_control` (undone at the end; see [`v2`]).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod cpu;
mod group_kill;
pub mod scope;
pub mod v2;

pub use cpu::{CPU_PERIOD_US, CpuCgroup, CpuLimitReport, cpu_limit, cpu_quota_us};
pub use scope::SystemdScope;

/// Which cgroup hierarchy holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    /// cgroup v1, `memory` controller hierarchy.
    V1,
    /// cgroup v2, unified hierarchy.
    V2,
}

/// A memory cgroup: one this process created (removed on drop), or a
/// systemd scope's that it only reads.
#[derive(Debug)]
pub struct MemoryCgroup {
    path: PathBuf,
    version: CgroupVersion,
    /// Whether this process created it (and removes it on drop).
    owned: bool,
    /// cgroup v2: the leaf this process moved itself into so that its own
    /// cgroup could enable `+memory`; left (after the cgroup is removed) on
    /// drop.
    _leaf: Option<v2::HarnessLeaf>,
}

/// What the cgroup's files said, in bytes and counts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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

/// How `--enforce cgroup` limits the server's memory.
#[derive(Debug)]
pub enum MemoryLimit {
    /// A memory cgroup below the harness's own, which the server joins
    /// between `fork` and `exec`.
    Cgroup(MemoryCgroup),
    /// cgroup v2 without delegation: each start of the server in a
    /// transient systemd user scope with `MemoryMax`.
    Scope(SystemdScope),
}

/// Why a memory cgroup could not be made below the harness's own.
#[derive(Debug)]
pub enum CreateError {
    /// cgroup v2, and the own cgroup cannot give a child the memory
    /// controller: a systemd scope may still do.
    V2(v2::V2Refusal),
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::V2(r) => r.fmt(f),
            CreateError::Other(s) => f.write_str(s),
        }
    }
}

/// For `--enforce cgroup`: a memory cgroup `name` of `limit` bytes below the
/// harness's own (v1; v2 directly, or, when `move_self` allows it
/// (`--cgroup-move-self`), after moving the harness into a leaf of its own
/// delegated cgroup), else on v2 a systemd user scope per start. The error
/// says why neither is possible and names the fix.
pub fn memory_limit(name: &str, limit: u64, move_self: bool) -> Result<MemoryLimit, String> {
    let (version, dir, mountinfo) = own_memory_cgroup()?;
    match MemoryCgroup::create_in(&dir, version, name, limit, std::process::id(), move_self) {
        Ok(cg) => Ok(MemoryLimit::Cgroup(cg)),
        Err(CreateError::Other(why)) => Err(why),
        Err(CreateError::V2(refusal)) => {
            let probed = find_mount(&mountinfo, |fstype, _| fstype == "cgroup2")
                .ok_or_else(|| "no cgroup2 mount".to_string())
                .and_then(|(_, mount)| {
                    let scope = SystemdScope::new(name, limit, mount);
                    scope.probe().map(|()| scope)
                });
            match probed {
                Ok(scope) => Ok(MemoryLimit::Scope(scope)),
                Err(why) => Err(scope_refused(&refusal, &why)),
            }
        }
    }
}

/// This process's memory cgroup directory, and the mountinfo it was found
/// with.
fn own_memory_cgroup() -> Result<(CgroupVersion, PathBuf, String), String> {
    let own = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let (version, dir) = own_memory_cgroup_dir(&own, &mountinfo)?;
    Ok((version, dir, mountinfo))
}

/// The error when neither a delegated cgroup nor a systemd scope works.
fn scope_refused(refusal: &v2::V2Refusal, why: &str) -> String {
    format!(
        "{refusal}. Starting the server in a systemd user scope with MemoryMax (`systemd-run \
         --user --scope`) was tried too and did not work: {why}"
    )
}

impl MemoryCgroup {
    /// Creates `name` below the harness's own memory cgroup with `limit`
    /// bytes (v1, or v2 directly; never the leaf move of [`v2`] nor a
    /// systemd scope). The error says why it is not possible.
    pub fn create(name: &str, limit: u64) -> Result<MemoryCgroup, String> {
        let (version, dir, _) = own_memory_cgroup()?;
        MemoryCgroup::create_in(&dir, version, name, limit, std::process::id(), false)
            .map_err(|e| e.to_string())
    }

    /// Creates `name` below `own`, the harness's own memory cgroup, with
    /// `limit` bytes and no swap beyond it. On v2, when `own` does not yet
    /// enable `memory` for its children, only if `move_self` allows it:
    /// after moving process `pid`, the harness, into a leaf of `own`
    /// (delegated, holding only the harness).
    pub fn create_in(
        own: &Path,
        version: CgroupVersion,
        name: &str,
        limit: u64,
        pid: u32,
        move_self: bool,
    ) -> Result<MemoryCgroup, CreateError> {
        let leaf = match version {
            CgroupVersion::V1 => None,
            CgroupVersion::V2 => match v2::plan(own, pid, move_self).map_err(CreateError::V2)? {
                v2::V2Plan::Ready => None,
                v2::V2Plan::MoveSelf(m) => Some(m.apply().map_err(CreateError::Other)?),
            },
        };
        let path = own.join(name);
        fs::create_dir(&path).map_err(|e| {
            CreateError::Other(format!(
                "cannot create the memory cgroup {}: {e} (the harness's own cgroup {} is not \
                 writable by this user; {})",
                path.display(),
                own.display(),
                v2::FIX
            ))
        })?;
        let cg = MemoryCgroup {
            path,
            version,
            owned: true,
            _leaf: leaf,
        };
        cg.set_limit(limit).map_err(|e| {
            CreateError::Other(format!(
                "cannot set the limit of the memory cgroup {}: {e}",
                cg.path.display()
            ))
        })?;
        Ok(cg)
    }

    /// The v2 cgroup at `path` that this process did not create (a systemd
    /// scope's), read like its own and never removed.
    pub fn observed(path: PathBuf) -> MemoryCgroup {
        MemoryCgroup {
            path,
            version: CgroupVersion::V2,
            owned: false,
            _leaf: None,
        }
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
        if !self.owned {
            return;
        }
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

    #[test]
    fn the_v2_memory_cgroup_of_a_container_is_its_mount_root() {
        let dir = tempfile::tempdir().unwrap();
        // In a container with a cgroup namespace the own cgroup is `/` and
        // the mount's root is `/` too; on a host, a systemd scope's path.
        let mi = format!(
            "35 24 0:30 / {} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
            dir.path().display()
        );
        let (v, d) = own_memory_cgroup_dir("0::/\n", &mi).unwrap();
        assert_eq!((v, d), (CgroupVersion::V2, dir.path().to_path_buf()));
        std::fs::create_dir_all(dir.path().join("user.slice/run-u7.scope")).unwrap();
        let (_, d) = own_memory_cgroup_dir("0::/user.slice/run-u7.scope\n", &mi).unwrap();
        assert_eq!(d, dir.path().join("user.slice/run-u7.scope"));
        // A v1 memory line wins over the unified one (hybrid hosts).
        let e = own_memory_cgroup_dir("4:memory:/x\n0::/\n", &mi).unwrap_err();
        assert!(e.contains("v1 memory"), "{e}");
    }

    #[test]
    fn on_a_delegated_v2_cgroup_the_limit_cgroup_is_the_sibling_of_the_harness_leaf() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path();
        std::fs::write(own.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(own.join("cgroup.subtree_control"), "").unwrap();
        std::fs::write(own.join("cgroup.procs"), "4242\n").unwrap();
        let cg = MemoryCgroup::create_in(own, CgroupVersion::V2, "oomlab-1", 64 << 20, 4242, true)
            .unwrap();
        assert_eq!(cg.path(), own.join("oomlab-1"));
        assert_eq!(
            std::fs::read_to_string(own.join("oomlab-1/memory.max")).unwrap(),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            std::fs::read_to_string(own.join("oomlab-harness-4242/cgroup.procs")).unwrap(),
            "4242"
        );
        assert_eq!(
            std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
        // A fake tree's folders keep their files; a real cgroup's rmdir
        // does not mind them.
        std::fs::remove_file(own.join("oomlab-1/memory.max")).unwrap();
        std::fs::remove_file(own.join("oomlab-harness-4242/cgroup.procs")).unwrap();
        drop(cg);
        assert!(!own.join("oomlab-1").exists());
        assert!(!own.join("oomlab-harness-4242").exists());
        assert_eq!(
            std::fs::read_to_string(own.join("cgroup.procs")).unwrap(),
            "4242"
        );
        assert_eq!(
            std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            "-memory"
        );
    }

    #[test]
    fn without_move_self_a_delegated_v2_cgroup_is_left_as_it_was_and_a_scope_is_next() {
        let d = tempfile::tempdir().unwrap();
        let own = d.path();
        std::fs::write(own.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(own.join("cgroup.subtree_control"), "").unwrap();
        std::fs::write(own.join("cgroup.procs"), "4242\n").unwrap();
        let e = MemoryCgroup::create_in(own, CgroupVersion::V2, "oomlab-1", 64 << 20, 4242, false)
            .unwrap_err();
        // A v2 refusal: `memory_limit` goes on to the systemd scope.
        let CreateError::V2(refusal) = e else {
            panic!("expected a v2 refusal: {e}");
        };
        assert!(
            matches!(refusal, v2::V2Refusal::MoveSelfNotAsked { pid: 4242, .. }),
            "{refusal:?}"
        );
        let entries: Vec<_> = std::fs::read_dir(own)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries.len(), 3, "nothing created: {entries:?}");
        assert_eq!(
            std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            ""
        );
        assert_eq!(
            std::fs::read_to_string(own.join("cgroup.procs")).unwrap(),
            "4242\n"
        );
        // When the scope does not work either, the error names the flag.
        let text = scope_refused(&refusal, "Failed to connect to bus");
        assert!(text.contains("--cgroup-move-self"), "{text}");
        assert!(text.contains("systemd-run --user --scope"), "{text}");
        assert!(text.contains("Failed to connect to bus"), "{text}");
    }

    #[test]
    fn an_undelegated_v2_cgroup_is_a_v2_refusal_and_v1_needs_no_plan() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), "cpu\n").unwrap();
        let e = MemoryCgroup::create_in(d.path(), CgroupVersion::V2, "x", 1 << 20, 1, true)
            .unwrap_err();
        let CreateError::V2(refusal) = e else {
            panic!("expected a v2 refusal: {e}");
        };
        let text = scope_refused(&refusal, "no answer in 10 s");
        assert!(text.contains("not available"), "{text}");
        assert!(text.contains("systemd-run --user --scope"), "{text}");
        assert!(text.contains("no answer in 10 s"), "{text}");
        assert!(text.contains("--enforce watchdog"), "{text}");
        // v1 makes the child directly (no leaf, no subtree_control).
        let cg =
            MemoryCgroup::create_in(d.path(), CgroupVersion::V1, "v1", 1 << 20, 1, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("v1/memory.limit_in_bytes")).unwrap(),
            (1u64 << 20).to_string()
        );
        assert!(!d.path().join("v1/memory.memsw.limit_in_bytes").exists());
        std::fs::remove_file(d.path().join("v1/memory.limit_in_bytes")).unwrap();
        drop(cg);
        assert!(!d.path().join("v1").exists());
        assert!(!d.path().join("oomlab-harness-1").exists());
    }

    #[test]
    fn an_observed_cgroup_is_never_removed() {
        let d = tempfile::tempdir().unwrap();
        let scope = d.path().join("app.slice/oomlab-1-0.scope");
        std::fs::create_dir_all(&scope).unwrap();
        std::fs::write(scope.join("memory.current"), "1024\n").unwrap();
        std::fs::write(
            scope.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let cg = MemoryCgroup::observed(scope.clone());
        let r = cg.read().unwrap();
        assert_eq!((r.usage_bytes, r.peak_bytes, r.oom_kills), (1024, None, 1));
        std::fs::remove_file(scope.join("memory.current")).unwrap();
        std::fs::remove_file(scope.join("memory.events")).unwrap();
        drop(cg);
        assert!(scope.is_dir());
    }
}
