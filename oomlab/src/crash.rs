//! What is known of a target that ended on its own: the signal or exit code,
//! the last lines of its output, and where the kernel put its core.
//!
//! A target killed by the harness (the watchdog, the end-of-run stop) is not
//! a crash; anything else that ends it is, and the report says what it can
//! ([`Crash`]). The child starts with `RLIMIT_CORE` raised to its hard limit
//! (`child`), so the kernel writes a core where `core_pattern` says, unless
//! the system forbids it; this module finds that file afterwards. A
//! `core_pattern` that pipes to a program (systemd-coredump, apport) is
//! named, not guessed at.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Lines of the target's output a crash report keeps.
pub const LAST_LINES: usize = 20;

/// A target that ended on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Crash {
    /// The signal that ended it; `None` when it exited with a code.
    pub signal: Option<SignalName>,
    /// Its exit code, when it exited rather than died of a signal.
    pub exit_code: Option<i32>,
    /// Whether it ended before it was ready (while starting).
    pub before_ready: bool,
    /// The kernel's "core dumped" flag of its exit status.
    pub core_dumped: bool,
    /// Where its core is, or why there is none.
    pub core: CoreFile,
    /// The last lines of its output (stdout after the ready line, and
    /// stderr), oldest first.
    pub last_lines: Vec<String>,
    /// Jobs it was running at the latest `/debug/memory` reading before it
    /// ended (empty when it publishes none, or none were in flight).
    #[serde(default)]
    pub jobs_in_flight: Vec<memstats::JobInFlight>,
    /// When that reading was taken, seconds since the run started.
    #[serde(default)]
    pub jobs_seen_at_s: Option<f64>,
}

/// A signal by number and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignalName {
    /// Its number, e.g. 11.
    pub number: i32,
    /// Its name, e.g. `SIGSEGV`.
    pub name: String,
}

/// Where the core of a crash went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CoreFile {
    /// A core file was found.
    Written {
        /// Its path (moved into the run folder when the kernel wrote it into
        /// the target's working directory).
        path: PathBuf,
    },
    /// `core_pattern` hands cores to a program; look there
    /// (`coredumpctl`, `/var/crash`).
    Piped {
        /// The program line of `core_pattern`, without the `|`.
        handler: String,
    },
    /// No core was written, and why.
    NotWritten {
        /// The reason, e.g. the signal does not dump core.
        why: String,
    },
    /// The kernel says it dumped core, but the file was not found where
    /// `core_pattern` points.
    NotFound {
        /// The folder that was searched.
        looked_in: PathBuf,
        /// `core_pattern` at the time.
        pattern: String,
    },
}

impl Crash {
    /// Examines the exit `status` of process `pid`, started at `started` in
    /// working directory `cwd`, whose output went to `log`; a core file the
    /// kernel wrote into `cwd` is moved into `keep_in` (the run folder).
    pub fn examine(status: ExitStatus, at: &Started<'_>, before_ready: bool) -> Crash {
        let signal = status.signal().map(signal_name);
        let core_dumped = status.core_dumped();
        let core = if core_dumped {
            find_core(at)
        } else {
            CoreFile::NotWritten {
                why: match &signal {
                    None => "it exited with a code, not a signal".into(),
                    Some(s) if !dumps_core(s.number) => {
                        format!("{} does not dump core", s.name)
                    }
                    Some(_) => format!(
                        "the kernel wrote none (core size limit in the child: {}; or the system forbids it)",
                        at.core_limit
                            .map_or("unknown".to_string(), |l| if l == u64::MAX {
                                "unlimited".to_string()
                            } else {
                                format!("{l} bytes")
                            })
                    ),
                },
            }
        };
        Crash {
            signal,
            exit_code: status.code(),
            before_ready,
            core_dumped,
            core,
            last_lines: last_lines(at.log, LAST_LINES),
            jobs_in_flight: Vec::new(),
            jobs_seen_at_s: None,
        }
    }

    /// How it ended, in a few words: `signal 11 (SIGSEGV), core dumped`.
    pub fn how(&self) -> String {
        let mut s = match (&self.signal, self.exit_code) {
            (Some(sig), _) => format!("signal {} ({})", sig.number, sig.name),
            (None, Some(code)) => format!("exit code {code}"),
            (None, None) => "unknown status".into(),
        };
        if self.core_dumped {
            s.push_str(", core dumped");
        }
        s
    }

    /// Where the core is, in a sentence.
    pub fn core_sentence(&self) -> String {
        match &self.core {
            CoreFile::Written { path } => format!("core file: {}", path.display()),
            CoreFile::Piped { handler } => format!(
                "core handed to `{handler}` (kernel.core_pattern pipes to it; e.g. `coredumpctl list` or /var/crash)"
            ),
            CoreFile::NotWritten { why } => format!("no core file: {why}"),
            CoreFile::NotFound { looked_in, pattern } => format!(
                "the kernel dumped core but no file matching core_pattern `{pattern}` was found in {}",
                looked_in.display()
            ),
        }
    }
}

/// What [`Crash::examine`] needs of the process's start.
#[derive(Debug, Clone)]
pub struct Started<'a> {
    /// Its pid.
    pub pid: u32,
    /// Its working directory.
    pub cwd: PathBuf,
    /// When it was started (a core file older than this is not its own).
    pub at: SystemTime,
    /// Its output.
    pub log: &'a Path,
    /// The folder a core written into `cwd` is moved to.
    pub keep_in: Option<&'a Path>,
    /// `RLIMIT_CORE` the child was given, bytes (`u64::MAX`: unlimited).
    pub core_limit: Option<u64>,
}

fn signal_name(n: i32) -> SignalName {
    SignalName {
        number: n,
        name: nix::sys::signal::Signal::try_from(n)
            .map_or_else(|_| format!("signal {n}"), |s| s.as_str().to_string()),
    }
}

/// Whether the default action of signal `n` dumps core (signal(7)).
fn dumps_core(n: i32) -> bool {
    use nix::sys::signal::Signal::*;
    matches!(
        nix::sys::signal::Signal::try_from(n),
        Ok(SIGABRT
            | SIGBUS
            | SIGFPE
            | SIGILL
            | SIGQUIT
            | SIGSEGV
            | SIGSYS
            | SIGTRAP
            | SIGXCPU
            | SIGXFSZ)
    )
}

/// The last `n` lines of `path` (empty when it cannot be read).
pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// How much earlier than the start a core file's time may be.
const CLOCK_SLACK: std::time::Duration = std::time::Duration::from_secs(2);

/// `/proc/sys/kernel/core_pattern` and `core_uses_pid`.
fn core_pattern() -> (String, bool) {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern")
        .unwrap_or_else(|_| "core".into())
        .trim_end_matches('\n')
        .to_string();
    let uses_pid =
        std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").is_ok_and(|s| s.trim() == "1");
    (pattern, uses_pid)
}

fn find_core(at: &Started<'_>) -> CoreFile {
    let (pattern, uses_pid) = core_pattern();
    locate(&pattern, uses_pid, at)
}

/// Finds the core of `at.pid` by `pattern` (kernel.core_pattern): a piped
/// pattern is named; a file pattern is resolved against the process's
/// working directory, its `%` specifiers matched (`%p` by the pid, the rest
/// by anything), and the newest matching file written since the start is
/// taken. A core the kernel wrote into the working directory is moved into
/// `at.keep_in`, so runs do not leave `core` files behind or overwrite each
/// other's.
pub fn locate(pattern: &str, uses_pid: bool, at: &Started<'_>) -> CoreFile {
    if let Some(handler) = pattern.strip_prefix('|') {
        return CoreFile::Piped {
            handler: handler.trim().to_string(),
        };
    }
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        at.cwd.join(pattern)
    };
    let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
        return not_found(&at.cwd, pattern);
    };
    if dir.to_string_lossy().contains('%') {
        return not_found(dir, pattern);
    }
    let mut name = name.to_string_lossy().into_owned();
    if uses_pid && !name.contains("%p") {
        name.push_str(".%p");
    }
    let Ok(re) = regex::Regex::new(&name_regex(&name, at.pid)) else {
        return not_found(dir, pattern);
    };
    // File times come from the kernel's coarse clock, which lags the clock
    // `at.at` was read from by up to a tick (and some file systems keep
    // whole or even seconds): a core written milliseconds after the start
    // can carry an earlier time. Two seconds of slack take it.
    let since = at.at.checked_sub(CLOCK_SLACK).unwrap_or(at.at);
    let newest = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let m = e.metadata().ok()?.modified().ok()?;
            (m >= since && e.file_type().ok()?.is_file()).then(|| (m, e.path()))
        })
        .max();
    let Some((_, path)) = newest else {
        return not_found(dir, pattern);
    };
    let path = match at.keep_in {
        Some(keep) if !Path::new(pattern).is_absolute() => {
            let to = keep.join(format!("core.{}", at.pid));
            // A rename across file systems fails; the core then stays put.
            if std::fs::rename(&path, &to).is_ok() {
                to
            } else {
                path
            }
        }
        _ => path,
    };
    CoreFile::Written { path }
}

fn not_found(dir: &Path, pattern: &str) -> CoreFile {
    CoreFile::NotFound {
        looked_in: dir.to_path_buf(),
        pattern: pattern.to_string(),
    }
}

/// A regex for a core file name pattern: `%p`/`%P` the pid, `%%` a percent
/// sign, any other specifier anything but `/` (core(5)).
fn name_regex(name: &str, pid: u32) -> String {
    let mut re = String::from("^");
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            re.push_str(&regex::escape(&c.to_string()));
            continue;
        }
        match chars.next() {
            Some('p' | 'P') => re.push_str(&pid.to_string()),
            Some('%') => re.push('%'),
            Some(_) => re.push_str("[^/]*"),
            None => {}
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started<'a>(dir: &Path, log: &'a Path, keep: Option<&'a Path>) -> Started<'a> {
        Started {
            pid: 4242,
            cwd: dir.to_path_buf(),
            at: SystemTime::now() - std::time::Duration::from_secs(5),
            log,
            keep_in: keep,
            core_limit: Some(u64::MAX),
        }
    }

    #[test]
    fn a_piped_core_pattern_is_named_not_guessed() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let c = locate(
            "|/usr/lib/systemd/systemd-coredump %P %u",
            false,
            &started(d.path(), &log, None),
        );
        assert_eq!(
            c,
            CoreFile::Piped {
                handler: "/usr/lib/systemd/systemd-coredump %P %u".into()
            }
        );
    }

    #[test]
    fn a_core_in_the_working_directory_is_moved_into_the_run_folder() {
        let cwd = tempfile::tempdir().unwrap();
        let run = tempfile::tempdir().unwrap();
        let log = run.path().join("log");
        std::fs::write(cwd.path().join("core"), b"ELF").unwrap();
        let c = locate("core", false, &started(cwd.path(), &log, Some(run.path())));
        assert_eq!(
            c,
            CoreFile::Written {
                path: run.path().join("core.4242")
            }
        );
        assert!(!cwd.path().join("core").exists());
    }

    #[test]
    fn specifiers_match_the_pid_and_anything_else() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        std::fs::write(d.path().join("core.server.4241.1700"), b"x").unwrap();
        std::fs::write(d.path().join("core.server.4242.1700"), b"x").unwrap();
        let pattern = format!("{}/core.%e.%p.%t", d.path().display());
        let c = locate(&pattern, false, &started(d.path(), &log, None));
        assert_eq!(
            c,
            CoreFile::Written {
                path: d.path().join("core.server.4242.1700")
            }
        );
        // core_uses_pid appends the pid to a pattern without %p.
        std::fs::write(d.path().join("dump.4242"), b"x").unwrap();
        let c = locate("dump", true, &started(d.path(), &log, None));
        assert_eq!(
            c,
            CoreFile::Written {
                path: d.path().join("dump.4242")
            }
        );
    }

    #[test]
    fn a_core_stamped_a_tick_before_the_start_is_found_and_an_old_one_is_not() {
        // The kernel stamps files from its coarse clock: a process that
        // crashes milliseconds after `at` leaves a core up to a tick older.
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let mut at = started(d.path(), &log, None);
        at.at = SystemTime::now();
        let core = d.path().join("core");
        let f = std::fs::File::create(&core).unwrap();
        f.set_modified(at.at - std::time::Duration::from_millis(8))
            .unwrap();
        assert_eq!(locate("core", false, &at), CoreFile::Written { path: core });
        // A core left from a run minutes ago is not this crash's.
        f.set_modified(at.at - std::time::Duration::from_secs(120))
            .unwrap();
        assert!(matches!(
            locate("core", false, &at),
            CoreFile::NotFound { .. }
        ));
    }

    #[test]
    fn no_matching_file_says_where_it_looked() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let c = locate("core", false, &started(d.path(), &log, None));
        assert!(matches!(c, CoreFile::NotFound { looked_in, .. } if looked_in == d.path()));
    }
}
