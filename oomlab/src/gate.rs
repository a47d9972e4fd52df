//! `oomlab gate`: the CI check. Passes when a run's peak memory stays under
//! the budget minus its headroom and has not grown beyond the allowed share
//! against a baseline run; writes JUnit XML and a Markdown summary (appended
//! to `$GITHUB_STEP_SUMMARY` when set).
//!
//! With `--max-slope`, the memory trend's slope is a check too
//! ([`slope::check`], pure as well).
//!
//! The decision is [`evaluate`], a pure function of the run report and the
//! thresholds, so it is tested on synthetic reports; [`run`] only gathers the
//! inputs and writes the outputs.

mod slope;

pub use slope::{MaxSlope, Per};

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::error::Exit;
use crate::finished::peak_of;
use crate::harness::RunConfig;
use crate::report::{Outcome, RunReport};
use crate::table::{Align, Table};
use crate::units::mb;
use crate::watchdog::of_which_runtime;

/// What `oomlab gate` checks.
#[derive(Debug)]
pub struct GateConfig {
    /// The run to judge.
    pub source: GateSource,
    /// The thresholds.
    pub thresholds: Thresholds,
    /// A baseline run (its path and report) to check regression against;
    /// read before anything runs.
    pub baseline: Option<(PathBuf, RunReport)>,
    /// JUnit XML output; default `gate-junit.xml` in the run's folder.
    pub junit: Option<PathBuf>,
    /// Markdown summary output; default `gate.md` in the run's folder.
    pub summary: Option<PathBuf>,
    /// The most the RSS may grow per job or per hour (`--max-slope`), each
    /// a check of its own.
    pub max_slopes: Vec<MaxSlope>,
}

/// Where the gate's run comes from.
#[derive(Debug)]
pub enum GateSource {
    /// Make this run (held to the budget).
    Run(Box<RunConfig>),
    /// A finished run: its run.json, read.
    From(PathBuf, Box<RunReport>),
}

/// The thresholds of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// The budget, bytes.
    pub budget_bytes: u64,
    /// Share of the budget that must stay free (0.10 = 10%).
    pub headroom: f64,
    /// Most the peak may grow against the baseline (0.05 = 5%).
    pub max_regression: f64,
}

impl Thresholds {
    /// budget x (1 - headroom), bytes: the peak must stay under it.
    pub fn ceiling_bytes(&self) -> u64 {
        (self.budget_bytes as f64 * (1.0 - self.headroom)).floor() as u64
    }
}

/// One check of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is checked, e.g. `peak under budget minus headroom`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// One line that names the figure, the threshold and, on failure, the
    /// stage at the peak.
    pub message: String,
}

/// The gate's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// The profile of the run.
    pub profile: String,
    /// The scenario of the run.
    pub scenario: String,
    /// The peak memory, bytes.
    pub peak_bytes: u64,
    /// Which figure the peak is.
    pub peak_source: String,
    /// The jobs and stages in flight at the peak.
    pub stage_at_peak: String,
    /// The baseline's peak, bytes.
    pub baseline_peak_bytes: Option<u64>,
    /// The thresholds.
    pub thresholds: Thresholds,
    /// Every check.
    pub checks: Vec<Check>,
    /// The harness's verdict line.
    pub run_summary: String,
    /// How long the gated run took, seconds.
    pub run_duration_s: f64,
    /// Memory the target holds as a declared stand-in for a modelled
    /// runtime, included in the peak, bytes.
    pub modelled_runtime_bytes: Option<u64>,
}

impl GateResult {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// Which figure of `r` is its peak (for messages).
fn peak_source(r: &RunReport) -> String {
    let p = peak_of(r);
    let source = if let Some(e) = r.oom_events.iter().find(|e| e.bytes() == p) {
        format!("{} at the kill at {:.1} s", e.trigger.label(), e.at_s)
    } else if p == r.peaks.sampled_rss_bytes {
        format!("sampled RSS at {:.1} s", r.peaks.sampled_rss_at_s)
    } else {
        "VmHWM, the kernel's high-water mark".into()
    };
    source + &of_which_runtime(r.modelled_runtime_bytes)
}

/// The jobs and stages in flight at the peak, in words.
pub fn stage_at_peak(r: &RunReport) -> String {
    let p = peak_of(r);
    if let Some(e) = r
        .oom_events
        .iter()
        .find(|e| e.bytes() == p)
        .or(r.oom_events.first())
        && !e.jobs_in_flight.is_empty()
    {
        return e
            .jobs_in_flight
            .iter()
            .map(|j| format!("job {} in stage {}", j.job_id, j.stage))
            .collect::<Vec<_>>()
            .join(", ");
    }
    let parts: Vec<String> = r
        .peaks
        .stages_at_peak
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once(':') {
            Some((id, stage)) => format!("job {id} in stage {stage}"),
            None => s.to_string(),
        })
        .collect();
    if parts.is_empty() {
        "no job in flight".into()
    } else {
        parts.join(", ")
    }
}

/// Judges `run` against the thresholds and an optional baseline.
pub fn evaluate(
    run: &RunReport,
    baseline: Option<(&Path, &RunReport)>,
    t: Thresholds,
) -> GateResult {
    let peak = peak_of(run);
    let source = peak_source(run);
    let stage = stage_at_peak(run);
    let ceiling = t.ceiling_bytes();
    let pct = |f: f64| format!("{:.0}%", f * 100.0);
    let mut checks = Vec::new();

    // A kill is a failure of its own in CI's test list, not only a peak
    // over the budget: the load did not run to its end.
    let finished = matches!(
        run.verdict.outcome,
        Outcome::WithinLimit | Outcome::Crossed | Outcome::LoadFailed
    );
    checks.push(Check {
        name: "the run finished".into(),
        passed: finished,
        message: match run.verdict.outcome {
            _ if finished => run.verdict.summary.clone(),
            Outcome::Killed => format!("the server was killed: {}", run.verdict.summary),
            _ => format!(
                "the run did not finish, so its peak is not known: {}",
                run.verdict.summary
            ),
        },
    });

    // A peak from a load that did not do its work gates nothing.
    let load_done = run.verdict.outcome != Outcome::LoadFailed;
    checks.push(Check {
        name: "the load did its work".into(),
        passed: load_done,
        message: if load_done {
            run.load.work.counts()
        } else {
            format!(
                "{}: its peak is not an answer",
                run.load.work.failures.first().map_or_else(
                    || run.verdict.summary.clone(),
                    |f| format!("the load failed: {}", f.line())
                )
            )
        },
    });

    // A job lost to a death (a worker killed inside the tree, its job
    // never finished) is a failure even when the run "finished".
    if run.load.jobs_lost > 0 {
        checks.push(Check {
            name: "no job was lost".into(),
            passed: false,
            message: format!(
                "{} of {} acknowledged job(s) lost: a process of the app died while they were in flight and they never finished",
                run.load.jobs_lost, run.load.submissions_acknowledged
            ),
        });
    }

    let under = peak < ceiling;
    let message = if peak >= t.budget_bytes {
        format!(
            "peak memory {} ({source}) is over the budget of {}; at the peak: {stage}",
            mb(peak),
            mb(t.budget_bytes)
        )
    } else if !under {
        format!(
            "peak memory {} ({source}) is under the budget of {} but inside its {} headroom: it must stay under {}; at the peak: {stage}",
            mb(peak),
            mb(t.budget_bytes),
            pct(t.headroom),
            mb(ceiling)
        )
    } else {
        format!(
            "peak memory {} ({source}) is under the budget of {} minus {} headroom ({}), {} to spare",
            mb(peak),
            mb(t.budget_bytes),
            pct(t.headroom),
            mb(ceiling),
            mb(ceiling - peak)
        )
    };
    checks.push(Check {
        name: "peak under budget minus headroom".into(),
        passed: under,
        message,
    });

    let mut baseline_peak = None;
    if let Some((path, base)) = baseline {
        let b = peak_of(base);
        baseline_peak = Some(b);
        let allowed = (b as f64 * (1.0 + t.max_regression)).floor() as u64;
        let change = if b > 0 {
            peak as f64 / b as f64 - 1.0
        } else {
            0.0
        };
        let ok = peak <= allowed;
        let message = format!(
            "peak memory {} is {}{:.1}% against the baseline's {} ({}); allowed: up to +{} ({}){}",
            mb(peak),
            if change >= 0.0 { "+" } else { "" },
            change * 100.0,
            mb(b),
            path.display(),
            pct(t.max_regression),
            mb(allowed),
            if ok {
                String::new()
            } else {
                format!("; at the peak: {stage}")
            }
        );
        checks.push(Check {
            name: "no regression against the baseline".into(),
            passed: ok,
            message,
        });
    }

    GateResult {
        profile: run.profile.name.clone(),
        scenario: run.scenario.name.clone(),
        peak_bytes: peak,
        peak_source: source,
        stage_at_peak: stage,
        baseline_peak_bytes: baseline_peak,
        thresholds: t,
        checks,
        run_summary: run.verdict.summary.clone(),
        run_duration_s: run.duration_s,
        modelled_runtime_bytes: run.modelled_runtime_bytes,
    }
}

/// The JUnit XML of a gate: one suite, one test case per check.
pub fn junit(g: &GateResult) -> anyhow::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("oomlab gate");
    let mut suite = TestSuite::new(format!("memory gate: {} on {}", g.profile, g.scenario));
    let run_time = std::time::Duration::try_from_secs_f64(g.run_duration_s).unwrap_or_default();
    for c in &g.checks {
        let status = if c.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(c.message.clone()).set_type("memory");
            s
        };
        let mut tc = TestCase::new(c.name.clone(), status);
        tc.set_classname(format!("oomlab.gate.{}.{}", g.profile, g.scenario));
        tc.set_system_out(c.message.clone());
        // The checks judge one run: each takes the run's time.
        tc.set_time(run_time);
        suite.add_test_case(tc);
    }
    suite.set_time(run_time);
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

/// The Markdown summary of a gate.
pub fn markdown(g: &GateResult) -> String {
    let mut s = format!(
        "## oomlab gate: {} ({} on {})\n\n",
        if g.passed() { "passed" } else { "FAILED" },
        g.profile,
        g.scenario
    );
    let mut t = Table::new(&[("figure", Align::Text), ("value", Align::Text)]);
    t.row(vec![
        "peak memory".into(),
        format!("{} ({})", mb(g.peak_bytes), g.peak_source),
    ]);
    if let Some(m) = g.modelled_runtime_bytes.filter(|m| *m > 0) {
        t.row(vec![
            "of which modelled runtime (declared, included)".into(),
            mb(m),
        ]);
    }
    t.row(vec!["budget".into(), mb(g.thresholds.budget_bytes)]);
    t.row(vec![
        format!(
            "must stay under (budget minus {:.0}% headroom)",
            g.thresholds.headroom * 100.0
        ),
        mb(g.thresholds.ceiling_bytes()),
    ]);
    if let Some(b) = g.baseline_peak_bytes {
        t.row(vec![
            format!(
                "baseline peak (allowed +{:.0}%)",
                g.thresholds.max_regression * 100.0
            ),
            mb(b),
        ]);
    }
    t.row(vec!["at the peak".into(), g.stage_at_peak.to_string()]);
    t.row(vec!["run".into(), g.run_summary.clone()]);
    s.push_str(&t.markdown());
    s.push('\n');
    for c in &g.checks {
        s.push_str(&format!(
            "- {} ({}): {}\n",
            if c.passed { "pass" } else { "**FAIL**" },
            c.name,
            c.message
        ));
    }
    s.push_str("\nMemory is the server process's resident set (RSS, sampled every 10 ms) and the kernel's high-water mark (VmHWM); 1 MiB = 1048576 bytes.\n");
    s
}

/// Runs `oomlab gate`.
pub async fn run(cfg: &GateConfig) -> anyhow::Result<Exit> {
    let (report, dir) = match &cfg.source {
        GateSource::From(p, r) => (
            (**r).clone(),
            p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        GateSource::Run(run) => {
            let run = crate::matrix::run_one(run).await?;
            (run.report, run.dir)
        }
    };
    if report.verdict.outcome == Outcome::Interrupted {
        anyhow::bail!("the run was interrupted: {}", report.verdict.summary);
    }
    // A slope that cannot be judged (too few jobs) is exit 2, before any
    // file is written.
    let slope_checks = cfg
        .max_slopes
        .iter()
        .map(|m| slope::check(&report, m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut g = evaluate(
        &report,
        cfg.baseline.as_ref().map(|(p, r)| (p.as_path(), r)),
        cfg.thresholds,
    );
    g.checks.extend(slope_checks);

    let junit_path = cfg
        .junit
        .clone()
        .unwrap_or_else(|| dir.join("gate-junit.xml"));
    let summary_path = cfg.summary.clone().unwrap_or_else(|| dir.join("gate.md"));
    write_file(&junit_path, &junit(&g)?).context("writing the JUnit file (--junit)")?;
    let md = markdown(&g);
    write_file(&summary_path, &md).context("writing the summary (--summary)")?;
    if let Some(step) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&step)
            .with_context(|| {
                format!(
                    "opening $GITHUB_STEP_SUMMARY ({})",
                    PathBuf::from(&step).display()
                )
            })?;
        writeln!(f, "{md}").context("appending to $GITHUB_STEP_SUMMARY")?;
    }

    // One check a line, wrapped to the terminal's 100 columns.
    for c in &g.checks {
        print!(
            "{}",
            crate::table::wrap(
                &format!(
                    "{} {}: {}",
                    if c.passed { "pass" } else { "FAIL" },
                    c.name,
                    c.message
                ),
                crate::table::WIDTH,
                "     "
            )
        );
    }
    println!(
        "junit: {}\nsummary: {}",
        junit_path.display(),
        summary_path.display()
    );
    if g.passed() {
        println!("oomlab gate: passed");
        Ok(Exit::WithinLimit)
    } else {
        // The failed checks by name (their messages are on the FAIL lines
        // above), wrapped like them.
        eprint!(
            "{}",
            crate::table::wrap(
                &format!(
                    "oomlab gate: FAILED: {}",
                    g.checks
                        .iter()
                        .filter(|c| !c.passed)
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                crate::table::WIDTH,
                "     "
            )
        );
        // The load failing is its own answer (exit 4), as for `oomlab run`.
        let load_failed = g
            .checks
            .iter()
            .any(|c| !c.passed && c.name == "the load did its work");
        Ok(if load_failed {
            Exit::LoadFailed
        } else {
            Exit::LimitCrossed
        })
    }
}

fn write_file(p: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))
}
