//! A matrix of runs, one after the other: `compare`'s targets x scenarios,
//! `plan`'s CPU shares x configurations x scenarios, `gate`'s one run.
//!
//! Cells run in order, never two at once (a run must not share the machine
//! with another), each in a fresh folder, with a progress bar on a terminal.
//! A cell whose inputs are wrong stops the matrix (exit 2); a cell whose
//! harness failed is noted and skipped, so one bad cell does not lose the
//! rest; a cell whose target crashed before it was ready is run once more
//! (no load ran, so the crash says nothing of the configuration), and the
//! notes say so; Ctrl-C stops after the interrupted cell.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::app_target::Target;
use crate::error::Exit;
use crate::finished::FinishedRun;
use crate::harness::{self, Output, RunConfig};
use crate::report::{Outcome, RunReport};
use crate::scenario::Scenario;
use crate::watchdog::Enforce;

/// What every run of a matrix shares.
#[derive(Debug, Clone)]
pub struct MatrixSettings {
    /// The folder that receives the matrix's folder.
    pub out: PathBuf,
    /// Stop any one run after this long.
    pub max_run_duration: Duration,
    /// No progress bar.
    pub quiet: bool,
    /// The heap tracer of the app targets' runs (`compare --heap`); the
    /// reference server's runs are never traced.
    pub heap: crate::heap::HeapMode,
}

impl MatrixSettings {
    /// A run of a cell: silent (the matrix shows progress), no restarts (a
    /// kill decides the outcome), its folder under `runs`.
    pub fn cell(
        &self,
        target: Target,
        scenario: Scenario,
        limit: u64,
        enforce: Enforce,
        runs: &Path,
    ) -> RunConfig {
        RunConfig {
            limit,
            enforce,
            out: runs.to_path_buf(),
            max_duration: self.max_run_duration,
            output: Output::Silent,
            heap: if target.kind == crate::app_target::TargetKind::App {
                self.heap
            } else {
                crate::heap::HeapMode::Off
            },
            ..RunConfig::new(target, scenario)
        }
    }
}

/// One run of a matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The run.
    pub run: RunConfig,
    /// How the progress lines name it, e.g. `lean on two-reports`.
    pub label: String,
}

/// What a matrix made.
#[derive(Debug, Default)]
pub struct MatrixOutput {
    /// The finished runs, in order.
    pub runs: Vec<FinishedRun>,
    /// Cells that failed, and an interruption.
    pub notes: Vec<String>,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Runs every cell in order; `line` writes the progress line of a finished
/// cell (its verdict).
pub async fn run(
    cells: Vec<Cell>,
    quiet: bool,
    line: impl Fn(&FinishedRun) -> String,
) -> anyhow::Result<MatrixOutput> {
    let pb = progress_bar(cells.len() as u64, quiet);
    let mut out = MatrixOutput::default();
    for mut cell in cells {
        pb.set_message(cell.label.clone());
        cell.run.output = Output::Silent;
        match run_retrying_a_crashed_start(&cell, &pb, &mut out.notes).await {
            Ok(run) => {
                pb.println(format!("{}: {}", cell.label, line(&run)));
                let interrupted = run.report.verdict.outcome == Outcome::Interrupted;
                out.runs.push(run);
                if interrupted {
                    out.interrupted = true;
                    out.notes
                        .push("interrupted: the runs after this one were not made".into());
                    break;
                }
            }
            Err(e) if Exit::for_error(&e) == Exit::BadInput => return Err(e),
            Err(e) => {
                pb.println(format!("{}: the run failed: {e:#}", cell.label));
                out.notes.push(format!(
                    "{}: the run failed and is not in the table: {e:#}",
                    cell.label
                ));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// A cell's run, made once more when its target crashed before it was
/// ready. Such a crash says nothing of the configuration's memory (no load
/// ran), so it must not decide the cell: the retry does, and its report and
/// the matrix's notes say that it is a retry. When the retry crashes before
/// it is ready too, the cell failed (an error: not in the table, not
/// counted as a configuration that does not hold).
async fn run_retrying_a_crashed_start(
    cell: &Cell,
    pb: &indicatif::ProgressBar,
    notes: &mut Vec<String>,
) -> anyhow::Result<FinishedRun> {
    let first = run_one(&cell.run).await?;
    let Some(how) = crashed_before_ready(&first.report) else {
        return Ok(first);
    };
    let note = format!(
        "{}: the target crashed before it was ready ({how}; its report: {}); retried once",
        cell.label,
        first.dir.display()
    );
    // Said even without a terminal (the progress bar is hidden then).
    if pb.is_hidden() {
        eprintln!("{note}");
    } else {
        pb.println(&note);
    }
    notes.push(note);
    let mut retry = run_one(&cell.run).await?;
    if let Some(again) = crashed_before_ready(&retry.report) {
        anyhow::bail!(
            "the target crashed before it was ready twice ({how}, then {again}; reports: {} and {})",
            first.dir.display(),
            retry.dir.display()
        );
    }
    retry.report.limit.notes.push(format!(
        "this run is a retry: the first attempt's target crashed before it was ready ({how}); its report is in {}",
        first.dir.display()
    ));
    rewrite_text_reports(&retry)?;
    Ok(retry)
}

/// How the target crashed, when a run ended with a crash before the target
/// was ready (no load ran).
pub fn crashed_before_ready(r: &RunReport) -> Option<String> {
    if r.verdict.outcome != Outcome::Crashed {
        return None;
    }
    r.server
        .exits
        .iter()
        .filter_map(|x| x.crash.as_ref())
        .find(|c| c.before_ready)
        .map(|c| c.how())
}

/// `run.json` and `report.md` of `run` written again, after a note was
/// added (`memory.svg` does not show notes).
fn rewrite_text_reports(run: &FinishedRun) -> anyhow::Result<()> {
    let files = &run.report.files;
    let p = run.dir.join(&files.run_json);
    std::fs::write(&p, serde_json::to_string_pretty(&run.report)? + "\n")
        .with_context(|| format!("writing {}", p.display()))?;
    let p = run.dir.join(&files.report_md);
    std::fs::write(&p, crate::report::markdown::render(&run.report))
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// One run. When the harness wrote a report but then failed (the load
/// failed), the report is kept with the failure in its limit notes.
pub async fn run_one(cfg: &RunConfig) -> anyhow::Result<FinishedRun> {
    let mut out = harness::run(cfg).await?;
    if let Some(e) = out.failure.take() {
        out.report
            .limit
            .notes
            .push(format!("the harness reported: {e:#}"));
    }
    Ok(FinishedRun {
        report: out.report,
        dir: out.dir,
    })
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(500));
    pb
}

/// A fresh `<out>/<kind>-<timestamp>[-N]` folder.
pub fn stamped_dir(out: &Path, kind: &str) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    crate::folders::fresh_dir(out, &format!("{kind}-{stamp}"))
}
