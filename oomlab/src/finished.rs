//! Finished runs: a `run.json` and its folder, read back for `--from`,
//! `--baseline`, and the tables of `compare` and `plan`.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::report::RunReport;

/// A run report and the folder it was read from (or written to).
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The report.
    pub report: RunReport,
    /// The run's folder.
    pub dir: PathBuf,
}

impl FinishedRun {
    /// The highest memory the run saw, bytes: the sampled RSS, the kernel's
    /// high-water mark, and any limit crossing, whichever is highest.
    pub fn peak_bytes(&self) -> u64 {
        peak_of(&self.report)
    }
}

/// The highest memory `r` saw, bytes (sampled RSS, VmHWM, OOM events).
pub fn peak_of(r: &RunReport) -> u64 {
    r.oom_events
        .iter()
        .map(|e| e.bytes())
        .fold(r.peaks.sampled_rss_bytes.max(r.peaks.vmhwm_bytes), u64::max)
}

/// Reads one `run.json`. Missing or malformed files are the user's to fix
/// (exit 2), and the message names the flag and the file.
pub fn read_run_json(flag: &str, path: &Path) -> Result<RunReport, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::flag(
            flag,
            format!("cannot read {}: {e}", path.display()),
            "pass the run.json of a finished `oomlab run` (reports/<run>/run.json)",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::flag(
            flag,
            format!("{} is not a run.json of this oomlab version: {e}", path.display()),
            "pass the run.json that `oomlab run` wrote (reports/<run>/run.json), or run again to make one",
        )
    })
}

/// Every `run.json` under `paths` (files, run folders, or folders of runs
/// such as a `compare-*` folder), sorted by path.
pub fn find_runs(flag: &str, paths: &[PathBuf]) -> Result<Vec<FinishedRun>, ConfigError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
        } else if p.is_dir() {
            collect_run_json(p, 0, &mut files);
        } else {
            return Err(ConfigError::flag(
                flag,
                format!("{} does not exist", p.display()),
                "pass a run.json, a run folder or a folder of runs under reports/",
            ));
        }
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(ConfigError::flag(
            flag,
            format!(
                "no run.json under {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "pass folders that `oomlab run` or `oomlab compare` wrote, e.g. reports/compare-20261128-120000",
        ));
    }
    files
        .into_iter()
        .map(|f| {
            let report = read_run_json(flag, &f)?;
            let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok(FinishedRun { report, dir })
        })
        .collect()
}

/// Depth-bounded so a `--from /` cannot walk the whole disk.
fn collect_run_json(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            // The server's own data and uploads hold no run reports.
            let name = e.file_name();
            if name != "server-data" && name != "cloudinary" {
                collect_run_json(&p, depth + 1, out);
            }
        } else if e.file_name() == "run.json" {
            out.push(p);
        }
    }
}
