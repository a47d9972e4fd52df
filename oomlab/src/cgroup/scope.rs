//! cgroup v2 through systemd: the server started in a transient scope of
//! the user's systemd manager with `MemoryMax` (`systemd-run --user --scope`).
//!
//! This is the way when oomlab's own cgroup is not delegated (see
//! [`super::v2`]) but a systemd user manager answers and has the memory
//! controller. `systemd-run --scope` registers its own process as the scope
//! and then executes the server, so the server keeps the pid oomlab spawned
//! (its RSS, its process group, its exit status are oomlab's as usual).
//! oomlab sees an OOM kill in two ways: the scope's `memory.events`
//! `oom_kill` while the scope lives (the sampler reads it like its own
//! cgroups'), and afterwards the unit's `Result=oom-kill`, which systemd
//! keeps until `systemctl --user reset-failed`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `systemd-run` and `systemctl` may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Transient scopes with a memory limit, one per start of the server.
#[derive(Debug, Clone)]
pub struct SystemdScope {
    prefix: String,
    limit: u64,
    cgroup2: PathBuf,
}

impl SystemdScope {
    /// Scopes named `<prefix>-<generation>.scope` with `MemoryMax=limit`,
    /// in the unified hierarchy mounted at `cgroup2`.
    pub fn new(prefix: &str, limit: u64, cgroup2: PathBuf) -> SystemdScope {
        SystemdScope {
            prefix: prefix.to_string(),
            limit,
            cgroup2,
        }
    }

    /// The cgroup directory process `pid` is in (after `systemd-run`
    /// executed the server: its scope's).
    pub fn cgroup_of(&self, pid: u32) -> Option<PathBuf> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        unified_dir(&text, &self.cgroup2).filter(|d| d.is_dir())
    }

    /// Checks that a scope started with `systemd-run --user --scope` gets
    /// the limit: a probe scope prints its own `memory.max`, which must be
    /// the limit (without the memory controller in the user manager the
    /// property would be accepted and do nothing).
    pub fn probe(&self) -> Result<(), String> {
        let mut cmd = Command::new("systemd-run");
        cmd.args(self.systemd_run_args("probe"))
            .arg("/bin/sh")
            .arg("-c")
            .arg(r#"cat "$0$(sed -n 's/^0:://p' /proc/self/cgroup)/memory.max""#)
            .arg(&self.cgroup2);
        let out = run_bounded(cmd)
            .map_err(|e| format!("`systemd-run --user --scope` did not work here ({e})"))?;
        check_probe(&out, self.limit)
    }

    /// The unit of start `generation`.
    pub fn unit(&self, generation: u32) -> String {
        format!("{}-{generation}.scope", self.prefix)
    }

    /// `systemd-run`'s arguments up to the command, for the unit named
    /// `<prefix>-<suffix>.scope`.
    fn systemd_run_args(&self, suffix: &str) -> Vec<OsString> {
        [
            "--user".to_string(),
            "--scope".into(),
            "--quiet".into(),
            format!("--unit={}-{suffix}.scope", self.prefix),
            "-p".into(),
            format!("MemoryMax={}", self.limit),
            "-p".into(),
            "MemorySwapMax=0".into(),
            "--".into(),
        ]
        .into_iter()
        .map(OsString::from)
        .collect()
    }

    /// The program and arguments that start `program args` in the scope
    /// of start `generation`.
    pub fn wrap(
        &self,
        program: &Path,
        args: &[OsString],
        generation: u32,
    ) -> (PathBuf, Vec<OsString>) {
        let mut all = self.systemd_run_args(&generation.to_string());
        all.push(program.as_os_str().to_os_string());
        all.extend(args.iter().cloned());
        (PathBuf::from("systemd-run"), all)
    }

    /// Whether systemd recorded an OOM kill in the scope of start
    /// `generation` (`Result=oom-kill`); `None` when it cannot say. Forgets
    /// the failed unit afterwards (`reset-failed`).
    pub fn oom_killed(&self, generation: u32) -> Option<bool> {
        let unit = self.unit(generation);
        let mut show = Command::new("systemctl");
        show.args(["--user", "show", "--property=Result", "--value", &unit]);
        let result = run_bounded(show).ok();
        let mut reset = Command::new("systemctl");
        reset.args(["--user", "reset-failed", &unit]);
        let _ = run_bounded(reset);
        result.map(|r| r.trim() == "oom-kill")
    }
}

/// What the probe printed, checked against the limit.
fn check_probe(out: &str, limit: u64) -> Result<(), String> {
    match out.trim().parse::<u64>() {
        Ok(max) if max == limit => Ok(()),
        Ok(max) => Err(format!(
            "a scope of `systemd-run --user --scope -p MemoryMax={limit}` got memory.max {max}"
        )),
        Err(_) => Err(format!(
            "a scope of `systemd-run --user --scope -p MemoryMax={limit}` has no memory limit \
             (memory.max: `{}`): the user manager has no memory controller",
            out.trim()
        )),
    }
}

/// The cgroup directory of process `pid` in the unified hierarchy mounted
/// at `cgroup2`, from its `/proc/<pid>/cgroup` text.
pub fn unified_dir(proc_cgroup: &str, cgroup2: &Path) -> Option<PathBuf> {
    let rel = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(cgroup2.join(rel.trim().trim_start_matches('/')))
}

/// Runs `cmd` (stdin closed), waiting at most [`ANSWER_TIMEOUT`]; its
/// stdout, or why not.
fn run_bounded(mut cmd: Command) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return if status.success() {
                    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                } else {
                    Err(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                };
            }
            Ok(None) if started.elapsed() < ANSWER_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer in {} s", ANSWER_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_started_through_systemd_run_with_the_limit_and_no_swap() {
        let s = SystemdScope::new("oomlab-7-99", 134_217_728, PathBuf::from("/sys/fs/cgroup"));
        let (program, args) = s.wrap(
            Path::new("/bin/report-server"),
            &["--port".into(), "0".into()],
            2,
        );
        assert_eq!(program, PathBuf::from("systemd-run"));
        assert_eq!(
            args,
            [
                "--user",
                "--scope",
                "--quiet",
                "--unit=oomlab-7-99-2.scope",
                "-p",
                "MemoryMax=134217728",
                "-p",
                "MemorySwapMax=0",
                "--",
                "/bin/report-server",
                "--port",
                "0"
            ]
        );
        assert_eq!(s.unit(2), "oomlab-7-99-2.scope");
    }

    #[test]
    fn the_probe_accepts_only_the_limit_it_asked_for() {
        assert_eq!(check_probe("1048576\n", 1_048_576), Ok(()));
        let e = check_probe("max\n", 1_048_576).unwrap_err();
        assert!(e.contains("no memory controller"), "{e}");
        let e = check_probe("", 1_048_576).unwrap_err();
        assert!(e.contains("no memory limit"), "{e}");
        let e = check_probe("2097152", 1_048_576).unwrap_err();
        assert!(e.contains("2097152"), "{e}");
    }

    #[test]
    fn the_scope_cgroup_of_a_process_is_found_in_the_unified_hierarchy() {
        let text =
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/oomlab-1-2-0.scope\n";
        assert_eq!(
            unified_dir(text, Path::new("/sys/fs/cgroup")),
            Some(PathBuf::from(
                "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/oomlab-1-2-0.scope"
            ))
        );
        assert_eq!(
            unified_dir("4:memory:/x\n", Path::new("/sys/fs/cgroup")),
            None
        );
    }

    #[test]
    fn a_missing_systemd_run_is_an_answer_not_a_hang() {
        let e = run_bounded(Command::new("/nonexistent/systemd-run")).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
        let e = run_bounded({
            let mut c = Command::new("sh");
            c.args(["-c", "echo nope >&2; exit 3"]);
            c
        })
        .unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
