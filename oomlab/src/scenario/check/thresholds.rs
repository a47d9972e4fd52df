//! Checks `[thresholds]` (see [`crate::scenario::thresholds`]).

use super::*;
use crate::scenario::thresholds::{Share, Thresholds};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::scenario) struct RawThresholds {
    http_errors: Option<u64>,
    reports_completed: Option<toml::Value>,
    degraded_photos: Option<u64>,
    max_job_s: Option<f64>,
    app_errors: Option<u64>,
}

impl Checker<'_> {
    pub(super) fn thresholds(&self, raw: RawThresholds) -> Result<Thresholds, ConfigError> {
        let defaults = Thresholds::default();
        let reports_completed = match raw.reports_completed {
            None => defaults.reports_completed,
            Some(v) => self.share("thresholds.reports_completed", &v)?,
        };
        let max_job = raw
            .max_job_s
            .map(|s| self.seconds("thresholds.max_job_s", s, 0.001, MAX_RUN_TIME_S))
            .transpose()?;
        Ok(Thresholds {
            http_errors: raw.http_errors.unwrap_or(defaults.http_errors),
            reports_completed,
            degraded_photos: raw.degraded_photos,
            max_job,
            app_errors: raw.app_errors.unwrap_or(defaults.app_errors),
        })
    }

    /// `"90%"` or a count (`3`).
    fn share(&self, key: &str, v: &toml::Value) -> Result<Share, ConfigError> {
        let fix = "write a percentage as a string (\"90%\") or a count of reports (3)";
        match v {
            toml::Value::Integer(n) if *n >= 0 => Ok(Share::Count(*n as u64)),
            toml::Value::String(s) => {
                let p = s
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite() && (0.0..=100.0).contains(p));
                p.map(Share::Percent).ok_or_else(|| {
                    self.invalid(
                        key,
                        format!("`{s}` is not a percentage from 0% to 100%"),
                        fix,
                    )
                })
            }
            other => Err(self.invalid(key, format!("`{other}` is not a share"), fix)),
        }
    }
}
