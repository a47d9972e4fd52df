//! `report.md`: the run in prose and tables, rendered from [`RunReport`].

use std::fmt::Write;

use memstats::format_mb;

use super::RunReport;

fn mb(b: u64) -> String {
    format_mb(b)
}

fn opt_mb(b: Option<u64>) -> String {
    b.map(mb).unwrap_or_else(|| "n/a".into())
}

fn opt_s(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "n/a".into())
}

/// Renders the report. Units: MB = 1,048,576 bytes, s = seconds.
pub fn render(r: &RunReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# oomlab run: {} on {}\n",
        r.profile.name, r.scenario.name
    );
    let _ = writeln!(o, "**Verdict:** {}\n", r.verdict.summary);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| profile | {} (`{}`) |",
        r.profile.name,
        r.profile.path.display()
    );
    let _ = writeln!(
        o,
        "| scenario | {} (`{}`) |",
        r.scenario.name,
        r.scenario.path.display()
    );
    let _ = writeln!(
        o,
        "| limit | {} MB, enforced by {}{} |",
        mb(r.limit.bytes),
        r.limit.enforce.as_str(),
        if r.limit.restart_on_oom {
            ", restart on OOM"
        } else {
            ""
        }
    );
    let _ = writeln!(o, "| started | {} |", r.started_at);
    let _ = writeln!(o, "| duration | {:.1} s |", r.duration_s);
    let _ = writeln!(o, "| server starts | {} |", r.server.starts);
    let _ = writeln!(o, "| exit code | {} |", r.verdict.exit_code);
    for n in &r.limit.notes {
        let _ = writeln!(o, "\nNote: {n}");
    }

    let p = &r.peaks;
    let _ = writeln!(o, "\n## Peak memory by source\n");
    let _ = writeln!(
        o,
        "| source | peak (MB) | what it measures |\n|---|---:|---|"
    );
    let _ = writeln!(
        o,
        "| sampled RSS | {} at {:.1} s | `VmRSS` of the server's process tree, read from `/proc` every 10 ms |",
        mb(p.sampled_rss_bytes),
        p.sampled_rss_at_s
    );
    let _ = writeln!(
        o,
        "| VmHWM | {} | the kernel's high-water mark of RSS: no peak between samples is missed |",
        mb(p.vmhwm_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc allocated | {} | bytes the server's code holds (`stats.allocated`, every 100 ms) |",
        opt_mb(p.jemalloc_allocated_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc active | {} | pages of live allocations (`stats.active`) |",
        opt_mb(p.jemalloc_active_bytes)
    );
    let _ = writeln!(
        o,
        "| jemalloc resident | {} | pages the allocator holds resident (`stats.resident`) |",
        opt_mb(p.jemalloc_resident_bytes)
    );
    if let Some(c) = p.cgroup_peak_bytes {
        let _ = writeln!(
            o,
            "| cgroup peak | {} | the memory cgroup's peak usage, page cache included |",
            mb(c)
        );
    }
    let _ = writeln!(
        o,
        "| idle RSS | {} | RSS at the first sample after the server was ready |",
        opt_mb(p.idle_rss_bytes)
    );
    let _ = writeln!(
        o,
        "\nHeadroom: {:.1} MB below the limit (negative: over it).",
        p.headroom_bytes as f64 / (1u64 << 20) as f64
    );
    if !p.stages_at_peak.is_empty() {
        let _ = writeln!(
            o,
            "Jobs and stages at the RSS peak: `{}`.",
            p.stages_at_peak
        );
    }
    match r.modelled_runtime_bytes {
        Some(m) if m > 0 => {
            let _ = writeln!(
                o,
                "\nModelled runtime: {} MB held from start to stand in for the modelled app's \
                 interpreter. A declared model input, not a measurement; it is included in the \
                 measured figures above.",
                mb(m)
            );
        }
        _ => {
            let _ = writeln!(
                o,
                "\nModelled runtime: none (the Rust server measured as it is)."
            );
        }
    }

    if !p.by_jobs_in_flight.is_empty() {
        let _ = writeln!(o, "\n## Peak by jobs in flight\n");
        let _ = writeln!(o, "| jobs in flight | peak sampled RSS (MB) |\n|---:|---:|");
        for b in &p.by_jobs_in_flight {
            let _ = writeln!(o, "| {} | {} |", b.jobs_in_flight, mb(b.rss_bytes));
        }
    }

    if !r.oom_events.is_empty() {
        let _ = writeln!(o, "\n## Limit events\n");
        for e in &r.oom_events {
            let _ = writeln!(o, "- server start {}: {}", e.generation, e.summary());
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
                            ", {:.1} MB live on its thread",
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
        let _ = writeln!(
            o,
            "| job | status | submitted (s) | ready after (s) | peak RSS in flight (MB) | heaviest stage (allocated high water, MB) |\n|---|---|---:|---:|---:|---|"
        );
        for j in &r.jobs {
            let heaviest = j
                .stages
                .iter()
                .max_by_key(|s| s.allocated_high_water)
                .map(|s| format!("{} ({})", s.stage, mb(s.allocated_high_water)))
                .unwrap_or_else(|| "n/a".into());
            let _ = writeln!(
                o,
                "| {} | {} | {:.1} | {} | {} | {} |",
                j.job_id,
                j.status,
                j.submitted_at_s,
                opt_s(j.time_to_ready_s),
                opt_mb(j.peak_rss_bytes),
                heaviest
            );
        }
    }

    let l = &r.load;
    let _ = writeln!(o, "\n## Load\n");
    let _ = writeln!(
        o,
        "- submissions acknowledged: {}; completed: {}; failed: {}; acknowledged but never completed: {}",
        l.submissions_acknowledged, l.jobs_completed, l.jobs_failed, l.acknowledged_never_completed
    );
    let _ = writeln!(
        o,
        "- time from submission to report ready: p50 {} s, p95 {} s; reports per minute: {}",
        opt_s(l.time_to_ready_p50_s),
        opt_s(l.time_to_ready_p95_s),
        l.reports_per_minute
            .map(|v| format!("{v:.1}"))
            .unwrap_or_else(|| "n/a".into())
    );
    if !l.errors.is_empty() {
        let _ = writeln!(o, "- errors:");
        for e in &l.errors {
            let _ = writeln!(o, "  - {e}");
        }
    }
    let _ = writeln!(o, "\n## Server exits\n");
    for x in &r.server.exits {
        let _ = writeln!(
            o,
            "- start {}: started at {:.1} s (ready after {:.2} s), exited at {:.1} s: {} ({})",
            x.generation, x.started_at_s, x.ready_after_s, x.exited_at_s, x.cause, x.status
        );
    }
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
