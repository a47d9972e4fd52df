//! Polling a job's status until its report is ready, failed or given up.

use super::*;

/// How waiting for a job ended.
enum End {
    Ready,
    Failed(String),
    TimedOut,
    /// A process died this long after the load started and nothing moved
    /// since.
    Lost(std::time::Duration),
}

enum Poll {
    /// The status, the error message, the report links, the degraded
    /// photos and a fingerprint of the whole answer (it changes when
    /// anything in it moves: a stage, a progress figure).
    Status(
        String,
        Option<String>,
        Vec<(String, Option<String>)>,
        Option<Value>,
        u64,
    ),
    Error(String),
}

async fn poll_once(
    user: &mut GooseUser,
    shared: &Shared,
    session: &UserSession,
    status_url: &str,
) -> Result<Poll, Box<TransactionError>> {
    let http = &shared.scenario.http;
    let (builder, to_app) = match shared.destination(status_url) {
        Ok(Destination::Server(url)) => (session.apply(user.client.get(url)), true),
        Ok(Destination::Elsewhere(url)) => (user.client.get(url), false),
        Err(e) => {
            shared.answer(Step::PollStatus, Answer::NoAnswer, &e);
            return Ok(Poll::Error(e));
        }
    };
    let request = GooseRequest::builder()
        .name("poll status")
        .set_request_builder(builder)
        .build();
    let goose = user.request(request).await?;
    let resp = match goose.response {
        Ok(r) => r,
        Err(e) => {
            let e = describe(e);
            shared.answer(Step::PollStatus, Answer::NoAnswer, &e);
            return Ok(Poll::Error(e));
        }
    };
    if to_app {
        session.keep_cookies(resp.headers());
    }
    let status = resp.status();
    let refused = |e: String| {
        shared.answer(Step::PollStatus, Answer::Refused(status.as_u16()), &e);
        Ok(Poll::Error(e))
    };
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return refused(format!("status {status}: {}", excerpt(&body)));
    }
    let answer: Value = match resp.json().await {
        Ok(v) => v,
        Err(e) => return refused(format!("answer is not JSON: {}", describe(e))),
    };
    let degraded = http
        .degraded_photos_pointer
        .as_deref()
        .and_then(|p| answer.pointer(p))
        .cloned();
    let fingerprint = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        answer.to_string().hash(&mut h);
        h.finish()
    };
    match text_at(&answer, &http.status_pointer) {
        Some(s) => {
            shared.answer(Step::PollStatus, Answer::Used(status.as_u16()), "");
            Ok(Poll::Status(
                s,
                http.error_pointer
                    .as_deref()
                    .and_then(|p| text_at(&answer, p)),
                http.report_url_pointers
                    .iter()
                    .map(|p| (p.clone(), text_at(&answer, p)))
                    .collect(),
                degraded,
                fingerprint,
            ))
        }
        None => refused(format!(
            "no status at `{}` in the answer",
            http.status_pointer
        )),
    }
}

pub(super) async fn wait_for_report(
    user: &mut GooseUser,
    shared: Arc<Shared>,
) -> TransactionResult {
    let mut it = iteration(user, &shared);
    let Some(mut job) = it.job.clone().filter(|_| !it.broken) else {
        return Ok(());
    };
    let users = &shared.scenario.users;
    let http = &shared.scenario.http;
    let deadline = job.submitted + users.job_timeout;
    // Bounded in count as well as time: one poll per interval until the
    // deadline, plus one.
    let max_polls =
        (users.job_timeout.as_secs_f64() / users.poll_interval.as_secs_f64()).ceil() as u64 + 1;
    let mut end = End::TimedOut;
    let mut seen = None;
    for _ in 0..max_polls {
        let poll = poll_once(user, &shared, &it.session, &job.status).await?;
        let now = Instant::now();
        if let Poll::Status(.., fingerprint) = &poll {
            if seen.is_some_and(|f| f != *fingerprint) {
                shared.lost.progressed(now);
            }
            seen = Some(*fingerprint);
        }
        match poll {
            Poll::Status(s, _, links, degraded, _) if http.done_values.contains(&s) => {
                shared.lost.progressed(now);
                finish(&shared, &job, now, &s, true);
                if let Some(list) = degraded {
                    let photos = super::super::tally::DegradedPhoto::read_all(&job.id, &list);
                    shared.record().degraded(photos);
                }
                job.ready = true;
                job.links = links;
                end = End::Ready;
                break;
            }
            Poll::Status(s, error, _, _, _) if http.failed_values.contains(&s) => {
                shared.lost.progressed(now);
                finish(&shared, &job, now, &s, false);
                let error = error.unwrap_or_else(|| "(no error given)".to_string());
                // Without the job id, so that repeats collapse into one
                // counted line; `jobs` has the status of each.
                end = End::Failed(format!("job {s}: {error}"));
                break;
            }
            Poll::Status(s, _, _, _, _) => shared.record().jobs[job.index].status = s,
            Poll::Error(e) => shared.record().error("poll status", &e),
        }
        if let Some(death) = shared.lost.lost(job.submitted, now) {
            end = End::Lost(death.saturating_duration_since(shared.started));
            break;
        }
        if now >= deadline {
            break;
        }
        let next = (now + users.poll_interval).min(deadline);
        tokio::time::sleep_until(next.into()).await;
    }
    let elapsed = job.submitted.elapsed();
    // (A stop drops this future before here: stopped jobs are not failures.)
    let result = match end {
        End::Ready => Ok(()),
        End::Failed(e) => Err(e),
        End::Lost(death) => {
            let mut record = shared.record();
            record.jobs_failed += 1;
            record.jobs_lost += 1;
            record.jobs[job.index].status = "lost".to_string();
            Err(format!(
                "job lost: a process of the app died {:.1} s into the load and no job moved for {} s after it (--lost-after)",
                death.as_secs_f64(),
                shared.lost.after().as_secs_f64()
            ))
        }
        End::TimedOut => {
            let mut record = shared.record();
            record.jobs_failed += 1;
            record.jobs[job.index].status = "timed out".to_string();
            Err(format!(
                "job not done within {} s (job_timeout_s)",
                users.job_timeout.as_secs_f64()
            ))
        }
    };
    let error = result.as_ref().err().map(String::as_str);
    user.record_custom_request_duration(
        TIME_TO_READY_METHOD,
        TIME_TO_READY_NAME,
        elapsed,
        result.is_ok(),
        None,
        error,
    )
    .await?;
    it.job = Some(job);
    let r = match result {
        Ok(()) => Ok(()),
        Err(e) => Err(failed(&shared, &mut it, "wait for report", &e)),
    };
    user.set_session_data(it);
    r
}

/// Records that `job` ended at `at` with `status`.
fn finish(shared: &Shared, job: &Job, at: Instant, status: &str, ready: bool) {
    let finished_at_ms = shared.ms_since_start(at);
    let mut record = shared.record();
    if ready {
        record.jobs_completed += 1;
    } else {
        record.jobs_failed += 1;
    }
    let j = &mut record.jobs[job.index];
    j.status = status.to_string();
    j.finished_at_ms = Some(finished_at_ms);
    if ready {
        j.time_to_ready_ms = Some(at.saturating_duration_since(job.submitted).as_millis() as u64);
    }
}
