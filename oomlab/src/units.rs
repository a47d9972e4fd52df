//! How figures are written in every report: one `mb()`, one `secs()`.
//!
//! A leaf module. Memory is written in MiB as `123.4 MiB` (1 MiB = 1048576
//! bytes; the label is [`memstats::MIB`], the one place it is spelled);
//! times in seconds with a resolution that fits the figure. The names keep
//! their `mb` for history: the figures were always MiB, only labelled `MB`.

pub use memstats::MIB;

/// `bytes` as `123.4 MiB`.
pub fn mb(bytes: u64) -> String {
    format!("{} {MIB}", memstats::format_mb(bytes))
}

/// An optional size as `123.4 MiB`, or `n/a`.
pub fn opt_mb(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".into(), mb)
}

/// A signed byte count as `12.3 MiB` / `-4.0 MiB`.
pub fn signed_mb(bytes: i64) -> String {
    let s = memstats::format_mb(bytes.unsigned_abs());
    if bytes < 0 {
        format!("-{s} {MIB}")
    } else {
        format!("{s} {MIB}")
    }
}

/// Seconds as `12.3 s`, or `n/a`.
pub fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |s| format!("{s:.1} s"))
}

/// A time measured to the millisecond: `0.842 s` under 10 s, `12.31 s`
/// under 100 s, `312.4 s` above; `n/a` when unknown.
pub fn secs_ms(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(s) if s < 10.0 => format!("{s:.3} s"),
        Some(s) if s < 100.0 => format!("{s:.2} s"),
        Some(s) => format!("{s:.1} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_mib_with_one_decimal() {
        assert_eq!(mb(512 << 20), "512.0 MiB");
        assert_eq!(signed_mb(-(3 << 20)), "-3.0 MiB");
        assert_eq!(opt_mb(None), "n/a");
    }

    #[test]
    fn millisecond_times_keep_their_resolution() {
        assert_eq!(secs_ms(Some(0.8424)), "0.842 s");
        assert_eq!(secs_ms(Some(12.3141)), "12.31 s");
        assert_eq!(secs_ms(None), "n/a");
        assert_eq!(secs(Some(1.26)), "1.3 s");
    }
}
