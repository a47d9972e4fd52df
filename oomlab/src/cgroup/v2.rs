//! cgroup v2: getting the memory controller to a child of the harness's own
//! cgroup.
//!
//! On v2 a cgroup's children get the memory controller only when `+memory`
//! is in the cgroup's `cgroup.subtree_control`, and the kernel's
//! no-internal-process rule refuses that while processes live in the
//! cgroup itself, the harness among them. Container runtimes solve it by
//! moving their own process into a leaf child first. oomlab does so only
//! when asked (`--cgroup-move-self`, [`MOVE_SELF_FLAG`]): by default it
//! never moves itself out of the cgroup it started in and never changes a
//! cgroup it did not create, and [`plan`] refuses with
//! [`V2Refusal::MoveSelfNotAsked`] (the caller then tries a systemd scope).
//! When asked, within the limits of the project's rules:
//!
//! - only when its own cgroup is delegated to it (`cgroup.procs` and
//!   `cgroup.subtree_control` writable) and holds no process but the
//!   harness (it never moves another process);
//! - it moves only itself, and only into a leaf it creates inside its own
//!   cgroup (never out of the subtree);
//! - the only change to a cgroup it did not create is `+memory` in its own
//!   cgroup's `cgroup.subtree_control`, undone (`-memory`) at the end, when
//!   it moves itself back and removes the leaf.
//!
//! The decision ([`plan`]) and the steps ([`LeafMove::enter`],
//! [`LeafMove::leave`]) are plain data, so the tests check them on fake
//! cgroupfs trees in temporary folders.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The leaf the harness moves itself into: `oomlab-harness-<pid>`.
pub fn leaf_name(pid: u32) -> String {
    format!("oomlab-harness-{pid}")
}

/// The flag that allows the leaf move.
pub const MOVE_SELF_FLAG: &str = "--cgroup-move-self";

/// The fix the error texts name.
pub const FIX: &str = "run oomlab alone in a cgroup delegated to this user and allow it to \
move itself into a leaf child of that cgroup with --cgroup-move-self, e.g. \
`systemd-run --user --scope -p Delegate=yes -- oomlab run --enforce cgroup \
--cgroup-move-self ...` (or, as root, `sudo systemd-run --scope -p Delegate=yes -- oomlab \
run --enforce cgroup --cgroup-move-self ...`), or in a container with a delegated cgroup \
(cgroup namespace, writable /sys/fs/cgroup) with --cgroup-move-self; or use \
`--enforce watchdog`";

/// What the harness's own v2 cgroup allows for a memory limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Plan {
    /// `memory` is already enabled for its children: the limit cgroup is
    /// created directly below it.
    Ready,
    /// Delegated and holding only the harness, and the move allowed
    /// (`--cgroup-move-self`): move the harness into a leaf child, enable
    /// `+memory`, then create the limit cgroup as the leaf's sibling.
    MoveSelf(LeafMove),
}

/// Why the harness's own v2 cgroup cannot give a child the memory
/// controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Refusal {
    /// The memory controller is not available in the cgroup at all (its
    /// parent does not enable it: not delegated).
    NoMemoryController {
        /// The harness's own cgroup.
        own: PathBuf,
        /// Its `cgroup.controllers`.
        controllers: String,
    },
    /// A control file of the cgroup is not writable by this user.
    NotDelegated {
        /// The harness's own cgroup.
        own: PathBuf,
        /// The file.
        file: &'static str,
        /// The error opening it for writing.
        error: String,
    },
    /// Other processes share the cgroup: enabling `+memory` would be
    /// refused, and oomlab moves no process but its own.
    OtherProcesses {
        /// The harness's own cgroup.
        own: PathBuf,
        /// Their pids (the first few).
        pids: Vec<u32>,
    },
    /// The leaf move would work (delegated, only the harness in it), but
    /// `--cgroup-move-self` was not given: by default oomlab neither moves
    /// itself out of the cgroup it started in nor changes a cgroup it did
    /// not create.
    MoveSelfNotAsked {
        /// The harness's own cgroup.
        own: PathBuf,
        /// Its `cgroup.subtree_control`.
        subtree_control: String,
        /// The harness's pid (the leaf it would make is named after it).
        pid: u32,
    },
}

impl fmt::Display for V2Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V2Refusal::NoMemoryController { own, controllers } => write!(
                f,
                "cgroup v2: the memory controller is not available in oomlab's own cgroup {} \
                 (its cgroup.controllers is `{}`): the cgroup is not delegated with the memory \
                 controller; {FIX}",
                own.display(),
                controllers.trim()
            ),
            V2Refusal::NotDelegated { own, file, error } => write!(
                f,
                "cgroup v2: oomlab's own cgroup {} is not delegated to this user ({file}: \
                 {error}); oomlab would move itself into a leaf child and enable +memory in \
                 its cgroup.subtree_control; {FIX}",
                own.display()
            ),
            V2Refusal::OtherProcesses { own, pids } => write!(
                f,
                "cgroup v2: oomlab's own cgroup {} also holds other processes (pids {}), so \
                 the memory controller cannot be enabled for its children (the kernel's \
                 no-internal-process rule) and oomlab moves no process but its own; {FIX}",
                own.display(),
                pids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            V2Refusal::MoveSelfNotAsked {
                own,
                subtree_control,
                pid,
            } => write!(
                f,
                "cgroup v2: oomlab's own cgroup {} does not enable the memory controller for \
                 its children (its cgroup.subtree_control is `{}`). It is delegated and holds \
                 only oomlab, so oomlab could move itself into a leaf child `{}` and write \
                 +memory to that cgroup.subtree_control (undone at the end), but it does that \
                 only with {MOVE_SELF_FLAG}: without it oomlab never moves itself out of the \
                 cgroup it started in nor changes a cgroup it did not create. Add \
                 {MOVE_SELF_FLAG} to allow it, or use `--enforce watchdog`",
                own.display(),
                subtree_control.trim(),
                leaf_name(*pid)
            ),
        }
    }
}

/// Whether `list` (a `cgroup.controllers` or `cgroup.subtree_control`)
/// names `controller`.
pub fn lists(list: &str, controller: &str) -> bool {
    list.split_whitespace().any(|c| c == controller)
}

/// The pids of a `cgroup.procs`, ignoring what does not parse.
pub fn parse_procs(procs: &str) -> Vec<u32> {
    procs
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Decides, from the files of the harness's own v2 cgroup `own`, how a
/// memory-limited child can be made for the process `pid`; the leaf move
/// only when `move_self` allows it (`--cgroup-move-self`), else a
/// [`V2Refusal::MoveSelfNotAsked`] where it would have been the way.
pub fn plan(own: &Path, pid: u32, move_self: bool) -> Result<V2Plan, V2Refusal> {
    let read = |f: &str| fs::read_to_string(own.join(f)).unwrap_or_default();
    let subtree_control = read("cgroup.subtree_control");
    if lists(&subtree_control, "memory") {
        return Ok(V2Plan::Ready);
    }
    let controllers = read("cgroup.controllers");
    if !lists(&controllers, "memory") {
        return Err(V2Refusal::NoMemoryController {
            own: own.to_path_buf(),
            controllers,
        });
    }
    for file in ["cgroup.procs", "cgroup.subtree_control"] {
        // Opening for writing writes nothing; it is the kernel's permission
        // check of a delegated file.
        if let Err(e) = OpenOptions::new().write(true).open(own.join(file)) {
            return Err(V2Refusal::NotDelegated {
                own: own.to_path_buf(),
                file,
                error: e.to_string(),
            });
        }
    }
    let others: Vec<u32> = parse_procs(&read("cgroup.procs"))
        .into_iter()
        .filter(|p| *p != pid)
        .take(10)
        .collect();
    if !others.is_empty() {
        return Err(V2Refusal::OtherProcesses {
            own: own.to_path_buf(),
            pids: others,
        });
    }
    if !move_self {
        return Err(V2Refusal::MoveSelfNotAsked {
            own: own.to_path_buf(),
            subtree_control,
            pid,
        });
    }
    Ok(V2Plan::MoveSelf(LeafMove {
        own: own.to_path_buf(),
        leaf: own.join(leaf_name(pid)),
        pid,
    }))
}

/// Moving the harness into a leaf of its own delegated cgroup, and back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafMove {
    /// The harness's own cgroup.
    pub own: PathBuf,
    /// The leaf it moves into.
    pub leaf: PathBuf,
    /// The harness's pid.
    pub pid: u32,
}

/// One change to the cgroup filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create a cgroup.
    Mkdir(PathBuf),
    /// Write a control file.
    Write(PathBuf, String),
    /// Remove a cgroup (it must be empty).
    Rmdir(PathBuf),
}

impl Step {
    /// Carries it out.
    pub fn apply(&self) -> io::Result<()> {
        match self {
            Step::Mkdir(p) => fs::create_dir(p),
            Step::Write(p, s) => fs::write(p, s),
            Step::Rmdir(p) => fs::remove_dir(p),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Mkdir(p) => write!(f, "mkdir {}", p.display()),
            Step::Write(p, s) => write!(f, "echo {s} > {}", p.display()),
            Step::Rmdir(p) => write!(f, "rmdir {}", p.display()),
        }
    }
}

impl LeafMove {
    /// Into the leaf: create it, move the harness (only it) there, enable
    /// the memory controller for the own cgroup's children.
    pub fn enter(&self) -> Vec<Step> {
        vec![
            Step::Mkdir(self.leaf.clone()),
            Step::Write(self.leaf.join("cgroup.procs"), self.pid.to_string()),
            Step::Write(self.own.join("cgroup.subtree_control"), "+memory".into()),
        ]
    }

    /// Back as it was: disable the memory controller again, move the
    /// harness back, remove the leaf.
    pub fn leave(&self) -> Vec<Step> {
        vec![
            Step::Write(self.own.join("cgroup.subtree_control"), "-memory".into()),
            Step::Write(self.own.join("cgroup.procs"), self.pid.to_string()),
            Step::Rmdir(self.leaf.clone()),
        ]
    }

    /// Carries out [`LeafMove::enter`]; on a failure undoes what was done
    /// and says which step failed. The guard leaves on drop.
    pub fn apply(self) -> Result<HarnessLeaf, String> {
        let enter = self.enter();
        let leave = self.leave();
        for (i, step) in enter.iter().enumerate() {
            if let Err(e) = step.apply() {
                // Undo the steps done, newest first: step k of `enter` is
                // undone by step 2 - k of `leave`.
                for undo in leave.iter().skip(3 - i) {
                    let _ = undo.apply();
                }
                return Err(format!(
                    "cgroup v2: `{step}` failed: {e} (oomlab moves itself into a leaf child of \
                     its own delegated cgroup and enables +memory in that cgroup's \
                     cgroup.subtree_control); {FIX}"
                ));
            }
        }
        Ok(HarnessLeaf { plan: self })
    }
}

/// The harness in its leaf; leaves it (back to the own cgroup, `-memory`,
/// leaf removed) on drop.
#[derive(Debug)]
pub struct HarnessLeaf {
    plan: LeafMove,
}

impl HarnessLeaf {
    /// The leaf's directory.
    pub fn leaf(&self) -> &Path {
        &self.plan.leaf
    }
}

impl Drop for HarnessLeaf {
    fn drop(&mut self) {
        for step in self.plan.leave() {
            if let Err(e) = step.apply() {
                tracing::warn!(%step, error = %e, "could not undo the cgroup v2 leaf move");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake v2 cgroup directory with the given control files.
    fn fake(dir: &Path, controllers: &str, subtree: &str, procs: &str) {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("cgroup.controllers"), controllers).unwrap();
        fs::write(dir.join("cgroup.subtree_control"), subtree).unwrap();
        fs::write(dir.join("cgroup.procs"), procs).unwrap();
    }

    #[test]
    fn memory_already_enabled_for_the_children_needs_no_move() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "cpu memory pids\n", "memory pids\n", "");
        // Nothing moves and nothing changes: no flag needed.
        assert_eq!(plan(d.path(), 42, false), Ok(V2Plan::Ready));
        assert_eq!(plan(d.path(), 42, true), Ok(V2Plan::Ready));
    }

    #[test]
    fn without_the_flag_no_move_is_planned_and_the_refusal_names_the_flag() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "cpu memory pids\n", "\n", "42\n");
        let e = plan(d.path(), 42, false).unwrap_err();
        assert_eq!(
            e,
            V2Refusal::MoveSelfNotAsked {
                own: d.path().to_path_buf(),
                subtree_control: "\n".into(),
                pid: 42,
            }
        );
        let text = e.to_string();
        assert!(text.contains("--cgroup-move-self"), "{text}");
        assert!(text.contains("oomlab-harness-42"), "{text}");
        assert!(text.contains("--enforce watchdog"), "{text}");
        // Planning changed nothing.
        assert!(!d.path().join("oomlab-harness-42").exists());
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap(),
            "\n"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.procs")).unwrap(),
            "42\n"
        );
        // The refusals that come first do not depend on the flag, and their
        // fix names it (the delegated scope needs it too).
        fake(d.path(), "memory\n", "", "7\n42\n");
        let e = plan(d.path(), 42, false).unwrap_err();
        assert!(matches!(e, V2Refusal::OtherProcesses { .. }), "{e:?}");
        assert!(e.to_string().contains("--cgroup-move-self"), "{e}");
    }

    #[test]
    fn a_delegated_cgroup_holding_only_the_harness_is_entered_through_a_leaf() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "cpu memory pids\n", "\n", "42\n");
        let Ok(V2Plan::MoveSelf(m)) = plan(d.path(), 42, true) else {
            panic!("expected a move");
        };
        assert_eq!(m.leaf, d.path().join("oomlab-harness-42"));
        assert_eq!(
            m.enter(),
            vec![
                Step::Mkdir(d.path().join("oomlab-harness-42")),
                Step::Write(d.path().join("oomlab-harness-42/cgroup.procs"), "42".into()),
                Step::Write(d.path().join("cgroup.subtree_control"), "+memory".into()),
            ]
        );
        assert_eq!(
            m.leave(),
            vec![
                Step::Write(d.path().join("cgroup.subtree_control"), "-memory".into()),
                Step::Write(d.path().join("cgroup.procs"), "42".into()),
                Step::Rmdir(d.path().join("oomlab-harness-42")),
            ]
        );
    }

    #[test]
    fn the_move_writes_only_the_harness_pid_and_only_memory_to_subtree_control() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "memory\n", "", "42\n");
        let Ok(V2Plan::MoveSelf(m)) = plan(d.path(), 42, true) else {
            panic!("expected a move");
        };
        let leaf = m.clone().apply().unwrap();
        assert!(leaf.leaf().is_dir());
        assert_eq!(
            fs::read_to_string(d.path().join("oomlab-harness-42/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
        // A plain folder keeps the fake cgroup.procs file, which a real
        // cgroup's rmdir ignores: remove it so the leave can be checked.
        fs::remove_file(d.path().join("oomlab-harness-42/cgroup.procs")).unwrap();
        drop(leaf);
        assert!(!d.path().join("oomlab-harness-42").exists());
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap(),
            "-memory"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.procs")).unwrap(),
            "42"
        );
    }

    #[test]
    fn a_failed_move_is_undone_and_names_the_step_and_the_fix() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "memory\n", "", "42\n");
        let m = LeafMove {
            own: d.path().to_path_buf(),
            leaf: d.path().join("oomlab-harness-42"),
            pid: 42,
        };
        // The leaf's name is taken: the first step fails, nothing changed.
        fs::write(d.path().join("oomlab-harness-42"), "").unwrap();
        let e = m.clone().apply().unwrap_err();
        assert!(e.contains("mkdir"), "{e}");
        assert!(e.contains("Delegate=yes"), "{e}");
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.procs")).unwrap(),
            "42\n"
        );
        fs::remove_file(d.path().join("oomlab-harness-42")).unwrap();

        // Enabling +memory fails (here: the file is a folder) after the
        // harness moved: it moves back.
        fs::remove_file(d.path().join("cgroup.subtree_control")).unwrap();
        fs::create_dir(d.path().join("cgroup.subtree_control")).unwrap();
        fs::write(d.path().join("cgroup.procs"), "").unwrap();
        let e = m.apply().unwrap_err();
        assert!(e.contains("+memory"), "{e}");
        assert_eq!(
            fs::read_to_string(d.path().join("cgroup.procs")).unwrap(),
            "42"
        );
    }

    #[test]
    fn refusals_say_why_and_name_the_fix() {
        let d = tempfile::tempdir().unwrap();
        fake(d.path(), "cpu pids\n", "", "42\n");
        let e = plan(d.path(), 42, true).unwrap_err();
        assert!(matches!(e, V2Refusal::NoMemoryController { .. }));
        let text = e.to_string();
        assert!(text.contains("cpu pids"), "{text}");
        assert!(
            text.contains("systemd-run --user --scope -p Delegate=yes"),
            "{text}"
        );
        assert!(text.contains("--enforce watchdog"), "{text}");

        fake(d.path(), "memory\n", "", "7\n42\n8\n");
        let e = plan(d.path(), 42, true).unwrap_err();
        assert_eq!(
            e,
            V2Refusal::OtherProcesses {
                own: d.path().to_path_buf(),
                pids: vec![7, 8]
            }
        );
        let text = e.to_string();
        assert!(text.contains("pids 7, 8"), "{text}");
        assert!(text.contains("no-internal-process"), "{text}");

        // Not delegated: the control file cannot be opened for writing (a
        // missing file stands in for one owned by another user, which root
        // running the tests could still open).
        let d2 = tempfile::tempdir().unwrap();
        fs::write(d2.path().join("cgroup.controllers"), "memory\n").unwrap();
        let e = plan(d2.path(), 42, true).unwrap_err();
        assert!(
            matches!(
                e,
                V2Refusal::NotDelegated {
                    file: "cgroup.procs",
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains("not delegated"), "{text}");
        assert!(text.contains("+memory"), "{text}");
    }

    #[test]
    fn procs_and_controller_lists_parse() {
        assert_eq!(parse_procs("1\n22\n\nx\n333\n"), vec![1, 22, 333]);
        assert!(lists("cpuset cpu io memory pids", "memory"));
        assert!(!lists("memory_recursiveprot", "memory"));
        assert!(!lists("", "memory"));
    }
}
