//! Figures derived from the sample stream and the jobs: peaks by source and
//! by jobs in flight, a job's peak, quantiles, submissions lost to kills.

use crate::sampler::{Sample, StageSpan};
use crate::watchdog::OomEvent;

use super::{JobReport, KillLosses, PeakByJobs, Peaks, SubmissionLosses};

/// Submissions lost to the kills in `events`, from the jobs' outcomes.
/// `None` unless `restart_on_oom` or a kill happened.
pub fn submission_losses(
    jobs: &[JobReport],
    events: &[OomEvent],
    restart_on_oom: bool,
) -> Option<SubmissionLosses> {
    let kills: Vec<&OomEvent> = events.iter().filter(|e| e.killed).collect();
    if !restart_on_oom && kills.is_empty() {
        return None;
    }
    let mut lost = std::collections::BTreeSet::new();
    let per_kill = kills
        .iter()
        .map(|e| {
            let caught: Vec<&JobReport> = jobs
                .iter()
                .filter(|j| {
                    j.submitted_at_s <= e.at_s && j.finished_at_s.is_none_or(|f| f > e.at_s)
                })
                .collect();
            let processing = caught
                .iter()
                .filter(|j| {
                    e.jobs_in_flight
                        .iter()
                        .any(|f| f.job_id.to_string() == j.job_id)
                })
                .count() as u64;
            lost.extend(caught.iter().map(|j| j.job_id.clone()));
            KillLosses {
                at_s: e.at_s,
                generation: e.generation,
                processing,
                pending: caught.len() as u64 - processing,
                job_ids: caught.iter().map(|j| j.job_id.clone()).collect(),
            }
        })
        .collect();
    Some(SubmissionLosses {
        kills: kills.len() as u32,
        lost_by_reference_server: jobs.iter().filter(|j| j.finished_at_s.is_none()).count() as u64,
        lost_by_in_memory_queue: lost.len() as u64,
        per_kill,
    })
}

/// Peaks from the sample stream.
pub fn peaks_from_samples(samples: &[Sample], limit: u64) -> Peaks {
    let mut p = Peaks {
        sampled_rss_bytes: 0,
        sampled_rss_at_s: 0.0,
        vmhwm_bytes: 0,
        jemalloc_allocated_bytes: None,
        jemalloc_active_bytes: None,
        jemalloc_resident_bytes: None,
        cgroup_peak_bytes: None,
        idle_rss_bytes: samples.first().map(|s| s.rss),
        headroom_bytes: limit as i64,
        stages_at_peak: String::new(),
        by_jobs_in_flight: Vec::new(),
        attribution: None,
        process_at_peak: None,
        rss_sum_at_peak_bytes: None,
        tree_vmhwm_sum_bytes: None,
    };
    let mut jobs_now: u32 = 0;
    let mut stages_now = String::new();
    let mut by_jobs: std::collections::BTreeMap<u32, u64> = Default::default();
    for s in samples {
        if let Some(j) = s.jobs_in_flight {
            jobs_now = j;
            stages_now = s.stages.clone().unwrap_or_default();
        }
        if s.rss > p.sampled_rss_bytes {
            p.sampled_rss_bytes = s.rss;
            p.sampled_rss_at_s = s.t_ms as f64 / 1000.0;
            p.stages_at_peak = stages_now.clone();
            p.process_at_peak = s.per_process.as_deref().and_then(largest_process);
            p.rss_sum_at_peak_bytes = (s.rss_sum != s.rss).then_some(s.rss_sum);
        }
        p.vmhwm_bytes = p.vmhwm_bytes.max(s.hwm);
        let e = by_jobs.entry(jobs_now).or_default();
        *e = (*e).max(s.rss);
    }
    p.headroom_bytes = limit as i64 - p.sampled_rss_bytes.max(p.vmhwm_bytes) as i64;
    p.by_jobs_in_flight = by_jobs
        .into_iter()
        .map(|(jobs_in_flight, rss_bytes)| PeakByJobs {
            jobs_in_flight,
            rss_bytes,
        })
        .collect();
    p
}

/// The process holding the most of a tree's memory in a sample's
/// `per_process` field (`pid name bytes;...`), e.g. `pid 4242 (gunicorn):
/// 463.3 MiB of the tree's PSS`.
fn largest_process(per_process: &str) -> Option<String> {
    let (pid, name, bytes) = per_process
        .split(';')
        .filter_map(|p| {
            let mut f = p.split(' ');
            Some((f.next()?, f.next()?, f.next()?.parse::<u64>().ok()?))
        })
        .max_by_key(|(_, _, b)| *b)?;
    Some(format!(
        "pid {pid} ({name}): {} (PSS)",
        crate::units::mb(bytes)
    ))
}

/// Highest sampled RSS while job `job_id` had a stage band open.
pub fn job_peak(samples: &[Sample], spans: &[StageSpan], job_id: &str) -> Option<u64> {
    let id: i64 = job_id.parse().ok()?;
    let (start, end) =
        spans
            .iter()
            .filter(|s| s.job_id == id)
            .fold(None, |acc: Option<(f64, f64)>, s| {
                Some(acc.map_or((s.start_s, s.end_s), |(a, b)| {
                    (a.min(s.start_s), b.max(s.end_s))
                }))
            })?;
    samples
        .iter()
        .filter(|s| {
            let t = s.t_ms as f64 / 1000.0;
            t >= start && t <= end
        })
        .map(|s| s.rss)
        .max()
}

/// The `q`-quantile (0..=1) of `values` by nearest rank.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, rss: u64, jobs: Option<u32>) -> Sample {
        Sample {
            t_ms,
            generation: 0,
            rss,
            rss_anon: rss,
            rss_file: 0,
            hwm: rss,
            processes: 1,
            rss_sum: rss,
            per_process: None,
            cgroup_usage: None,
            jemalloc: None,
            jobs_in_flight: jobs,
            queue_depth: None,
            stages: jobs.map(|j| if j > 0 { "1:pdf".into() } else { String::new() }),
        }
    }

    #[test]
    fn peaks_are_split_by_jobs_in_flight_and_name_the_stage_at_the_peak() {
        let s = [
            sample(0, 10, Some(0)),
            sample(10, 50, Some(1)),
            sample(20, 40, None),
            sample(30, 20, Some(0)),
        ];
        let p = peaks_from_samples(&s, 100);
        assert_eq!(p.sampled_rss_bytes, 50);
        assert_eq!(p.idle_rss_bytes, Some(10));
        assert_eq!(p.stages_at_peak, "1:pdf");
        assert_eq!(p.headroom_bytes, 50);
        assert_eq!(
            p.by_jobs_in_flight,
            vec![
                PeakByJobs {
                    jobs_in_flight: 0,
                    rss_bytes: 20
                },
                PeakByJobs {
                    jobs_in_flight: 1,
                    rss_bytes: 50
                }
            ]
        );
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.95), Some(4.0));
    }
}
