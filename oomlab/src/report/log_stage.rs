//! The stages an app's own log began (`[log] stage` of its target file;
//! read by `harness::log_stages`), and the stage at a moment.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the harness reads the app's log: a line is stamped at most
/// this late.
pub const READ_INTERVAL: Duration = Duration::from_millis(100);

/// A stage the app's log began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogStage {
    /// When the line was read, seconds since the run started.
    pub at_s: f64,
    /// The stage's name (`[log] stage`).
    pub stage: String,
    /// The line that began it (cut at 200 characters).
    pub line: String,
}

/// The stage the app's log had begun by `at_s` (allowing one read
/// interval for the line to be read).
pub fn at(stages: &[LogStage], at_s: f64) -> Option<&LogStage> {
    let slack = READ_INTERVAL.as_secs_f64();
    stages.iter().rev().find(|s| s.at_s <= at_s + slack)
}
