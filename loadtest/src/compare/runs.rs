//! Finished runs: finding `run.json` files to reuse (`--from`), running one
//! more through the harness, and the small parsers `compare`, `gate` and
//! `plan` share (percentages, byte sizes).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::RunArgs;
use crate::error::ConfigError;
use crate::report::RunReport;
use crate::watchdog::Enforce;

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

/// What one harness run needs beyond the profile and scenario.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Profile file or name.
    pub profile: String,
    /// Scenario file or name.
    pub scenario: String,
    /// Limit, e.g. `512MiB`.
    pub limit: String,
    /// How it is enforced.
    pub enforce: Enforce,
    /// Where the run folder goes.
    pub out: PathBuf,
    /// `--max-duration` of the run.
    pub max_duration: String,
    /// Print nothing of the run's own (the caller shows its progress).
    pub quiet_log: bool,
    /// CPU share of the server, cores (`--cpus`); `None`: not limited.
    pub cpus: Option<f64>,
}

impl RunSpec {
    /// The `oomlab run` arguments for this run: quiet (the caller draws its
    /// own progress), no restarts (a kill decides the outcome, so the run
    /// stops at once).
    pub fn run_args(&self) -> RunArgs {
        RunArgs {
            profile: self.profile.clone(),
            scenario: self.scenario.clone(),
            limit: self.limit.clone(),
            enforce: self.enforce,
            cgroup_fallback: false,
            restart_on_oom: false,
            max_restarts: 0,
            out: self.out.clone(),
            max_duration: self.max_duration.clone(),
            ready_timeout: "60s".into(),
            stop_grace: "5s".into(),
            cpus: self.cpus,
            server_bin: None,
            seed: 1,
            quiet: true,
            quiet_log: self.quiet_log,
        }
    }
}

/// Runs one `oomlab run` and returns its report and folder. When the harness
/// wrote a report but then failed (e.g. the load errored), that report is
/// returned with the error noted in its limit notes, so one bad cell does not
/// lose a whole matrix.
pub async fn run_one(spec: &RunSpec) -> anyhow::Result<FinishedRun> {
    std::fs::create_dir_all(&spec.out)
        .with_context(|| format!("creating {}", spec.out.display()))?;
    let before = list_dirs(&spec.out);
    let result = crate::harness::run(spec.run_args()).await;
    let new_dir = list_dirs(&spec.out)
        .into_iter()
        .filter(|d| !before.contains(d))
        .find(|d| d.join("run.json").is_file());
    match (result, new_dir) {
        (Ok(report), Some(dir)) => Ok(FinishedRun { report, dir }),
        (Ok(report), None) => Ok(FinishedRun {
            report,
            dir: spec.out.clone(),
        }),
        (Err(e), Some(dir)) if e.chain().all(|c| c.downcast_ref::<ConfigError>().is_none()) => {
            let mut report = read_run_json("--from", &dir.join("run.json"))
                .map_err(anyhow::Error::from)
                .with_context(|| format!("after: {e:#}"))?;
            report
                .limit
                .notes
                .push(format!("the harness reported: {e:#}"));
            Ok(FinishedRun { report, dir })
        }
        (Err(e), _) => Err(e),
    }
}

fn list_dirs(p: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a share such as `10%`, `10 %`, `0.5%` or `10` (percent) into a
/// fraction (0.10). Must be at least 0 and below 100%.
pub fn parse_percent(flag: &str, s: &str) -> Result<f64, ConfigError> {
    let err = || {
        ConfigError::flag(
            flag,
            format!("`{s}` is not a percentage from 0 to 99"),
            format!("write e.g. {flag} 10%"),
        )
    };
    let t = s.trim().trim_end_matches('%').trim();
    let v: f64 = t.parse().map_err(|_| err())?;
    if !v.is_finite() || !(0.0..100.0).contains(&v) {
        return Err(err());
    }
    Ok(v / 100.0)
}

/// Parses a size flag such as `512MiB` (MB is read as MiB, as the platforms
/// write it).
pub fn parse_size(flag: &str, s: &str) -> Result<u64, ConfigError> {
    match memstats::parse_bytes(s) {
        Ok(0) => Err(ConfigError::flag(
            flag,
            "the size is 0",
            format!("e.g. {flag} 512MiB"),
        )),
        Ok(b) => Ok(b),
        Err(e) => Err(ConfigError::flag(
            flag,
            e.to_string(),
            format!("e.g. {flag} 512MiB"),
        )),
    }
}

/// `bytes` as `123.4 MB` (MiB, as every oomlab report writes it).
pub fn mb(bytes: u64) -> String {
    format!("{} MB", memstats::format_mb(bytes))
}

/// A signed byte count as `+12.3 MB` / `-4.0 MB`.
pub fn signed_mb(bytes: i64) -> String {
    let s = memstats::format_mb(bytes.unsigned_abs());
    if bytes < 0 {
        format!("-{s} MB")
    } else {
        format!("{s} MB")
    }
}

/// Seconds as `12.3 s`, or `n/a`.
pub fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |s| format!("{s:.1} s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_with_or_without_the_sign_and_bad_ones_name_the_flag() {
        assert_eq!(parse_percent("--headroom", "10%").unwrap(), 0.10);
        assert_eq!(parse_percent("--headroom", "5").unwrap(), 0.05);
        assert_eq!(parse_percent("--headroom", "0%").unwrap(), 0.0);
        let e = parse_percent("--headroom", "ten").unwrap_err().to_string();
        assert!(e.contains("--headroom") && e.contains("10%"), "{e}");
        assert!(parse_percent("--headroom", "100%").is_err());
        assert!(parse_percent("--headroom", "-1%").is_err());
    }

    #[test]
    fn sizes_refuse_zero_and_nonsense_naming_the_flag() {
        assert_eq!(parse_size("--budget", "512MiB").unwrap(), 512 << 20);
        assert!(
            parse_size("--budget", "0")
                .unwrap_err()
                .to_string()
                .contains("--budget")
        );
        assert!(
            parse_size("--budget", "lots")
                .unwrap_err()
                .to_string()
                .contains("--budget")
        );
    }
}
