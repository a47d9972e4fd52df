//! `model.test_leak_per_job_mb`: **for tests only.** A server that really
//! leaks a known amount per completed job, so that the harness's leak
//! verdict (`oomlab`'s memory trend) can be tested on `grows` against a
//! true slope. No shipped profile sets it; the server warns at start when
//! it is set.
//!
//! Each completed job allocates that many MiB, writes every byte (so the
//! pages are resident, not merely reserved) and keeps them for as long as
//! the server runs. Nothing ever frees them: that is the point.

use std::sync::Mutex;

/// Memory leaked on purpose, kept for the life of the server.
#[derive(Default)]
pub struct TestLeak {
    kept: Mutex<Vec<Vec<u8>>>,
}

impl TestLeak {
    /// Leaks `mib` MiB, touched. Nothing for 0.
    pub fn leak(&self, mib: u64) {
        if mib == 0 {
            return;
        }
        // A non-zero fill writes every page: calloc'd zero pages would not
        // be resident.
        let block = vec![0xA5u8; (mib as usize) << 20];
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(block);
    }

    /// Bytes leaked so far.
    pub fn bytes(&self) -> u64 {
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|b| b.len() as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_keeps_its_mebibytes_and_zero_keeps_nothing() {
        let l = TestLeak::default();
        l.leak(0);
        assert_eq!(l.bytes(), 0);
        l.leak(2);
        l.leak(1);
        assert_eq!(l.bytes(), 3 << 20);
    }

    #[test]
    fn the_setting_is_off_by_default_and_bounded() {
        use crate::settings::Settings;
        assert_eq!(Settings::default().model.test_leak_per_job_mb, 0);
        let s = Settings::from_toml("[model]\ntest_leak_per_job_mb = 4").unwrap();
        assert_eq!(s.model.test_leak_per_job_mb, 4);
        let err = Settings::from_toml("[model]\ntest_leak_per_job_mb = 5000")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.test_leak_per_job_mb"), "{err}");
    }
}
