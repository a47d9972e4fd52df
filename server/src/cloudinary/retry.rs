//! How long to wait before the next attempt: exponential backoff, or what
//! Cloudinary asked for with `Retry-After`, never past the settings' cap or
//! the job's deadline.
//!
//! Why honour `Retry-After`: a 429 means Cloudinary's rate limit for the
//! account is spent. Retrying on our own short backoff only spends attempts
//! while the limit still holds, and every photo of the job fails. Why cap it:
//! the header is the server's word, and one photo must not hold a worker for
//! longer than the settings allow (`photos.backoff_max_ms`) or past the
//! job's deadline (`limits.job_deadline_secs`).

use std::time::{Duration, SystemTime};

use crate::settings::PhotoSettings;

/// Backoff before attempt `attempt + 1`: initial, doubling, capped.
pub fn backoff(policy: &PhotoSettings, attempt: u32) -> Duration {
    let ms = policy
        .backoff_initial_ms
        .saturating_mul(1u64 << (attempt.max(1) - 1).min(20))
        .min(policy.backoff_max_ms);
    Duration::from_millis(ms)
}

/// The wait a `Retry-After` value asks for: delay-seconds (`120`) or an
/// HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`, counted from `now`). `None`
/// when the value is neither, so the caller falls back to its backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(at.with_timezone(&chrono::Utc));
    // A date already past asks for no wait.
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait before the next attempt, or `None` when no time is left before
/// the deadline (`remaining` is `Some(ZERO)`), so retrying is pointless.
///
/// With `retry_after` (Cloudinary's `Retry-After`), that wait replaces the
/// backoff, capped at `photos.backoff_max_ms`; either way the wait is cut to
/// the time `remaining` before the deadline.
pub fn retry_delay(
    policy: &PhotoSettings,
    attempt: u32,
    retry_after: Option<Duration>,
    remaining: Option<Duration>,
) -> Option<Duration> {
    let wait = match retry_after {
        Some(asked) => asked.min(Duration::from_millis(policy.backoff_max_ms)),
        None => backoff(policy, attempt),
    };
    match remaining {
        Some(left) if left.is_zero() => None,
        Some(left) => Some(wait.min(left)),
        None => Some(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial: u64, max: u64) -> PhotoSettings {
        PhotoSettings {
            backoff_initial_ms: initial,
            backoff_max_ms: max,
            ..PhotoSettings::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = PhotoSettings::default();
        assert_eq!(backoff(&p, 1), Duration::from_secs(2));
        assert_eq!(backoff(&p, 2), Duration::from_secs(4));
        assert_eq!(backoff(&p, 3), Duration::from_secs(8));
        assert_eq!(backoff(&p, 4), Duration::from_secs(10));
    }

    #[test]
    fn retry_after_replaces_the_backoff_up_to_backoff_max() {
        let p = policy(100, 5_000);
        let secs = Duration::from_secs;
        assert_eq!(
            retry_delay(&p, 1, None, None),
            Some(Duration::from_millis(100))
        );
        assert_eq!(retry_delay(&p, 1, Some(secs(3)), None), Some(secs(3)));
        assert_eq!(
            retry_delay(&p, 1, Some(secs(120)), None),
            Some(secs(5)),
            "capped at photos.backoff_max_ms"
        );
        assert_eq!(
            retry_delay(&p, 1, Some(Duration::ZERO), None),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn the_wait_never_passes_the_deadline() {
        let p = policy(100, 60_000);
        let secs = Duration::from_secs;
        assert_eq!(
            retry_delay(&p, 1, Some(secs(30)), Some(secs(2))),
            Some(secs(2))
        );
        assert_eq!(retry_delay(&p, 8, None, Some(secs(1))), Some(secs(1)));
        assert_eq!(
            retry_delay(&p, 1, Some(secs(30)), Some(Duration::ZERO)),
            None,
            "no time left: no retry"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // 2023-11-14T22:13:20Z is 1_700_000_000; ten seconds later:
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past asks for no wait"
        );
        for bad in ["", "-1", "soon", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
