//! One `oomlab run` from start to verdict.
//!
//! Order of events: check the inputs (every mistake is a [`ConfigError`],
//! exit 2, before anything starts); make the run folder and `samples.csv`;
//! start the fake Cloudinary in this process; start the server as a child
//! (in its memory cgroup with `--enforce cgroup`); start the `/proc`
//! sampler-watchdog thread and the `/debug/memory` poller; run the load; on
//! a kill, restart the server or stop the load; then stop everything and
//! write `run.json`, `report.md` and `memory.svg`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cgroup::{CpuCgroup, CpuLimitReport, MemoryCgroup};
use crate::child::{ServerCommand, ServerProcess};
use crate::cli::{RunArgs, parse_duration, resolve_input};
use crate::error::ConfigError;
use crate::load::{CloudinaryTarget, LoadOutcome, LoadTarget, run_load};
use crate::report::{
    self, CgroupReport, Files, InputFile, JobReport, LimitReport, LoadReport, Outcome, RunReport,
    SamplingReport, ServerExit, ServerReport, Verdict,
};
use crate::sampler::{self, Sampler, Shared, Target};
use crate::scenario::Scenario;
use crate::watchdog::Enforce;

/// How long the load may take to return after it was told to stop.
const LOAD_STOP_GRACE: Duration = Duration::from_secs(20);

/// Everything checked before the run starts.
struct Plan {
    limit: u64,
    enforce: Enforce,
    notes: Vec<String>,
    cgroup: Option<Arc<MemoryCgroup>>,
    /// The CPU cgroup with `--cpus`, when one could be made.
    cpu: Option<CpuCgroup>,
    /// What run.json says of the CPU when `cpu` is `None`.
    cpu_unlimited: CpuLimitReport,
    max_duration: Duration,
    ready_timeout: Duration,
    /// How long the server may take to stop on SIGTERM at the end of a run
    /// (`--stop-grace`).
    stop_grace: Duration,
    profile: InputFile,
    scenario: Scenario,
}

fn plan(args: &RunArgs) -> anyhow::Result<Plan> {
    let limit = memstats::parse_bytes(&args.limit).map_err(|e| {
        ConfigError::flag(
            "--limit",
            e.to_string(),
            "e.g. --limit 512MiB (Render's free plan)",
        )
    })?;
    if limit == 0 {
        return Err(ConfigError::flag("--limit", "the limit is 0", "e.g. --limit 512MiB").into());
    }
    let max_duration = parse_duration("--max-duration", &args.max_duration)?;
    let ready_timeout = parse_duration("--ready-timeout", &args.ready_timeout)?;
    let stop_grace = parse_duration("--stop-grace", &args.stop_grace)?;
    let profile_path = resolve_input("--profile", &args.profile, "profiles")?;
    std::fs::File::open(&profile_path).map_err(|source| ConfigError::Read {
        path: profile_path.clone(),
        source,
    })?;
    let scenario_path = resolve_input("--scenario", &args.scenario, "scenarios")?;
    let scenario = Scenario::load(&scenario_path)?;
    if let Some(bin) = &args.server_bin
        && !bin.is_file()
    {
        return Err(ConfigError::flag(
            "--server-bin",
            format!("{} is not a file", bin.display()),
            "pass the path of a built server, e.g. target/release/report-server, or leave the flag out",
        )
        .into());
    }
    let mut enforce = args.enforce;
    let mut notes = Vec::new();
    let mut cgroup = None;
    if enforce == Enforce::Cgroup {
        let name = format!(
            "oomlab-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        match MemoryCgroup::create(&name, limit) {
            Ok(cg) => cgroup = Some(Arc::new(cg)),
            Err(why) if args.cgroup_fallback => {
                let note = format!(
                    "--enforce cgroup is not possible here ({why}); the watchdog enforced the limit instead"
                );
                if !args.quiet_log {
                    eprintln!("oomlab: {note}");
                }
                notes.push(note);
                enforce = Enforce::Watchdog;
            }
            Err(why) => {
                return Err(ConfigError::Unsupported {
                    what: "--enforce cgroup".into(),
                    why,
                    fix: "use --enforce watchdog (the default), or add --cgroup-fallback to fall back to it".into(),
                }
                .into());
            }
        }
    }
    if let Some(c) = args.cpus
        && !(c > 0.0 && c.is_finite())
    {
        return Err(ConfigError::flag(
            "--cpus",
            format!("`{c}` is not a positive share of a core"),
            "e.g. --cpus 0.5",
        )
        .into());
    }
    let (cpu, cpu_unlimited) = crate::cgroup::cpu_limit(
        args.cpus,
        &format!(
            "oomlab-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ),
    );
    if let Some(why) = &cpu_unlimited.why_not {
        let note = format!("CPU was not limited: {why}");
        if !args.quiet_log {
            eprintln!("oomlab: {note}");
        }
        notes.push(note);
    }
    let profile = InputFile {
        name: profile_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "profile".into()),
        path: profile_path,
    };
    Ok(Plan {
        limit,
        enforce,
        notes,
        cgroup,
        cpu,
        cpu_unlimited,
        max_duration,
        ready_timeout,
        stop_grace,
        profile,
        scenario,
    })
}

/// A fresh folder `<out>/<timestamp>-<profile>-<scenario>[-N]`.
fn run_dir(out: &Path, stamp: &str, profile: &str, scenario: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the reports folder {} (--out)", out.display()))?;
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let base = format!("{stamp}-{}-{}", clean(profile), clean(scenario));
    for n in 0..1000 {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!("too many runs named {base} in {}", out.display())
}

/// Ctrl-C and SIGTERM, registered before anything starts so that a signal
/// during start-up is not lost (nor fatal: without a handler SIGTERM would
/// kill the harness before it could stop the server and write the report).
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("handling Ctrl-C")?,
            term: signal(SignalKind::terminate()).context("handling SIGTERM")?,
        })
    }

    /// Resolves on Ctrl-C or SIGTERM.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
    }
}

/// The server start in progress, with its sampler and poller.
struct Running {
    server: ServerProcess,
    sampler: Sampler,
    poller: CancellationToken,
    generation: u32,
    started_at_s: f64,
    ready_after_s: f64,
}

async fn start_server(
    cmd: &ServerCommand,
    plan: &Plan,
    shared: &Arc<Shared>,
    generation: u32,
) -> anyhow::Result<Running> {
    let t = Instant::now();
    let started_at_s = shared.now_ms() as f64 / 1000.0;
    let mut procs = Vec::new();
    if let Some(cg) = &plan.cgroup {
        procs.push(
            cg.procs_file()
                .with_context(|| format!("opening cgroup.procs of {}", cg.path().display()))?,
        );
    }
    if let Some(cg) = &plan.cpu {
        procs.push(
            cg.procs_file()
                .with_context(|| format!("opening cgroup.procs of {}", cg.path().display()))?,
        );
    }
    let server = ServerProcess::start_in(cmd, plan.ready_timeout, procs).await?;
    let sampler = Sampler::start(
        shared.clone(),
        Target {
            pid: server.pid(),
            generation,
            cgroup: plan.cgroup.clone(),
        },
    );
    let poller = CancellationToken::new();
    tokio::spawn(sampler::poll_debug(
        shared.clone(),
        server.base_url(),
        generation,
        poller.clone(),
    ));
    Ok(Running {
        server,
        sampler,
        poller,
        generation,
        started_at_s,
        ready_after_s: t.elapsed().as_secs_f64(),
    })
}

/// Why the main loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    LoadDone,
    Killed,
    Crashed,
    Interrupted,
    TimedOut,
}

/// Runs one `oomlab run` and writes its report; returns it.
pub async fn run(args: RunArgs) -> anyhow::Result<RunReport> {
    let mut signals = Signals::register()?;
    let plan = plan(&args)?;
    let started_at = chrono::Utc::now();
    let dir = run_dir(
        &args.out,
        &started_at.format("%Y%m%d-%H%M%S").to_string(),
        &plan.profile.name,
        &plan.scenario.name,
    )?;
    if !args.quiet_log {
        eprintln!(
            "oomlab: {} on {}, limit {} MB ({}); writing {}",
            plan.profile.name,
            plan.scenario.name,
            memstats::format_mb(plan.limit),
            plan.enforce.as_str(),
            dir.display()
        );
    }
    // goose prints on stdout whatever its settings: off for compare and plan.
    let _silenced = args.quiet_log.then(crate::silence::StdoutSilenced::new);
    let files = Files::standard();
    let shared = Shared::new(plan.limit, plan.enforce, &dir.join(&files.samples_csv))?;

    // The fake Cloudinary lives in this process: the measured process is the
    // server alone.
    let ids = plan.scenario.photo_ids();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .seed(args.seed)
        .preload(&id_refs)
        .upload_dir(dir.join("cloudinary"))
        .start()
        .await
        .context("starting the fake Cloudinary")?;
    let fake = Arc::new(fake);
    let cloudinary = CloudinaryTarget {
        base_url: fake.base_url(),
        cloud_name: fake.cloud_name().to_string(),
    };

    let (program, mut cmd_args): (PathBuf, Vec<std::ffi::OsString>) = match &args.server_bin {
        Some(bin) => (bin.clone(), Vec::new()),
        None => (
            std::env::current_exe().context(
                "finding oomlab's own binary to start the server (or pass --server-bin PATH)",
            )?,
            vec!["serve".into()],
        ),
    };
    cmd_args.extend([
        "--profile".into(),
        plan.profile.path.clone().into_os_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
        "--data-dir".into(),
        dir.join("server-data").into_os_string(),
        "--cloudinary-base-url".into(),
        cloudinary.base_url.clone().into(),
        "--cloudinary-cloud-name".into(),
        cloudinary.cloud_name.clone().into(),
    ]);
    let cmd = ServerCommand {
        program,
        args: cmd_args,
        log: dir.join(&files.server_log),
    };

    let stop_live = CancellationToken::new();
    let live = (!args.quiet && crate::live::enabled()).then(|| {
        tokio::spawn(crate::live::draw_until_cancelled(
            shared.clone(),
            stop_live.clone(),
        ))
    });

    let mut running = start_server(&cmd, &plan, &shared, 0).await?;
    let (url_tx, url_rx) = watch::channel(running.server.base_url());
    let photo_fake = fake.clone();
    let target = LoadTarget::new(
        running.server.base_url(),
        cloudinary.clone(),
        Arc::new(move |id: &str| photo_fake.photo_bytes(id)),
        dir.clone(),
    )
    .with_server_url_updates(url_rx);
    let load_cancel = CancellationToken::new();
    let load_start_ms = shared.now_ms();
    let scenario = plan.scenario.clone();
    let cancel = load_cancel.clone();
    let mut load_task = tokio::spawn(async move { run_load(&scenario, target, cancel).await });

    let mut exits = Vec::new();
    let mut notes = plan.notes.clone();
    let mut load_result = None;
    let deadline = tokio::time::sleep(plan.max_duration);
    tokio::pin!(deadline);
    let mut server_alive = true;
    let end = loop {
        tokio::select! {
            r = &mut load_task => { load_result = Some(r); break End::LoadDone; }
            status = running.server.wait() => {
                let status = status.context("waiting for the server")?;
                running.poller.cancel();
                let killed_by_watchdog = running.sampler.killed();
                let gen_ = running.generation;
                let cgroup_kill = shared.state().oom_events.iter().any(|e| e.generation == gen_ && e.trigger == crate::watchdog::Trigger::Cgroup);
                // Let the cgroup sampler see the kernel's OOM counter move.
                let sampler_ = std::mem::replace(&mut running.sampler, Sampler::idle());
                sampler_.stop();
                let cgroup_kill = cgroup_kill || shared.state().oom_events.iter().any(|e| e.generation == gen_ && e.trigger == crate::watchdog::Trigger::Cgroup);
                shared.close_generation();
                let cause = if killed_by_watchdog { "watchdog" } else if cgroup_kill { "cgroup" } else { "crashed" };
                exits.push(ServerExit {
                    generation: gen_,
                    started_at_s: running.started_at_s,
                    ready_after_s: running.ready_after_s,
                    exited_at_s: shared.now_ms() as f64 / 1000.0,
                    status: status.to_string(),
                    cause: cause.into(),
                });
                if cause == "crashed" {
                    notes.push(format!("the server exited on its own ({status}); its last lines:\n{}", crate::child::tail(&cmd.log, 10)));
                    server_alive = false;
                    break End::Crashed;
                }
                if args.restart_on_oom && gen_ < args.max_restarts {
                    match start_server(&cmd, &plan, &shared, gen_ + 1).await {
                        Ok(r) => {
                            running = r;
                            let _ = url_tx.send(running.server.base_url());
                            continue;
                        }
                        Err(e) => {
                            notes.push(format!("restarting the server failed: {e:#}"));
                        }
                    }
                } else if args.restart_on_oom {
                    notes.push(format!("gave up after {} restarts (--max-restarts)", args.max_restarts));
                }
                server_alive = false;
                break End::Killed;
            }
            _ = &mut deadline => {
                notes.push(format!("stopped at --max-duration {}", args.max_duration));
                break End::TimedOut;
            }
            _ = signals.recv() => break End::Interrupted,
        }
    };

    // Stop the load (a no-op if it is done) and collect what it did.
    load_cancel.cancel();
    let load_result = match load_result {
        Some(r) => Some(r),
        None => tokio::time::timeout(LOAD_STOP_GRACE, &mut load_task)
            .await
            .ok(),
    };
    if load_result.is_none() {
        load_task.abort();
        notes.push("the load did not stop in time; its figures are missing".into());
    }
    let mut load_error = None;
    let outcome: LoadOutcome = match load_result {
        Some(Ok(Ok(o))) => o,
        Some(Ok(Err(e))) => {
            load_error = Some(e);
            LoadOutcome::default()
        }
        Some(Err(join)) => {
            load_error = Some(anyhow::anyhow!("the load panicked: {join}"));
            LoadOutcome::default()
        }
        None => LoadOutcome::default(),
    };
    let end = if end == End::LoadDone && outcome.errors.iter().any(|e| e.contains("SIGINT")) {
        End::Interrupted
    } else {
        end
    };

    // Ask the server what each job's stages cost while it is still up.
    let mut stages_by_job = std::collections::HashMap::new();
    if server_alive {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        for j in &outcome.jobs {
            let url = format!("{}/api/jobs/{}", running.server.base_url(), j.job_id);
            if let Ok(r) = client.get(&url).send().await
                && let Ok(v) = r.json::<serde_json::Value>().await
                && let Some(s) = v.get("stages")
                && let Ok(stages) = serde_json::from_value::<Vec<memstats::StageMemory>>(s.clone())
            {
                stages_by_job.insert(j.job_id.clone(), stages);
            }
        }
        running.poller.cancel();
        let sampler_ = std::mem::replace(&mut running.sampler, Sampler::idle());
        sampler_.stop();
        // The watchdog may have killed it after the load ended.
        let killed = sampler_killed(&shared, running.generation);
        let status = running.server.stop(plan.stop_grace).await?;
        exits.push(ServerExit {
            generation: running.generation,
            started_at_s: running.started_at_s,
            ready_after_s: running.ready_after_s,
            exited_at_s: shared.now_ms() as f64 / 1000.0,
            status: status.to_string(),
            cause: if killed { "watchdog" } else { "stopped" }.into(),
        });
    }
    drop(running);
    let end_ms = shared.now_ms();
    shared.finish(end_ms);
    stop_live.cancel();
    if let Some(l) = live {
        let _ = l.await;
    }
    drop(fake);

    let report = build_report(BuildInput {
        plan: &plan,
        args: &args,
        started_at,
        end,
        end_ms,
        load_start_ms,
        outcome,
        stages_by_job,
        exits,
        notes,
        shared: &shared,
        command: cmd.display(),
        files,
    });
    let samples = shared.state().samples.clone();
    report.write_all(&dir, &samples)?;
    if !args.quiet_log {
        println!("{}", report.verdict.summary);
        println!("report: {}", dir.join(&report.files.report_md).display());
    }
    if let Some(e) = load_error {
        return Err(e.context(format!(
            "the load failed (the report is in {})",
            dir.display()
        )));
    }
    Ok(report)
}

/// Whether server start `generation` was killed at the limit.
fn sampler_killed(shared: &Shared, generation: u32) -> bool {
    shared
        .state()
        .oom_events
        .iter()
        .any(|e| e.generation == generation && e.killed)
}

struct BuildInput<'a> {
    plan: &'a Plan,
    args: &'a RunArgs,
    started_at: chrono::DateTime<chrono::Utc>,
    end: End,
    end_ms: u64,
    load_start_ms: u64,
    outcome: LoadOutcome,
    stages_by_job: std::collections::HashMap<String, Vec<memstats::StageMemory>>,
    exits: Vec<ServerExit>,
    notes: Vec<String>,
    shared: &'a Shared,
    command: Vec<String>,
    files: Files,
}

fn build_report(i: BuildInput<'_>) -> RunReport {
    let st = i.shared.state();
    let mut peaks = report::peaks_from_samples(&st.samples, i.plan.limit);
    let je = st.jemalloc_peak;
    let have_je = st.samples.iter().any(|s| s.jemalloc.is_some());
    peaks.jemalloc_allocated_bytes = have_je.then_some(je.allocated);
    peaks.jemalloc_active_bytes = have_je.then_some(je.active);
    peaks.jemalloc_resident_bytes = have_je.then_some(je.resident);
    peaks.attribution = st
        .jemalloc_peak_reading
        .as_ref()
        .map(report::PeakAttribution::from_reading);
    let cgroup_reading = i.plan.cgroup.as_ref().and_then(|c| c.read().ok());
    peaks.cgroup_peak_bytes = cgroup_reading
        .and_then(|r| r.peak_bytes)
        .or_else(|| st.samples.iter().filter_map(|s| s.cgroup_usage).max());

    let ms = |m: u64| (m + i.load_start_ms) as f64 / 1000.0;
    let jobs: Vec<JobReport> = i
        .outcome
        .jobs
        .iter()
        .map(|j| JobReport {
            job_id: j.job_id.clone(),
            status: j.status.clone(),
            submitted_at_s: ms(j.submitted_at_ms),
            finished_at_s: j.finished_at_ms.map(ms),
            time_to_ready_s: j.time_to_ready_ms.map(|t| t as f64 / 1000.0),
            peak_rss_bytes: report::job_peak(&st.samples, &st.spans, &j.job_id),
            stages: i.stages_by_job.get(&j.job_id).cloned().unwrap_or_default(),
        })
        .collect();
    let ready: Vec<f64> = jobs.iter().filter_map(|j| j.time_to_ready_s).collect();
    let load_minutes = (i.end_ms.saturating_sub(i.load_start_ms)) as f64 / 60_000.0;
    let o = &i.outcome;
    let rel = |p: &Option<PathBuf>| {
        p.as_ref().map(|p| {
            p.file_name()
                .map(PathBuf::from)
                .unwrap_or_else(|| p.clone())
        })
    };
    let load = LoadReport {
        submissions_acknowledged: o.submissions_acknowledged,
        jobs_completed: o.jobs_completed,
        jobs_failed: o.jobs_failed,
        acknowledged_never_completed: o.jobs.iter().filter(|j| j.finished_at_ms.is_none()).count()
            as u64,
        time_to_ready_p50_s: report::quantile(&ready, 0.5),
        time_to_ready_p95_s: report::quantile(&ready, 0.95),
        reports_per_minute: (load_minutes > 0.0).then(|| o.jobs_completed as f64 / load_minutes),
        errors: o.errors.clone(),
        goose_html: rel(&o.goose_html),
        goose_json: rel(&o.goose_json),
        losses: report::submission_losses(&jobs, &st.oom_events, i.args.restart_on_oom),
    };

    let killed = st.oom_events.iter().find(|e| e.killed);
    let (outcome, mut summary, exit_code) = if let Some(e) = killed {
        (Outcome::Killed, e.summary(), 1)
    } else if let Some(e) = st.oom_events.first() {
        (Outcome::Crossed, e.summary(), 1)
    } else {
        let peak = peaks.sampled_rss_bytes.max(peaks.vmhwm_bytes);
        let held = format!(
            "peak {} MB of {} MB, {} MB headroom",
            memstats::format_mb(peak),
            memstats::format_mb(i.plan.limit),
            memstats::format_mb(i.plan.limit.saturating_sub(peak))
        );
        match i.end {
            End::Crashed => (
                Outcome::Crashed,
                format!(
                    "the server exited on its own at {:.1} s ({}), {held}",
                    i.exits.last().map_or(0.0, |x| x.exited_at_s),
                    i.exits.last().map_or("", |x| x.status.as_str())
                ),
                1,
            ),
            End::Interrupted => (
                Outcome::Interrupted,
                format!("interrupted at {:.1} s: {held}", i.end_ms as f64 / 1000.0),
                3,
            ),
            End::TimedOut => (
                Outcome::TimedOut,
                format!(
                    "stopped at --max-duration ({:.1} s), within the limit: {held}",
                    i.end_ms as f64 / 1000.0
                ),
                0,
            ),
            End::LoadDone | End::Killed => {
                (Outcome::WithinLimit, format!("within the limit: {held}"), 0)
            }
        }
    };
    if i.args.restart_on_oom && i.exits.len() > 1 {
        let kills = i
            .exits
            .iter()
            .filter(|x| x.cause == "watchdog" || x.cause == "cgroup")
            .count();
        let restarts = i.exits.iter().map(|x| x.generation).max().unwrap_or(0);
        summary.push_str(&format!(
            "; killed {kills} time(s), restarted {restarts} time(s), {} acknowledged submission(s) never completed (an in-memory queue would have lost {})",
            load.acknowledged_never_completed,
            load.losses.as_ref().map_or(0, |l| l.lost_by_in_memory_queue)
        ));
    }
    if outcome == Outcome::WithinLimit || outcome == Outcome::Killed {
        summary.push_str(&format!(
            "; {} of {} report(s) completed",
            load.jobs_completed, load.submissions_acknowledged
        ));
    }

    RunReport {
        schema_version: report::SCHEMA_VERSION,
        oomlab_version: env!("CARGO_PKG_VERSION").into(),
        started_at: i
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_s: i.end_ms as f64 / 1000.0,
        profile: i.plan.profile.clone(),
        scenario: InputFile {
            name: i.plan.scenario.name.clone(),
            path: i.plan.scenario.path.clone(),
        },
        limit: LimitReport {
            bytes: i.plan.limit,
            enforce: i.plan.enforce,
            restart_on_oom: i.args.restart_on_oom,
            cgroup: i.plan.cgroup.as_ref().map(|c| CgroupReport {
                path: c.path().to_path_buf(),
                version: c.version(),
                reading: cgroup_reading,
            }),
            notes: i.notes.clone(),
            cpu: i
                .plan
                .cpu
                .as_ref()
                .map_or_else(|| i.plan.cpu_unlimited.clone(), CpuCgroup::report),
        },
        verdict: Verdict {
            outcome,
            summary,
            exit_code,
        },
        peaks,
        modelled_runtime_bytes: st.modelled_runtime_bytes,
        oom_events: st.oom_events.clone(),
        server: ServerReport {
            command: i.command.clone(),
            starts: i.exits.iter().map(|x| x.generation + 1).max().unwrap_or(1),
            exits: i.exits.clone(),
        },
        load,
        jobs,
        stage_spans: st.spans.clone(),
        sampling: SamplingReport {
            proc_interval_ms: sampler::PROC_INTERVAL.as_millis() as u64,
            debug_interval_ms: sampler::DEBUG_INTERVAL.as_millis() as u64,
            samples: st.samples.len() as u64,
            debug_errors: st.debug_errors,
            csv_error: st.csv_error.clone(),
        },
        files: i.files,
    }
}
