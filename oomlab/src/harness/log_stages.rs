//! An app's stages, read from its own log (`[log] stage` of its target
//! file): the run's `server.log` is read every [`READ_INTERVAL`] as it
//! grows, each new line is time-stamped as it is read, and a line that
//! matches a stage pattern starts that stage. The stage at a kill, or at
//! the peak, is then the latest one begun by then: "stage pdf, from the
//! app's log: `Generating PDF report...`".
//!
//! One stage for the whole app: its output is one stream, so a stage is
//! the app's latest, not a job's. Lines are read within 100 ms of being
//! written; a stage begun less than that before a kill can be missed.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::report::log_stage::LogStage;
use crate::sampler::Shared;

/// How often the log is read (also the slack of [`at`]).
pub const READ_INTERVAL: Duration = crate::report::log_stage::READ_INTERVAL;
/// Stage changes kept at most (a long soak logs a stage per job).
const MAX_KEPT: usize = 10_000;
/// Longest line quoted, in characters.
const MAX_LINE: usize = 200;

/// Reads `log` from its current end every [`READ_INTERVAL`] until
/// `cancel` (and once more then), and returns the stages it began.
pub async fn follow(
    log: PathBuf,
    patterns: Vec<(regex::Regex, String)>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> Vec<LogStage> {
    let mut out = Vec::new();
    if patterns.is_empty() {
        return out;
    }
    let mut offset = 0u64;
    let mut partial = String::new();
    loop {
        let stop = tokio::select! {
            _ = cancel.cancelled() => true,
            _ = tokio::time::sleep(READ_INTERVAL) => false,
        };
        let at_s = shared.now_ms() as f64 / 1000.0;
        if let Ok(text) = read_from(&log, &mut offset) {
            partial.push_str(&text);
            let complete = partial.rfind('\n').map_or(0, |i| i + 1);
            for line in partial[..complete].lines() {
                if let Some((_, stage)) = patterns.iter().find(|(re, _)| re.is_match(line))
                    && out.len() < MAX_KEPT
                {
                    out.push(LogStage {
                        at_s,
                        stage: stage.clone(),
                        line: line.chars().take(MAX_LINE).collect(),
                    });
                }
            }
            partial.drain(..complete);
        }
        if stop {
            return out;
        }
    }
}

/// What `path` holds past `offset`, the offset moved to its end.
fn read_from(path: &std::path::Path, offset: &mut u64) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(*offset))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    *offset += bytes.len() as u64;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::log_stage::at;

    #[tokio::test]
    async fn new_lines_that_match_begin_stages_as_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        std::fs::write(&log, "").unwrap();
        let shared = Shared::new(
            1 << 30,
            crate::watchdog::Enforce::Off,
            &dir.path().join("s.csv"),
        )
        .unwrap();
        let cancel = CancellationToken::new();
        let patterns = vec![
            (
                regex::Regex::new("Downloading photos").unwrap(),
                "photos".to_string(),
            ),
            (
                regex::Regex::new("Generating PDF").unwrap(),
                "pdf".to_string(),
            ),
        ];
        let task = tokio::spawn(follow(log.clone(), patterns, shared, cancel.clone()));
        let append = |s: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            f.write_all(s.as_bytes()).unwrap();
        };
        append("boot\njob 1: Downloading photos\n");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A line written in two parts counts once, when whole.
        append("job 1: Generating ");
        tokio::time::sleep(Duration::from_millis(250)).await;
        append("PDF report...\n");
        tokio::time::sleep(Duration::from_millis(250)).await;
        cancel.cancel();
        let stages = task.await.unwrap();
        let names: Vec<&str> = stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["photos", "pdf"]);
        assert_eq!(stages[1].line, "job 1: Generating PDF report...");
        assert!(stages[1].at_s > stages[0].at_s);
        assert_eq!(at(&stages, stages[1].at_s).unwrap().stage, "pdf");
        assert_eq!(at(&stages, stages[0].at_s).unwrap().stage, "photos");
        assert!(at(&stages, 0.0).is_none() || stages[0].at_s <= 0.1);
    }
}
