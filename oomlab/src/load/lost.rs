//! Jobs that can no longer finish: their process died and nothing moved.
//!
//! A gunicorn worker killed by the kernel takes the jobs it was building
//! with it; its master starts another worker, the app goes on answering,
//! and the job's status says "processing" for ever. Waiting for such a job
//! until its deadline makes a run idle for minutes. So: once a process of
//! a measured tree has died (the harness's death clock), a job acknowledged
//! before that death is **lost** when no job's status answer has changed
//! for `lost_after` since the death. Any movement (a job of a restarted
//! server taken up again, going through its stages; another job finishing)
//! resets the wait, so a job that is only queued behind others is not
//! called lost while the app makes progress.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The default of `--lost-after`: a few seconds without movement after a
/// death.
pub const DEFAULT_LOST_AFTER: Duration = Duration::from_secs(5);

/// The load's view of deaths and progress.
#[derive(Debug)]
pub struct LostWatch {
    deaths: Option<watch::Receiver<Option<Instant>>>,
    after: Duration,
    /// When any job's status answer last changed.
    progress: Mutex<Option<Instant>>,
}

impl LostWatch {
    /// Watches `deaths` (when a process of a measured tree last died);
    /// `None`: no job is ever called lost.
    pub fn new(deaths: Option<watch::Receiver<Option<Instant>>>, after: Duration) -> LostWatch {
        LostWatch {
            deaths,
            after,
            progress: Mutex::new(None),
        }
    }

    /// A job's status answer changed at `at`.
    pub fn progressed(&self, at: Instant) {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        *p = Some(p.map_or(at, |q| q.max(at)));
    }

    /// How long a job waits without movement after a death.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// The death that lost a job acknowledged at `submitted`, at `now`:
    /// one after its submission, with no movement of any job for
    /// `lost_after` since; `None` while the job may still finish.
    pub fn lost(&self, submitted: Instant, now: Instant) -> Option<Instant> {
        let death = (*self.deaths.as_ref()?.borrow())?;
        if death < submitted {
            return None;
        }
        let progress = *self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let quiet_since = progress.map_or(death, |p| p.max(death));
        (now.saturating_duration_since(quiet_since) >= self.after).then_some(death)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_lost_only_after_a_death_and_a_quiet_wait() {
        let (tx, rx) = watch::channel(None);
        let w = LostWatch::new(Some(rx), Duration::from_secs(5));
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        assert_eq!(w.lost(t0, s(60)), None, "no death: never lost");
        tx.send_replace(Some(s(10)));
        assert_eq!(w.lost(s(11), s(60)), None, "submitted after the death");
        assert_eq!(w.lost(t0, s(14)), None, "still within the wait");
        assert_eq!(w.lost(t0, s(15)), Some(s(10)));
        // Another job moved at 13 s: the wait starts again from there.
        w.progressed(s(13));
        assert_eq!(w.lost(t0, s(17)), None);
        assert_eq!(w.lost(t0, s(18)), Some(s(10)));
    }

    #[test]
    fn without_a_death_clock_nothing_is_lost() {
        let w = LostWatch::new(None, Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(w.lost(t0, t0 + Duration::from_secs(3600)), None);
    }
}
