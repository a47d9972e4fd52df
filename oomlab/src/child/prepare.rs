//! A target's `[[prepare]]` steps: commands run before every start of the
//! app (a restart included), so that a real app runs from its target file
//! without a wrapper script: copy a fresh tree into `{data_dir}`, run the
//! migrations, create the user the scenario logs in as.
//!
//! Each step runs to its end (bounded by its timeout) with its output
//! appended to the run's server log under a header line; a step that fails
//! or times out stops the start with an error that names the step, how it
//! ended and its last lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

/// Output lines quoted in the error of a failed step.
const LAST_LINES: usize = 8;

/// One `[[prepare]]` step, its placeholders filled.
#[derive(Debug, Clone)]
pub struct PrepareStep {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Where it runs.
    pub cwd: PathBuf,
    /// Variables added to the harness's environment (after the app's own).
    pub env: Vec<(String, String)>,
    /// How long it may take.
    pub timeout: Duration,
}

impl PrepareStep {
    /// `command` as one line, for messages.
    pub fn display(&self) -> String {
        self.command.join(" ")
    }
}

/// Runs `steps` in order, output appended to `log`; the first failure is
/// the error (step number from 1, its command, how it ended, its last
/// lines).
pub async fn run_all(steps: &[PrepareStep], log: &Path) -> anyhow::Result<()> {
    for (n, step) in steps.iter().enumerate() {
        run_one(n + 1, step, log)
            .await
            .with_context(|| format!("[[prepare]] step {} (`{}`)", n + 1, step.display()))?;
    }
    Ok(())
}

async fn run_one(n: usize, step: &PrepareStep, log: &Path) -> anyhow::Result<()> {
    let Some((program, args)) = step.command.split_first() else {
        bail!("the command is empty");
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&step.cwd)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {program} in {}", step.cwd.display()))?;
    let output = match tokio::time::timeout(step.timeout, child.wait_with_output()).await {
        Ok(o) => o.context("waiting for it")?,
        // Dropping the future kills the child (kill_on_drop).
        Err(_) => bail!(
            "it did not end within {} s (timeout_s); it was killed",
            step.timeout.as_secs_f64()
        ),
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "[oomlab] [[prepare]] step {n}: {}", step.display());
        let _ = f.write_all(text.as_bytes());
        let _ = writeln!(f, "[oomlab] [[prepare]] step {n} ended: {}", output.status);
    }
    if !output.status.success() {
        let lines: Vec<&str> = text.lines().collect();
        let last = lines[lines.len().saturating_sub(LAST_LINES)..].join("\n  ");
        bail!(
            "it ended with {}; its last lines:\n  {}",
            output.status,
            if last.is_empty() {
                "(no output)"
            } else {
                &last
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(dir: &Path, script: &str) -> PrepareStep {
        PrepareStep {
            command: vec!["sh".into(), "-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: vec![("GREETING".into(), "hello".into())],
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn steps_run_in_order_in_their_folder_with_their_env_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        run_all(
            &[
                step(dir.path(), "echo $GREETING > a.txt"),
                step(dir.path(), "cat a.txt > b.txt; echo made b"),
            ],
            &log,
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.txt")).unwrap(),
            "hello\n"
        );
        let log = std::fs::read_to_string(log).unwrap();
        assert!(log.contains("[[prepare]] step 2: sh -c cat a.txt"), "{log}");
        assert!(log.contains("made b"), "{log}");
    }

    #[tokio::test]
    async fn a_failed_step_names_itself_how_it_ended_and_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let e = run_all(
            &[
                step(dir.path(), "true"),
                step(dir.path(), "echo no such user >&2; exit 3"),
                step(dir.path(), "touch never"),
            ],
            &dir.path().join("server.log"),
        )
        .await
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("[[prepare]] step 2 (`sh -c echo no such user"),
            "{msg}"
        );
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("no such user"), "{msg}");
        assert!(
            !dir.path().join("never").exists(),
            "the run stops at the failure"
        );
    }

    #[tokio::test]
    async fn a_step_that_hangs_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = step(dir.path(), "sleep 30");
        s.timeout = Duration::from_millis(300);
        let t = std::time::Instant::now();
        let e = run_all(&[s], &dir.path().join("server.log"))
            .await
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("did not end within 0.3 s"),
            "{e:#}"
        );
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
