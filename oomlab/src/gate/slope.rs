//! `oomlab gate --max-slope 1MiB/job` (or `20MiB/h`): the memory trend's
//! anonymous RSS slope (Theil-Sen, after the warm-up; `report::leak`) held to a
//! limit. A run without a trend (fewer than 5 completed jobs of one server
//! start) cannot be judged: that is the user's to fix, exit 2.

use serde::Serialize;

use super::Check;
use crate::error::ConfigError;
use crate::report::RunReport;
use crate::report::leak::slope_text;
use crate::trend::MIN_JOBS;
use crate::units::mb;

/// What a slope is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Per completed job.
    Job,
    /// Per hour of the run.
    Hour,
}

impl Per {
    fn unit(self) -> &'static str {
        match self {
            Per::Job => "job",
            Per::Hour => "h",
        }
    }
}

/// The most the RSS may grow per job or per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MaxSlope {
    /// Bytes per unit.
    pub bytes: u64,
    /// The unit.
    pub per: Per,
}

impl MaxSlope {
    /// `1MiB/job`, `512KiB/job`, `20MiB/h` (also `/hour`); a clap value
    /// parser.
    pub fn parse(s: &str) -> Result<MaxSlope, String> {
        let err =
            |why: &str| format!("`{s}` is not a slope: {why}; write e.g. 1MiB/job or 20MiB/h");
        let (size, per) = s
            .trim()
            .rsplit_once('/')
            .ok_or_else(|| err("no `/job` or `/h`"))?;
        let per = match per.trim() {
            "job" => Per::Job,
            "h" | "hour" => Per::Hour,
            _ => return Err(err("the unit after `/` must be job or h")),
        };
        let bytes = memstats::parse_bytes(size).map_err(|e| err(&e.to_string()))?;
        Ok(MaxSlope { bytes, per })
    }

    /// As written in messages: `1.0 MiB/job`.
    pub fn label(&self) -> String {
        format!("{}/{}", mb(self.bytes), self.per.unit())
    }
}

/// The check of `run`'s anonymous RSS slope against `max`. A run without a trend is
/// an error naming the flag and the fix.
pub fn check(run: &RunReport, max: &MaxSlope) -> Result<Check, ConfigError> {
    let Some(t) = &run.trend else {
        return Err(ConfigError::flag(
            "--max-slope",
            format!(
                "the run has no memory trend to judge: {} job(s) completed, and a slope needs at least {MIN_JOBS} completed jobs of one server start",
                run.load.jobs_completed
            ),
            "gate on a scenario with at least 5 jobs (e.g. --scenario soak, or `iterations` in the scenario), or drop --max-slope",
        ));
    };
    let slope = match max.per {
        Per::Job => Some(t.rss.slope_per_job),
        Per::Hour => t.rss.slope_per_hour,
    };
    let Some(slope) = slope else {
        return Err(ConfigError::flag(
            "--max-slope",
            "the run's cycle points share one time, so it has no slope per hour",
            "use a slope per job (e.g. 1MiB/job)",
        ));
    };
    let passed = slope.estimate <= max.bytes as f64;
    Ok(Check {
        name: format!("anonymous RSS slope at most {}", max.label()),
        passed,
        message: format!(
            "anonymous RSS slope {} over {} jobs after {} warm-up ({}); allowed: up to {}",
            slope_text(&slope, max.per.unit()),
            t.jobs - t.warmup_jobs,
            t.warmup_jobs,
            t.verdict.as_str(),
            max.label()
        ),
    })
}
