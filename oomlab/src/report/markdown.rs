//! `report.md`: the run in prose and tables, rendered from [`RunReport`].

use std::fmt::Write;

use memstats::format_mb;

use super::RunReport;
use crate::table::{Align, Table};

fn mb(b: u64) -> String {
    format_mb(b)
}

fn opt_mb(b: Option<u64>) -> String {
    b.map(mb).unwrap_or_else(|| "n/a".into())
}

/// Signed bytes as MiB with one decimal.
fn smb(b: i64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 20) as f64)
}

fn opt_smb(b: Option<i64>) -> String {
    b.map(smb).unwrap_or_else(|| "n/a".into())
}

fn opt_s(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "n/a".into())
}

/// Seconds to the millisecond.
fn opt_ms(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.3}")).unwrap_or_else(|| "n/a".into())
}

/// Seconds with their unit for prose, `1.234 s`, or `n/a` (never `n/a s`).
fn opt_secs(s: Option<f64>, decimals: usize) -> String {
    s.map(|s| format!("{s:.decimals$} s"))
        .unwrap_or_else(|| "n/a".into())
}

/// The headroom line: what is left below the limit, or how far over it the
/// peak went (never a negative headroom).
fn headroom_line(headroom_bytes: i64) -> String {
    if headroom_bytes >= 0 {
        format!(
            "Headroom: {} below the limit.",
            crate::units::mb(headroom_bytes as u64)
        )
    } else {
        format!(
            "Over the limit by {}: the peak is above it.",
            crate::units::mb(headroom_bytes.unsigned_abs())
        )
    }
}

/// Renders the report. Units: MiB = 1,048,576 bytes, s = seconds.
pub fn render(r: &RunReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# oomlab run: {} on {}\n",
        r.profile.name, r.scenario.name
    );
    let _ = writeln!(o, "**Verdict:** {}\n", r.verdict.summary);
    work::headline(&mut o, &r.load.work);
    for w in &r.warnings {
        let _ = writeln!(o, "**Warning:** {w}\n");
    }
    let sh = &r.shape;
    let mut t = Table::new(&[("", Align::Text), ("", Align::Text)]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    kv(
        "profile",
        format!("{} (`{}`)", r.profile.name, r.profile.path.display()),
    );
    kv(
        "scenario",
        format!("{} (`{}`)", r.scenario.name, r.scenario.path.display()),
    );
    kv(
        "limit",
        format!(
            "{} MiB, enforced by {}{}",
            mb(r.limit.bytes),
            r.limit.enforce.as_str(),
            if r.limit.restart_on_oom {
                ", restart on OOM"
            } else {
                ""
            }
        ),
    );
    kv(
        "shape",
        format!(
            "{} worker(s), {} user(s) at once, CPU {}",
            sh.workers
                .map_or_else(|| "n/a".to_string(), |w| w.to_string()),
            sh.concurrency,
            sh.cpus
                .map_or_else(|| "not limited".to_string(), |c| format!("{c} core(s)"))
        ),
    );
    kv("started", r.started_at.to_string());
    kv("duration", format!("{:.1} s", r.duration_s));
    kv("server starts", r.server.starts.to_string());
    kv("exit code", r.verdict.exit_code.to_string());
    o.push_str(&t.markdown());
    for n in &r.limit.notes {
        let _ = writeln!(o, "\nNote: {n}");
    }
    if let Some(h) = &r.heap {
        super::heap::markdown(&mut o, h);
    }

    let p = &r.peaks;
    let _ = writeln!(o, "\n## Peak memory by source\n");
    let mut t = Table::new(&[
        ("source", Align::Text),
        ("peak (MiB)", Align::Figure),
        ("what it measures", Align::Text),
    ]);
    let mut source = |name: &str, peak: String, what: &str| {
        t.row(vec![name.to_string(), peak, what.to_string()])
    };
    source(
        "sampled RSS",
        format!("{} at {:.1} s", mb(p.sampled_rss_bytes), p.sampled_rss_at_s),
        "`VmRSS` of the server's process tree, read from `/proc` every 10 ms",
    );
    source(
        "VmHWM",
        mb(p.vmhwm_bytes),
        "the kernel's high-water mark of RSS: no peak between samples is missed",
    );
    // A target that publishes no allocator figures (another app) has no
    // jemalloc rows.
    if p.jemalloc_allocated_bytes.is_some() {
        source(
            "jemalloc allocated",
            opt_mb(p.jemalloc_allocated_bytes),
            "bytes the server's code holds (`stats.allocated`, every 100 ms)",
        );
        source(
            "jemalloc active",
            opt_mb(p.jemalloc_active_bytes),
            "pages of live allocations (`stats.active`)",
        );
        source(
            "jemalloc resident",
            opt_mb(p.jemalloc_resident_bytes),
            "pages the allocator holds resident (`stats.resident`)",
        );
    }
    if let Some(c) = p.cgroup_peak_bytes {
        source(
            "cgroup peak",
            mb(c),
            "the memory cgroup's peak usage, page cache included",
        );
    }
    source(
        "idle RSS",
        opt_mb(p.idle_rss_bytes),
        "RSS at the first sample after the server was ready",
    );
    o.push_str(&t.markdown());
    let _ = writeln!(o, "\n{}", headroom_line(p.headroom_bytes));
    if let Some(proc_) = &p.process_at_peak {
        let _ = writeln!(
            o,
            "The peak is the process tree's PSS sum (shared pages counted once, as a container limit counts them; the watchdog checks the same figure){}{}; the process holding the most then: {proc_}.",
            p.rss_sum_at_peak_bytes
                .map(|b| format!("; the plain RSS sum then was {} MiB", mb(b)))
                .unwrap_or_default(),
            p.tree_vmhwm_sum_bytes
                .map(|b| format!(
                    "; the sum of each process's own VmHWM, an upper bound (they need not peak together), was {} MiB",
                    mb(b)
                ))
                .unwrap_or_default()
        );
    }
    if !p.stages_at_peak.is_empty() {
        let _ = writeln!(
            o,
            "Jobs and stages at the RSS peak: `{}`.",
            p.stages_at_peak
        );
    }
    if let Some(a) = &p.attribution {
        attribution(&mut o, a);
    }
    match r.modelled_runtime_bytes {
        Some(m) if m > 0 => {
            let _ = writeln!(
                o,
                "\nModelled runtime: {} MiB held from start to stand in for the modelled app's \
                 interpreter. A declared model input, not a measurement; it is included in the \
                 measured figures above.",
                mb(m)
            );
        }
        Some(_) => {
            let _ = writeln!(
                o,
                "\nModelled runtime: none (the Rust server measured as it is)."
            );
        }
        None => {}
    }

    if !p.by_jobs_in_flight.is_empty() {
        let _ = writeln!(o, "\n## Peak by jobs in flight\n");
        let mut t = Table::new(&[
            ("jobs in flight", Align::Figure),
            ("peak sampled RSS (MiB)", Align::Figure),
        ]);
        for b in &p.by_jobs_in_flight {
            t.row(vec![b.jobs_in_flight.to_string(), mb(b.rss_bytes)]);
        }
        o.push_str(&t.markdown());
    }

    if !r.oom_events.is_empty() {
        let _ = writeln!(o, "\n## Limit events\n");
        for e in &r.oom_events {
            let _ = writeln!(
                o,
                "- server start {}: {}",
                e.generation,
                e.summary(r.modelled_runtime_bytes)
            );
            for j in &e.jobs_in_flight {
                let _ = writeln!(
                    o,
                    "  - job {}: stage {}, progress {}, {:.1} s in{}",
                    j.job_id,
                    j.stage,
                    j.progress,
                    j.elapsed_ms as f64 / 1000.0,
                    j.live_bytes
                        .map(|b| format!(
                            ", {:.1} MiB live on its thread",
                            b as f64 / (1u64 << 20) as f64
                        ))
                        .unwrap_or_default()
                );
            }
        }
    }

    let _ = writeln!(o, "\n## Jobs\n");
    if r.jobs.is_empty() {
        let _ = writeln!(o, "No submission was acknowledged.");
    } else {
        let mut t = Table::new(&[
            ("job", Align::Text),
            ("status", Align::Text),
            ("submitted (s)", Align::Figure),
            ("ready after (s)", Align::Figure),
            ("queued (s)", Align::Figure),
            ("processing (s)", Align::Figure),
            ("seen ready by polls (s)", Align::Figure),
            ("peak RSS in flight (MiB)", Align::Figure),
            ("heaviest stage (allocated high water, MiB)", Align::Text),
        ]);
        for j in &r.jobs {
            let heaviest = j
                .stages
                .iter()
                .max_by_key(|s| s.allocated_high_water)
                .map(|s| format!("{} ({})", s.stage, mb(s.allocated_high_water)))
                .unwrap_or_else(|| "n/a".into());
            t.row(vec![
                j.job_id.to_string(),
                j.status.to_string(),
                format!("{:.1}", j.submitted_at_s),
                opt_ms(j.time_to_ready_s),
                opt_ms(j.queue_wait_s),
                opt_ms(j.processing_s),
                opt_s(j.time_to_ready_polled_s),
                opt_mb(j.peak_rss_bytes),
                heaviest,
            ]);
        }
        o.push_str(&t.markdown());
    }

    per_job_stages(&mut o, r);

    let l = &r.load;
    let _ = writeln!(o, "\n## Load\n");
    let _ = writeln!(
        o,
        "- submissions acknowledged: {}; completed: {}; failed: {}; acknowledged but never completed: {}",
        l.submissions_acknowledged, l.jobs_completed, l.jobs_failed, l.acknowledged_never_completed
    );
    let _ = writeln!(
        o,
        "- time from submission to report ready: p50 {}, p95 {} ({}); queued p50 {}, processing p50 {}",
        opt_secs(l.time_to_ready_p50_s, 3),
        opt_secs(l.time_to_ready_p95_s, 3),
        match l.time_source {
            super::TimeSource::Server =>
                "the server's job timestamps, millisecond resolution".to_string(),
            super::TimeSource::Polls { resolution_s } => format!(
                "as the status polls saw it: the server gave no timestamps, so the resolution is the {resolution_s} s poll interval"
            ),
        },
        opt_secs(l.queue_wait_p50_s, 3),
        opt_secs(l.processing_p50_s, 3),
    );
    let _ = writeln!(
        o,
        "- as a browser polling the status sees it: p50 {}, p95 {}",
        opt_secs(l.time_to_ready_polled_p50_s, 1),
        opt_secs(l.time_to_ready_polled_p95_s, 1),
    );
    let _ = writeln!(
        o,
        "- reports per minute: {}",
        l.reports_per_minute.map_or_else(
            || format!(
                "not given (fewer than {} reports completed)",
                super::MIN_REPORTS_FOR_RATE
            ),
            |v| format!("{v:.1}")
        )
    );
    if let Some(x) = &l.losses {
        losses(&mut o, x, r.limit.restart_on_oom);
    }
    if !l.errors.is_empty() {
        let _ = writeln!(o, "- errors:");
        for e in &l.errors {
            let _ = writeln!(o, "  - {e}");
        }
    }
    o.push_str(&super::leak::markdown(r));
    if let Some(split) = &r.split {
        let _ = writeln!(o);
        o.push_str(&super::split::markdown(split, &r.services));
    }
    work::section(&mut o, &r.load.work);
    let _ = writeln!(o, "\n## Server exits\n");
    for x in &r.server.exits {
        let _ = writeln!(
            o,
            "- start {}: started at {:.1} s (ready after {:.2} s), exited at {:.1} s: {} ({})",
            x.generation,
            x.started_at_s,
            x.ready_after_s,
            x.exited_at_s,
            x.cause.as_str(),
            x.status
        );
    }
    super::services::processes_section(&mut o, &r.services);
    crash::section(&mut o, r);
    let _ = writeln!(o, "\n## Files\n");
    let f = &r.files;
    let _ = write!(
        o,
        "`{}` (this report as data), `{}` (timeline), `{}` (every sample), `{}` (server output)",
        f.run_json.display(),
        f.memory_svg.display(),
        f.samples_csv.display(),
        f.server_log.display()
    );
    if let Some(h) = &l.goose_html {
        let _ = write!(o, ", `{}` (goose)", h.display());
    }
    o.push('\n');
    o
}

/// The attribution check at the jemalloc peak (issue 6).
fn attribution(o: &mut String, a: &super::PeakAttribution) {
    let _ = writeln!(
        o,
        "\nAttribution at the jemalloc peak ({:.1} s, server start {}): per-job live bytes + idle = {} MiB of {} MiB allocated ({:+.1}%, {}).",
        a.at_s,
        a.generation,
        smb(a.attributed_bytes),
        mb(a.jemalloc_allocated_bytes),
        a.difference_pct,
        if a.within_tolerance {
            format!(
                "within the {:.0}% tolerance",
                super::ATTRIBUTION_TOLERANCE_PCT
            )
        } else {
            format!(
                "**beyond the {:.0}% tolerance**: see the warning above",
                super::ATTRIBUTION_TOLERANCE_PCT
            )
        }
    );
    let jobs: Vec<String> = a
        .jobs
        .iter()
        .map(|j| {
            format!(
                "job {} ({}) {} MiB",
                j.job_id,
                j.stage,
                opt_smb(j.live_bytes)
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "Jobs: {} = {} MiB; idle (jemalloc allocated at the last reading with no job in flight{}): {} MiB.",
        if jobs.is_empty() {
            "none in flight".to_string()
        } else {
            jobs.join(", ")
        },
        smb(a.jobs_live_bytes),
        if a.idle_from_earlier_start {
            ", from the run's first server start: this one had none"
        } else {
            ""
        },
        opt_mb(a.idle_allocated_bytes)
    );
}

/// A table per job of what each stage cost, or, for a job the server could
/// no longer be asked about, what it held at the kill.
fn per_job_stages(o: &mut String, r: &RunReport) {
    if r.jobs.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n## Memory by job and stage\n");
    let _ = writeln!(
        o,
        "Per stage, as the server measured it (`GET /api/jobs/{{id}}`): high-water is the process-wide jemalloc `allocated` during the stage; thread allocated and still live after come from the job's worker thread (jemalloc per-thread counters). Memory that C libraries take from glibc `malloc` is in RSS only, not in these figures: libjpeg-turbo's decode buffers (`photos.decoder = \"libjpeg-turbo\"`: the coefficients of a progressive photo, 2 bytes each; with `\"reduced\"`, the `lean` profile, only a sequential photo's few MCU rows)."
    );
    let mut without = Vec::new();
    for j in &r.jobs {
        if !j.stages.is_empty() {
            let _ = writeln!(o, "\n### Job {} ({})\n", j.job_id, j.status);
            let mut t = Table::new(&[
                ("stage", Align::Text),
                ("duration (s)", Align::Figure),
                ("allocated high-water (MiB)", Align::Figure),
                ("thread allocated (MiB)", Align::Figure),
                ("still live after (MiB)", Align::Figure),
            ]);
            for s in &j.stages {
                t.row(vec![
                    s.stage.to_string(),
                    format!("{:.2}", s.duration_ms as f64 / 1000.0),
                    mb(s.allocated_high_water),
                    opt_mb(s.thread_allocated),
                    opt_smb(s.thread_live_after),
                ]);
            }
            o.push_str(&t.markdown());
            continue;
        }
        // No job document: the server was killed. What the last
        // `/debug/memory` reading before a kill said about it.
        let at_kill = r.oom_events.iter().filter(|e| e.killed).find_map(|e| {
            e.jobs_in_flight
                .iter()
                .find(|f| f.job_id.to_string() == j.job_id)
                .map(|f| (e, f))
        });
        match at_kill {
            Some((e, f)) => {
                let _ = writeln!(
                    o,
                    "\n### Job {} ({})\n\nNo per-stage figures from the server (it was killed before it could be asked). At the kill ({:.1} s, server start {}): stage {}, progress {}, {:.1} s in, {} MiB live on its worker thread{}.",
                    j.job_id,
                    j.status,
                    e.at_s,
                    e.generation,
                    f.stage,
                    f.progress,
                    f.elapsed_ms as f64 / 1000.0,
                    opt_smb(f.live_bytes),
                    e.debug_age_ms
                        .map(|a| format!(" (last `/debug/memory` reading, {a} ms before the kill)"))
                        .unwrap_or_default()
                );
            }
            None => without.push(j.job_id.as_str()),
        }
    }
    if !without.is_empty() {
        let _ = writeln!(
            o,
            "\nNo per-stage figures for job(s) {}: not in flight at a kill, and the server could not be asked at the end.",
            without.join(", ")
        );
    }
}

/// Submissions lost to kills (issue 7).
fn losses(o: &mut String, x: &super::SubmissionLosses, restarted: bool) {
    let server = if restarted {
        format!(
            "the reference server, restarted, lost {} acknowledged submission(s) (never completed or failed by the end)",
            x.lost_by_reference_server
        )
    } else {
        format!(
            "the server was not restarted (no `--restart-on-oom`), so {} acknowledged submission(s) never completed",
            x.lost_by_reference_server
        )
    };
    let _ = writeln!(
        o,
        "- {} kill(s): {server}; the modelled app's in-memory queue would have lost {} (acknowledged and not finished at the moment of a kill)",
        x.kills, x.lost_by_in_memory_queue
    );
    for k in &x.per_kill {
        let _ = writeln!(
            o,
            "  - kill at {:.1} s (server start {}): {} processing, {} pending{}",
            k.at_s,
            k.generation,
            k.processing,
            k.pending,
            if k.job_ids.is_empty() {
                String::new()
            } else {
                format!(" (jobs {})", k.job_ids.join(", "))
            }
        );
    }
}

mod crash;
mod work;

#[cfg(test)]
pub(crate) mod tests;
