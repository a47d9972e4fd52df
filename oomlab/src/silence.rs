//! Silencing this process's stdout while a run driven by `oomlab compare` or
//! `oomlab plan` is under way.
//!
//! goose prints `N users launched.` (and similar) on stdout with `println!`,
//! whatever its `quiet` setting, which breaks the caller's progress bar
//! (drawn on stderr, as are its `println` lines). The runs of compare and
//! plan are made in this process, so with [`crate::harness::Output::Silent`]
//! the harness points file descriptor 1 at `/dev/null` for the run and puts
//! it back afterwards. Nothing else writes to stdout while a matrix runs.
//!
//! A single run silences stdout only while goose runs, unless `--verbose`
//! ([`show_goose_output`]): the run's own lines come after it.

use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether goose's own stdout is shown (`--verbose`); set once at start.
static GOOSE_OUTPUT: AtomicBool = AtomicBool::new(false);

/// Shows goose's stdout from now on (`--verbose`), or keeps it silenced.
pub fn show_goose_output(show: bool) {
    GOOSE_OUTPUT.store(show, Ordering::Relaxed);
}

/// For the load: stdout silenced while goose runs, unless `--verbose`.
pub fn unless_goose_output_shown() -> Option<StdoutSilenced> {
    (!GOOSE_OUTPUT.load(Ordering::Relaxed)).then(StdoutSilenced::new)
}

/// While alive, stdout goes to `/dev/null`; dropping it restores stdout.
#[derive(Debug)]
pub struct StdoutSilenced {
    saved: Option<OwnedFd>,
}

impl StdoutSilenced {
    /// Silences stdout; if that is not possible, stdout stays as it is.
    pub fn new() -> StdoutSilenced {
        let _ = std::io::stdout().flush();
        let saved = (|| -> std::io::Result<OwnedFd> {
            let saved = nix::unistd::dup(std::io::stdout())?;
            let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
            nix::unistd::dup2_stdout(&null)?;
            Ok(saved)
        })()
        .map_err(|e| tracing::debug!("could not silence stdout: {e}"))
        .ok();
        StdoutSilenced { saved }
    }
}

impl Default for StdoutSilenced {
    fn default() -> Self {
        StdoutSilenced::new()
    }
}

impl Drop for StdoutSilenced {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        if let Some(fd) = self.saved.take() {
            let _ = nix::unistd::dup2_stdout(&fd);
        }
    }
}
