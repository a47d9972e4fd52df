//! The split run's part of the report (`oomlab run --split`): each service
//! (web, worker) with its own limit, peaks, starts and verdict; the Redis
//! queue's memory; the API's answers after the worker's kill; and what
//! became of every job the web service acknowledged.
//!
//! In a split run the report's top-level memory figures (peaks, events,
//! stage bands, jobs' stages, trend) are the worker's: that is where the
//! reports are built. The web service's figures are here.

use std::fmt::Write as _;

use crate::table::{Align, Table};

use serde::{Deserialize, Serialize};

use super::JobReport;
use super::services::{Service, ServiceReport};
use crate::units::mb;

/// The split run's part of `run.json` (`oomlab run --split`): Redis, the
/// API's answers and the jobs across the worker's restarts; the services
/// themselves are in the report's `services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SplitReport {
    /// The queue between them.
    pub redis: RedisReport,
    /// `GET /healthz` of the web service, polled through the run.
    pub api: ApiChecks,
    /// What became of the jobs the web service acknowledged.
    pub jobs: SplitJobs,
    /// Each service's verdict and the jobs in one line.
    pub summary: String,
}

/// Redis's own memory (`INFO memory`, `used_memory`) every 250 ms through
/// the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedisReport {
    /// The executable that ran (`redis-server` or `valkey-server`).
    pub program: String,
    /// Highest `used_memory`, bytes; `None` when never read.
    pub peak_used_memory_bytes: Option<u64>,
    /// When it was read, seconds.
    pub peak_at_s: Option<f64>,
    /// Every reading (every 250 ms).
    pub samples: Vec<RedisSample>,
    /// Readings that failed.
    pub errors: u64,
    /// Its deaths during the run, in order (the harness's own stop at the
    /// end is not one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exits: Vec<SidecarExit>,
}

/// A sidecar (Redis) that died during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SidecarExit {
    /// Which (`redis`).
    pub name: String,
    /// When it was seen dead, seconds.
    pub at_s: f64,
    /// How it ended (`signal: 9 (SIGKILL)`).
    pub status: String,
    /// Whether it was started again (`--restart always`).
    pub restarted: bool,
    /// Why a restart failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_error: Option<String>,
}

/// One `used_memory` reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RedisSample {
    /// Seconds since the run started.
    pub t_s: f64,
    /// `used_memory`, bytes.
    pub used_memory_bytes: u64,
}

/// `GET /healthz` of the web service every 250 ms: does the API answer
/// after the worker is killed, while it restarts and its jobs wait for
/// their lease to run out?
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ApiChecks {
    /// Checks made.
    pub checks: u64,
    /// Checks answered 2xx.
    pub answered: u64,
    /// Checks made after the worker's first kill (or exit on its own).
    pub checks_since_worker_kill: u64,
    /// Of those, answered 2xx.
    pub answered_since_worker_kill: u64,
}

/// The jobs the web service acknowledged (202) and what the worker made
/// of them, as the load's polls and the job's record say
/// (`delivered_again`: taken up more than once).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct SplitJobs {
    /// Submissions the web service acknowledged with a job id.
    pub acknowledged: u64,
    /// Of those, seen completed.
    pub completed: u64,
    /// Seen failed (or given up by the load).
    pub failed: u64,
    /// Neither (the run ended first).
    pub unfinished: u64,
    /// Jobs delivered to a worker more than once (`attempts` > 1: a worker
    /// died with them and the queue delivered them again).
    pub delivered_again: u64,
}

impl SplitJobs {
    /// Counts `jobs` (the run's job list, with `attempts` from the server).
    pub fn count(jobs: &[JobReport], attempts: impl Fn(&str) -> Option<u32>) -> SplitJobs {
        let mut s = SplitJobs {
            acknowledged: jobs.len() as u64,
            ..SplitJobs::default()
        };
        for j in jobs {
            match (memstats::JobStatus::parse(&j.status), j.status.as_str()) {
                (Some(memstats::JobStatus::Completed), _) => s.completed += 1,
                (Some(memstats::JobStatus::Failed), _) | (None, "timed out" | "lost") => {
                    s.failed += 1
                }
                _ => s.unfinished += 1,
            }
            if attempts(&j.job_id).is_some_and(|a| a > 1) {
                s.delivered_again += 1;
            }
        }
        s
    }
}

/// The split run's verdict line, e.g. "worker killed at 3.1 s (...),
/// restarted once; web untouched: peak 40.1 MiB of 512.0 MiB, the API answered
/// 12 of 12 checks after the worker's kill; 2 of 2 acknowledged jobs
/// completed (1 delivered again)".
pub fn summary(
    services: &[ServiceReport],
    api: &ApiChecks,
    jobs: &SplitJobs,
    redis: &RedisReport,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    // A dead queue first: nothing moves without it.
    for x in &redis.exits {
        let then = if x.restarted {
            "restarted from its append-only file".to_string()
        } else {
            match &x.restart_error {
                Some(e) => format!("its restart failed: {e}"),
                None => "not restarted".to_string(),
            }
        };
        parts.push(format!(
            "Redis died at {:.1} s ({}), {then}",
            x.at_s, x.status
        ));
    }
    // The worker first: it is where the memory goes.
    for s in services.iter().rev() {
        let mut line = s.verdict.clone();
        if s.service == Service::Web {
            if api.checks_since_worker_kill > 0 {
                let _ = write!(
                    line,
                    ", the API answered {} of {} checks after the worker's kill",
                    api.answered_since_worker_kill, api.checks_since_worker_kill
                );
            } else {
                let _ = write!(
                    line,
                    ", the API answered {} of {} checks",
                    api.answered, api.checks
                );
            }
        }
        parts.push(line);
    }
    let mut jobs_line = format!(
        "{} of {} acknowledged jobs completed",
        jobs.completed, jobs.acknowledged
    );
    if jobs.delivered_again > 0 {
        let _ = write!(jobs_line, " ({} delivered again)", jobs.delivered_again);
    }
    if jobs.failed > 0 {
        let _ = write!(jobs_line, ", {} failed", jobs.failed);
    }
    if jobs.unfinished > 0 {
        let _ = write!(jobs_line, ", {} unfinished", jobs.unfinished);
    }
    parts.push(jobs_line);
    if let Some(p) = redis.peak_used_memory_bytes {
        parts.push(format!("Redis used_memory peak {}", mb(p)));
    }
    parts.join("; ")
}

/// The `report.md` section of a split run.
pub fn markdown(s: &SplitReport, services: &[ServiceReport]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## Services (split run: web + worker on Redis)\n");
    let _ = writeln!(
        o,
        "The figures above (peaks, events, stages, jobs) are the worker's; \
         the load talked to the web service.\n"
    );
    let mut t = Table::new(&[
        ("service", Align::Text),
        ("limit", Align::Figure),
        ("peak RSS", Align::Figure),
        ("at", Align::Figure),
        ("VmHWM", Align::Figure),
        ("jemalloc allocated", Align::Figure),
        ("starts", Align::Figure),
        ("verdict", Align::Text),
        ("samples", Align::Text),
    ]);
    for v in services {
        t.row(vec![
            v.service.as_str().to_string(),
            mb(v.limit_bytes),
            mb(v.peak_rss_bytes),
            format!("{:.1} s", v.peak_rss_at_s),
            mb(v.vmhwm_bytes),
            crate::units::opt_mb(v.jemalloc_allocated_bytes),
            v.starts.to_string(),
            v.verdict.to_string(),
            format!("`{}`", v.samples_csv.display()),
        ]);
    }
    o.push_str(&t.markdown());
    let r = &s.redis;
    let _ = writeln!(
        o,
        "\n**Redis** (`{}`): `used_memory` peak {}{}, {} readings every 250 ms{}.\n",
        r.program,
        crate::units::opt_mb(r.peak_used_memory_bytes),
        r.peak_at_s
            .map_or_else(String::new, |t| format!(" at {t:.1} s")),
        r.samples.len(),
        if r.errors > 0 {
            format!(", {} failed", r.errors)
        } else {
            String::new()
        }
    );
    let a = &s.api;
    let _ = writeln!(
        o,
        "**API** (`GET /healthz` of the web service every 250 ms): answered {} of {}; \
         after the worker's first kill: {} of {}.\n",
        a.answered, a.checks, a.answered_since_worker_kill, a.checks_since_worker_kill
    );
    let j = &s.jobs;
    let _ = writeln!(
        o,
        "**Jobs**: web acknowledged {}; the worker completed {}, failed {}, unfinished {}; \
         delivered again after a worker died: {}.\n",
        j.acknowledged, j.completed, j.failed, j.unfinished, j.delivered_again
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::services::ServiceInputs;
    use crate::report::{ExitCause, ServerExit};
    use crate::watchdog::{OomEvent, Trigger};

    const MIB: u64 = 1 << 20;

    fn exit(generation: u32, at: f64, cause: ExitCause) -> ServerExit {
        ServerExit {
            generation,
            started_at_s: at - 1.0,
            ready_after_s: 0.2,
            exited_at_s: at,
            status: "signal: 9 (SIGKILL)".into(),
            cause,
            crash: None,
        }
    }

    fn kill(at_s: f64, generation: u32, rss: u64) -> OomEvent {
        OomEvent {
            at_s,
            generation,
            trigger: Trigger::Rss,
            killed: true,
            rss_bytes: rss,
            vmhwm_bytes: rss,
            cgroup_peak_bytes: None,
            jobs_in_flight: Vec::new(),
            queue_depth: None,
            debug_age_ms: None,
            victim: None,
        }
    }

    fn service(service: Service, exits: Vec<ServerExit>, events: Vec<OomEvent>) -> ServiceReport {
        ServiceReport::new(ServiceInputs {
            service,
            limit: 512 * MIB,
            samples: &[],
            jemalloc_allocated: None,
            exits,
            oom_events: events,
            command: vec![],
            samples_csv: "samples.csv".into(),
            log: "server.log".into(),
            processes: vec![],
        })
    }

    #[test]
    fn the_summary_names_the_killed_worker_the_untouched_web_and_the_jobs() {
        let worker = service(
            Service::Worker,
            vec![
                exit(0, 3.1, ExitCause::Watchdog),
                exit(1, 9.0, ExitCause::Stopped),
            ],
            vec![kill(3.1, 0, 530 * MIB)],
        );
        assert_eq!(worker.first_kill_s(), Some(3.1));
        let web = service(Service::Web, vec![exit(0, 9.0, ExitCause::Stopped)], vec![]);
        assert_eq!(web.first_kill_s(), None);
        let api = ApiChecks {
            checks: 30,
            answered: 30,
            checks_since_worker_kill: 20,
            answered_since_worker_kill: 20,
        };
        let jobs = SplitJobs {
            acknowledged: 2,
            completed: 2,
            delivered_again: 1,
            ..SplitJobs::default()
        };
        let s = summary(&[web, worker], &api, &jobs, &RedisReport::default());
        assert_eq!(
            s,
            "worker killed at 3.1 s (530.0 MiB RSS, limit 512.0 MiB), restarted once; \
             web untouched: peak 0.0 MiB of 512.0 MiB, the API answered 20 of 20 checks after the \
             worker's kill; 2 of 2 acknowledged jobs completed (1 delivered again)"
        );
    }

    #[test]
    fn jobs_are_counted_by_status_and_deliveries() {
        let job = |id: &str, status: &str| JobReport {
            job_id: id.into(),
            status: status.into(),
            submitted_at_s: 0.5,
            finished_at_s: None,
            time_to_ready_s: None,
            time_to_ready_polled_s: None,
            queue_wait_s: None,
            processing_s: None,
            server_times: None,
            peak_rss_bytes: None,
            stages: Vec::new(),
        };
        let jobs = [
            job("1", "completed"),
            job("2", "failed"),
            job("3", "processing"),
        ];
        let counted = SplitJobs::count(&jobs, |id| (id == "2").then_some(3));
        assert_eq!(
            counted,
            SplitJobs {
                acknowledged: 3,
                completed: 1,
                failed: 1,
                unfinished: 1,
                delivered_again: 1,
            }
        );
    }
}
