//! `oomlab run`'s flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::app_target::{Target, TargetKind};
use crate::error::ConfigError;
use crate::harness::{Output, RunConfig, Split};
use crate::heap::HeapMode;
use crate::input;
use crate::matrix::MatrixSettings;
use crate::scenario::Scenario;
use crate::watchdog::{Enforce, OomKill, Restart};

const RUN_EXAMPLES: &str = "\
Examples:
  # The kill that happened on Render's free plan, reproduced:
  oomlab run --profile original --scenario two-reports

  # The same with explicit files and limit, and a kernel-enforced limit:
  oomlab run --profile profiles/original.toml --scenario scenarios/two-reports.toml \\
      --limit 512MiB --enforce cgroup

  # Keep going after a kill, as the platform does, and count lost reports:
  oomlab run --profile quick-fix --scenario burst --restart on-oom

  # Measure without killing:
  oomlab run --profile lean --scenario camera-photos --enforce off

  # Web and worker as two services on a Redis queue, each with its limit:
  oomlab run --split --profile original --scenario two-reports \\
      --limit web=512MiB,worker=512MiB --restart always

  # Your own app (a target file; its whole process tree is measured):
  oomlab run --target flask-reportlab --scenario single-report

  # Which lines of your app hold the memory at the peak (memray):
  oomlab run --target flask-reportlab --scenario single-report --heap auto

  # The kill as a container's kernel makes it: only the worker it chooses
  # dies, its master starts another, the job it held is lost:
  oomlab run --target flask-reportlab --scenario single-report --enforce cgroup

Outcomes (run.json verdict.outcome) and exit codes:
  within_limit   0  the load did its work and memory stayed within the limit
  timed_out      0  --max-duration passed first, within the limit, no check failed
  killed         1  the server (or one process of it) was killed for crossing
                    the limit; jobs it held are counted lost
  crossed        1  the limit was crossed with --enforce off
  crashed        1  the server exited on its own before the load was done
  load_failed    4  the load did not do its work: a step answered an error or
                    nothing, fewer submissions or reports than asked, a report
                    missing or not a PDF/xlsx, a [thresholds] check or an app
                    error line ([log] error_regex); the peak is not an answer
  interrupted    3  Ctrl-C or SIGTERM
Other exit codes: 2 bad arguments or files (the message names the flag or
file, the key and the fix), 3 the harness itself failed.

Sizes and durations need a unit: --limit 512MiB (512MB is the same), and
--max-duration 90s, 15m or 1h30m.";

/// Flags of `oomlab run`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = RUN_EXAMPLES, after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// Server profile of the reference server: a TOML file, or a name in
    /// `profiles/` (e.g. `original` for profiles/original.toml).
    #[arg(long, value_name = "FILE|NAME", value_parser = input::profile, required_unless_present = "target", conflicts_with = "target")]
    pub profile: Option<PathBuf>,

    /// Your own app instead of the reference server: a target file, or a
    /// name in `targets/` (e.g. `flask-reportlab`). The measured unit is the
    /// app's whole process tree.
    #[arg(long, value_name = "FILE|NAME", value_parser = input::target)]
    pub target: Option<PathBuf>,

    /// Load scenario: a TOML file, or a name in `scenarios/` (e.g.
    /// `two-reports` for scenarios/two-reports.toml).
    #[arg(long, value_name = "FILE|NAME", value_parser = input::scenario)]
    pub scenario: PathBuf,

    /// Memory limit of the server, e.g. 512MiB, 512MB (= MiB, as the
    /// platforms write it), 2GiB. With --split, one size for each service or
    /// one per service: web=512MiB,worker=150MiB (a service left out gets
    /// 512MiB). Default: the target file's `limit` (its plan's memory),
    /// else 512MiB.
    #[arg(long, value_name = "SIZE", value_parser = input::limit)]
    pub limit: Option<input::LimitArg>,

    /// Run the reference server as two measured processes, as the platform
    /// deploys it: the web service (the API; the load talks to it) and a
    /// background worker (builds the reports), on a Redis queue the harness
    /// starts (`queue.backend = "redis"`, with an append-only file). Each
    /// service has its own limit (and cgroup with --enforce cgroup) and
    /// restarts on its own per --restart; Redis's memory (`used_memory`)
    /// is sampled and its death noticed at once.
    #[arg(long)]
    pub split: bool,

    /// How the limit is enforced: `watchdog` sends SIGKILL when the server's
    /// RSS or its kernel high-water mark (VmHWM) crosses it; `cgroup` puts the
    /// server in a memory cgroup below the harness's own and lets the kernel
    /// kill; `off` only records the crossing.
    #[arg(long, value_enum, default_value_t = Enforce::Watchdog)]
    pub enforce: Enforce,

    /// With `--enforce cgroup`: fall back to the watchdog when no memory
    /// cgroup can be made here (otherwise that is an error, exit 2).
    #[arg(long)]
    pub cgroup_fallback: bool,

    #[command(flatten)]
    pub move_self: CgroupMoveSelf,

    /// What a kill at the limit ends. `kernel` (the default): only the
    /// process the kernel's OOM killer would choose, the highest
    /// `oom_score` of the tree, as a container's limit works; a gunicorn
    /// worker dies, its master starts another, and the jobs it held are
    /// lost (the run counts them and ends). For a one-process server it is
    /// the whole server. With `--enforce cgroup` the kernel itself chooses
    /// and the harness reports what it killed. `tree`: the whole process
    /// tree, as a platform that restarts the instance after an
    /// out-of-memory event.
    #[arg(long, value_enum, default_value_t = OomKill::Kernel)]
    pub oom_kill: OomKill,

    /// When a service that ended during the run is started again: `never`
    /// (the default: the first end ends the run), `on-oom` (after a kill
    /// at the limit, and go on with the scenario; the report counts
    /// submissions acknowledged but never completed), `always` (whatever
    /// ended it, a crash or a SIGKILL from outside too, as Render restarts
    /// a service; with --split, Redis too, from its append-only file).
    #[arg(long, value_enum, value_name = "WHEN")]
    pub restart: Option<Restart>,

    /// Old spelling of `--restart on-oom`.
    #[arg(long, hide = true)]
    pub restart_on_oom: bool,

    /// Give up after this many restarts of one service.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_restarts: u32,

    /// After a process of the app died, how long the load waits for any job
    /// to move before it calls the jobs acknowledged before the death lost
    /// and stops waiting for them, e.g. 5s.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = input::duration)]
    pub lost_after: Duration,

    /// Folder for reports; each run writes
    /// `<out>/<timestamp>-<profile>-<scenario>/`.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop the run after this long whatever happens, e.g. 90s, 15m, 1h.
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = input::duration)]
    pub max_duration: Duration,

    /// How long the server may take to be ready, e.g. 30s. Default: 60s,
    /// or the target file's `readiness.timeout_s`.
    #[arg(long, value_name = "DURATION", value_parser = input::duration)]
    pub ready_timeout: Option<Duration>,

    /// Run this server binary instead of oomlab's own server mode. It takes
    /// the flags of `report-server` (--profile, --host, --port,
    /// --data-dir, --cloudinary-base-url, --cloudinary-cloud-name) and prints
    /// the ready line `{"event":"ready","addr":"HOST:PORT",...}` on stdout.
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,

    /// How long the server gets after its stop signal at the end of a run
    /// before SIGKILL, e.g. 60s for a dhat build (`--server-bin
    /// target/profiling/report-server`), which writes dhat-heap.json at exit.
    /// Default: 5s, or the target file's `stop.grace_s`.
    #[arg(long, value_name = "DURATION", value_parser = input::duration)]
    pub stop_grace: Option<Duration>,

    /// Idle time after the load, before the server is stopped, for runs with
    /// at least 5 completed jobs (the memory trend): memory held until a
    /// purge or a collection comes back in it, a leak does not. RSS before
    /// and after it are reported. `0s` turns it off.
    #[arg(long, default_value = "3s", value_name = "DURATION", value_parser = input::duration_or_zero)]
    pub settle: Duration,

    /// Hold the server to this share of the CPU, in cores (e.g. 0.1, 0.5),
    /// with a CPU cgroup below the harness's own. When none can be made the
    /// run goes on unlimited and run.json says why. Default: not limited.
    #[arg(long, value_name = "F", value_parser = input::cpus)]
    pub cpus: Option<f64>,

    /// A directory of your own JPEG/PNG photos, used instead of the fake
    /// Cloudinary's synthetic ones: files in name order, cycled when a
    /// submission needs more, uploaded and served byte for byte.
    #[arg(long, value_name = "DIR")]
    pub photos: Option<PathBuf>,

    /// Seed of the fake Cloudinary's photos.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,

    /// Never draw the live line (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,

    /// Trace your app's heap (a Python --target) and say which lines hold
    /// its memory at the peak: `memray` (every allocation, C buffers such
    /// as Pillow's images included, with its Python stack; every forked
    /// worker traced; installed once into oomlab's cache when the app's
    /// environment has none), `tracemalloc` (Python's own allocations
    /// only, nothing to install), `auto` (memray, else tracemalloc), `off`.
    /// report.md lists the top sites of the process with the largest peak,
    /// your own frames apart from library frames, the known cause and fix
    /// when one matches, and memray's flame graph. A traced app is slower
    /// and larger than the untraced one.
    #[arg(long, value_enum, default_value_t = HeapMode::Off, value_name = "TRACER")]
    pub heap: HeapMode,
}

impl RunArgs {
    /// The run these flags ask for; the profile and the scenario are loaded
    /// and checked (exit 2 on a mistake, before anything starts).
    pub fn config(&self) -> Result<RunConfig, ConfigError> {
        let target = match (&self.target, &self.profile) {
            (Some(t), _) => {
                if self.server_bin.is_some() {
                    return Err(ConfigError::flag(
                        "--server-bin",
                        "--server-bin starts the reference server, not a target's command",
                        "leave out --server-bin, or use --profile",
                    ));
                }
                Target::app(t)?
            }
            (None, Some(p)) => Target::reference(p, self.server_bin.as_deref())?,
            (None, None) => {
                return Err(ConfigError::flag(
                    "--profile",
                    "neither --profile nor --target was given",
                    "pass --profile NAME (the reference server) or --target NAME (your app)",
                ));
            }
        };
        crate::heap::check_target(self.heap, target.kind)?;
        let (ready_default, grace_default) = target
            .timeouts()
            .unwrap_or((Duration::from_secs(60), Duration::from_secs(5)));
        let photos = super::photos::load(self.photos.as_deref())?;
        let scenario = super::photos::apply(Scenario::load(&self.scenario)?, &photos);
        let (limit, split) = self.limits(&target)?;
        Ok(RunConfig {
            limit,
            split,
            enforce: self.enforce,
            cgroup_fallback: self.cgroup_fallback,
            cgroup_move_self: self.move_self.get(self.enforce)?,
            oom_kill: self.oom_kill,
            restart: self.restart_policy(),
            max_restarts: self.max_restarts,
            lost_after: self.lost_after,
            out: self.out.clone(),
            max_duration: self.max_duration,
            ready_timeout: self.ready_timeout.unwrap_or(ready_default),
            stop_grace: self.stop_grace.unwrap_or(grace_default),
            settle: self.settle,
            cpus: self.cpus,
            seed: self.seed,
            heap: self.heap,
            output: if self.quiet {
                Output::NoLiveLine
            } else {
                Output::Terminal
            },
            ..RunConfig::new(target, scenario)
        })
    }
}

impl RunArgs {
    /// `--restart`, or its old spelling `--restart-on-oom` (with a
    /// warning).
    fn restart_policy(&self) -> Restart {
        if self.restart_on_oom {
            eprintln!(
                "oomlab: --restart-on-oom is now --restart on-oom (the old spelling goes in the next release)"
            );
        }
        match (self.restart, self.restart_on_oom) {
            (Some(r), _) => r,
            (None, true) => Restart::OnOom,
            (None, false) => Restart::Never,
        }
    }

    /// The limit of the measured process (a split run's worker), and the
    /// split run's settings; what a split run cannot do is exit 2 here.
    fn limits(&self, target: &Target) -> Result<(u64, Option<Split>), ConfigError> {
        let limit = self.limit.unwrap_or(input::LimitArg::One(
            target.default_limit().unwrap_or(input::DEFAULT_LIMIT),
        ));
        if !self.split {
            return match limit {
                input::LimitArg::One(b) => Ok((b, None)),
                input::LimitArg::PerService { .. } => Err(ConfigError::flag(
                    "--limit",
                    "a limit per service (web=...,worker=...) is for split runs",
                    "add --split, or pass one size, e.g. --limit 512MiB",
                )),
            };
        }
        if target.kind == TargetKind::App {
            return Err(ConfigError::flag(
                "--split",
                "splits the reference server into its web and worker roles; an app target has none",
                "use --profile NAME with --split, or leave --split out",
            ));
        }
        if self.cpus.is_some() {
            return Err(ConfigError::flag(
                "--cpus",
                "a split run does not hold its services to a CPU share",
                "leave out --cpus with --split",
            ));
        }
        if crate::redis_server::find_binary().is_none() {
            return Err(ConfigError::Unsupported {
                what: "--split".into(),
                why: "no redis-server or valkey-server on PATH (the queue between web and worker)".into(),
                fix: "install it (Debian: apt-get install -y redis-server) or name it in OOMLAB_REDIS_SERVER".into(),
            });
        }
        let (web, worker) = limit.per_service();
        Ok((worker, Some(Split { web_limit: web })))
    }
}

/// `--cgroup-move-self`, shared by `run`, `gate` and `compare`.
#[derive(Debug, Clone, Args)]
pub struct CgroupMoveSelf {
    /// With `--enforce cgroup` on cgroup v2 whose own cgroup is delegated
    /// to oomlab but does not enable the memory controller for its
    /// children: allow oomlab to move itself into a leaf child
    /// `oomlab-harness-<pid>` of that cgroup and write `+memory` to its
    /// `cgroup.subtree_control` (both undone at the end), as container
    /// runtimes do. Without it oomlab never moves itself out of the cgroup
    /// it started in nor changes a cgroup it did not create, and tries a
    /// systemd user scope instead. Use it where oomlab runs alone in a
    /// cgroup made for it, e.g. `systemd-run --scope -p Delegate=yes`.
    #[arg(long)]
    pub cgroup_move_self: bool,
}

impl CgroupMoveSelf {
    /// The flag, checked against `--enforce`: it means nothing without
    /// `--enforce cgroup`.
    pub fn get(&self, enforce: Enforce) -> Result<bool, ConfigError> {
        if self.cgroup_move_self && enforce != Enforce::Cgroup {
            return Err(ConfigError::flag(
                "--cgroup-move-self",
                "only --enforce cgroup makes a memory cgroup",
                "add --enforce cgroup, or leave out --cgroup-move-self",
            ));
        }
        Ok(self.cgroup_move_self)
    }
}

/// The flags every run of a matrix shares (`compare`, `plan`).
#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// Folder for reports.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,

    /// Stop any one run of the matrix after this long, e.g. 5m or 1h30m.
    /// `--max-run-duration` is its old name, kept for one release.
    #[arg(long, alias = "max-run-duration", default_value = "5m", value_name = "DURATION", value_parser = input::duration)]
    pub max_duration: Duration,

    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
}

impl MatrixArgs {
    /// The typed settings.
    pub fn settings(&self) -> MatrixSettings {
        MatrixSettings {
            out: self.out.clone(),
            max_run_duration: self.max_duration,
            quiet: self.quiet,
            heap: HeapMode::Off,
        }
    }
}
