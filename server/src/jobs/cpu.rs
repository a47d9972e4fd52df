//! `[model.cpu]`: the modelled app's CPU time, spent by the job's own
//! thread as real work.
//!
//! Why CPU time of the thread, and not a sleep or a wall-clock busy loop: a
//! plan's CPU share (`cpu.max` of a cgroup, `--cpus`) throttles a thread
//! that burns CPU exactly as it throttles the app's interpreter, and so does
//! a busy machine; a sleep would take as long under 0.1 CPU as under 4, and
//! a wall-clock loop would not stretch when other processes take the cores.
//! So a stage's target is CPU milliseconds, read from
//! `CLOCK_THREAD_CPUTIME_ID`, and the wall time follows from the machine.
//!
//! What the server does itself in a stage (its own decode, its PDF writer,
//! its HTTP client) counts toward the target: a [`Pacer`] is marked when a
//! stretch of work starts and tops the thread's CPU up to the target when
//! it ends, so the stage costs the larger of the two and never their sum.
//!
//! The PDF stage is paced per photo (in the layout's `on_photo`), as the
//! app decodes and encodes each photo while it draws it: requests that
//! arrive during the build (status polls) then come between photos as in
//! the app, which is what the modelled collector counts
//! (`jobs::generations`).

use std::time::Duration;

use crate::settings::CpuSettings;

const MB: f64 = (1u64 << 20) as f64;

/// This thread's CPU time (user and system) since it started.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant that Linux always supports.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Tops a stretch of one thread's work up to a CPU target.
pub struct Pacer {
    on: bool,
    mark: Duration,
    /// CPU burned to reach targets (not the server's own work), in total.
    burned: Duration,
}

impl Pacer {
    /// A pacer for the calling thread, marked now; `on = false` (every
    /// `[model.cpu]` figure 0) makes every call a no-op.
    pub fn new(on: bool) -> Pacer {
        Pacer {
            on,
            mark: if on { thread_cpu() } else { Duration::ZERO },
            burned: Duration::ZERO,
        }
    }

    /// Starts counting this thread's CPU from now.
    pub fn mark(&mut self) {
        if self.on {
            self.mark = thread_cpu();
        }
    }

    /// Burns CPU until this thread has spent `ms` milliseconds since the
    /// mark (its own work included), then marks again. Must run on the
    /// thread that was marked.
    pub fn spend_to(&mut self, ms: f64) {
        if !self.on {
            return;
        }
        let start = thread_cpu();
        if ms > 0.0 && ms.is_finite() {
            let target = self.mark + Duration::from_secs_f64(ms / 1000.0);
            burn_until(target);
        }
        let now = thread_cpu();
        self.burned += now.saturating_sub(start);
        self.mark = now;
    }

    /// CPU burned to reach the targets so far.
    pub fn burned(&self) -> Duration {
        self.burned
    }
}

/// Busy work until the thread's CPU clock reads `target`. Each round is a
/// few tens of microseconds of arithmetic the optimiser cannot drop, so the
/// overshoot is one round.
fn burn_until(target: Duration) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while thread_cpu() < target {
        for _ in 0..20_000 {
            // xorshift64: cheap, data-dependent, not vectorisable away.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
    }
}

/// A photo drawn into the PDF: decode by its pixels, embed by its bytes,
/// and its share of the layout, ms of CPU.
pub fn photo_ms(cpu: &CpuSettings, pixels: u64, bytes: u64) -> f64 {
    cpu.decode_ms_per_megapixel * pixels as f64 / 1e6
        + cpu.embed_ms_per_mb * bytes as f64 / MB
        + cpu.document_ms_per_photo
}

/// `bytes` downloaded, ms of CPU.
pub fn download_ms(cpu: &CpuSettings, bytes: u64) -> f64 {
    cpu.download_ms_per_mb * bytes as f64 / MB
}

/// A report of `bytes` uploaded, ms of CPU.
pub fn upload_ms(cpu: &CpuSettings, bytes: u64) -> f64 {
    cpu.upload_ms_per_mb * bytes as f64 / MB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_spends_at_least_the_target_and_not_much_more() {
        let before = thread_cpu();
        let mut p = Pacer::new(true);
        p.spend_to(80.0);
        let spent = thread_cpu() - before;
        assert!(spent >= Duration::from_millis(80), "{spent:?}");
        // One burn round is tens of microseconds; a second of slack only
        // catches a pacer that does not stop.
        assert!(spent < Duration::from_millis(1080), "{spent:?}");
        assert!(p.burned() >= Duration::from_millis(70), "{:?}", p.burned());
    }

    #[test]
    fn the_threads_own_work_counts_toward_the_target() {
        let mut p = Pacer::new(true);
        // 60 ms of the thread's own work, then a target of 40: nothing to
        // burn.
        burn_until(thread_cpu() + Duration::from_millis(60));
        p.spend_to(40.0);
        assert!(p.burned() < Duration::from_millis(20), "{:?}", p.burned());
        // The mark moved: the next 40 are burned in full.
        p.spend_to(40.0);
        assert!(p.burned() >= Duration::from_millis(40), "{:?}", p.burned());
    }

    #[test]
    fn a_pacer_that_is_off_spends_nothing() {
        let before = thread_cpu();
        let mut p = Pacer::new(false);
        p.spend_to(5_000.0);
        assert_eq!(p.burned(), Duration::ZERO);
        assert!(thread_cpu() - before < Duration::from_millis(1000));
    }

    #[test]
    fn costs_scale_with_pixels_and_bytes() {
        let cpu = CpuSettings {
            decode_ms_per_megapixel: 8.0,
            embed_ms_per_mb: 180.0,
            document_ms_per_photo: 70.0,
            download_ms_per_mb: 2.0,
            upload_ms_per_mb: 1.0,
            ..CpuSettings::default()
        };
        // A 12 MP photo of 3 MiB: 96 + 540 + 70.
        let ms = photo_ms(&cpu, 12_000_000, 3 << 20);
        assert!((ms - 706.0).abs() < 1e-9, "{ms}");
        assert!((download_ms(&cpu, 3 << 20) - 6.0).abs() < 1e-9);
        assert!((upload_ms(&cpu, 1 << 19) - 0.5).abs() < 1e-9);
        assert_eq!(photo_ms(&CpuSettings::default(), 12_000_000, 3 << 20), 0.0);
    }
}
