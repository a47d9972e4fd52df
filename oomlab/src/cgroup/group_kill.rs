//! Whether the kernel's OOM kill in the run's cgroup ends one process or
//! all of them (`--oom-kill`).
//!
//! cgroup v2 has `memory.oom.group`: when it is 1 the OOM killer kills
//! every process of the cgroup together, as a platform restarting the
//! instance would end them. cgroup v1 has no such switch: there the
//! harness ends the rest of the tree itself after the kernel's kill.

use std::fs;
use std::io;

use super::{CgroupVersion, MemoryCgroup};

impl MemoryCgroup {
    /// Asks the kernel to kill the whole group (`true`) or only its chosen
    /// victim (`false`) at the limit. `Ok(false)` when the cgroup cannot
    /// kill its group (v1, or a kernel before 4.19): the caller then ends
    /// the tree itself.
    pub fn set_group_kill(&self, group: bool) -> io::Result<bool> {
        let file = self.path.join("memory.oom.group");
        if self.version == CgroupVersion::V1 || !file.exists() {
            return Ok(false);
        }
        fs::write(&file, if group { "1" } else { "0" })?;
        Ok(true)
    }

    /// Whether the kernel kills the whole group at the limit.
    pub fn kills_group(&self) -> bool {
        self.version == CgroupVersion::V2
            && fs::read_to_string(self.path.join("memory.oom.group")).is_ok_and(|s| s.trim() == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_cgroup_cannot_kill_its_group_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let cg = MemoryCgroup {
            path: dir.path().to_path_buf(),
            version: CgroupVersion::V1,
            owned: false,
            _leaf: None,
        };
        assert!(!cg.set_group_kill(true).unwrap());
        assert!(!cg.kills_group());
    }

    #[test]
    fn a_v2_cgroup_kills_its_group_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.oom.group"), "0\n").unwrap();
        let cg = MemoryCgroup {
            path: dir.path().to_path_buf(),
            version: CgroupVersion::V2,
            owned: false,
            _leaf: None,
        };
        assert!(!cg.kills_group());
        assert!(cg.set_group_kill(true).unwrap());
        assert!(cg.kills_group());
        assert!(cg.set_group_kill(false).unwrap());
        assert!(!cg.kills_group());
    }
}
