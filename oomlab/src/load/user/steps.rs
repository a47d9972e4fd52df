//! `[[http.steps]]`: the extra requests at a point of a user's flow, in file
//! order, each checked against its expected status and its captures read
//! into the user's session for later templates.
//!
//! Sent through the load's direct client (redirects not followed, as for the
//! login), so a step's status, its `Set-Cookie` and its `Location` are the
//! app's own answer; recorded in goose under the step's name and counted in
//! the load's step table. The first step that fails ends the point: at
//! `before_login` and `after_login` the user stops (as on a failed login),
//! later the submission's iteration is broken and does nothing more.

use super::{Answer, Iteration, Shared, UserSession, describe, excerpt, failed};
use crate::scenario::steps::{At, FlowStep, StepBody};
use crate::scenario::template::{self, Vars};
use goose::prelude::*;
use std::time::Instant;

/// Body bytes read for a capture; the rest of a larger answer is dropped
/// unread, so a step never holds more than this.
const MAX_BODY_READ: usize = 4 << 20;

/// Runs the steps at `at` for `it`'s user; `job_id` from `after_submit` on.
pub(super) async fn run_steps(
    user: &mut GooseUser,
    shared: &Shared,
    it: &mut Iteration,
    at: At,
    job_id: Option<&str>,
) -> TransactionResult {
    let user_number = user.weighted_users_index + 1;
    for (index, step) in shared.scenario.http.steps_at(at) {
        let mut base = Vars::new().with("user", user_number);
        if !at.once_per_user() {
            let date = chrono::Local::now().format("%Y-%m-%d").to_string();
            base = base.with("iteration", it.number).with("date", date);
        }
        if let Some(id) = job_id {
            base = base.with("job_id", id);
        }
        let vars = it.session.vars(base);
        let started = Instant::now();
        let r = send(shared, &it.session, step, &vars).await;
        let (answer, status, error) = match &r {
            Ok(status) => (Answer::Used(*status), Some(*status), None),
            Err((Some(status), e)) => (Answer::Refused(*status), Some(*status), Some(e.as_str())),
            Err((None, e)) => (Answer::NoAnswer, None, Some(e.as_str())),
        };
        shared.flow_answer(at, index, &step.name, answer, error.unwrap_or_default());
        user.record_custom_request_duration(
            &step.method,
            &step.name,
            started.elapsed(),
            r.is_ok(),
            status,
            error,
        )
        .await?;
        if let Err((_, e)) = r {
            let e = if at.once_per_user() {
                it.session.stop();
                format!("{e}; the user stops")
            } else {
                e
            };
            return Err(failed(shared, it, &step.name, &e));
        }
    }
    Ok(())
}

/// Sends `step` and reads its captures into `session`; its status, or the
/// status (if any) and why it failed.
async fn send(
    shared: &Shared,
    session: &UserSession,
    step: &FlowStep,
    vars: &Vars,
) -> Result<u16, (Option<u16>, String)> {
    let render = |e: template::TemplateError| (None, format!("rendering the step: {e}"));
    let path = template::render_text(&step.path, vars).map_err(render)?;
    let method = reqwest::Method::from_bytes(step.method.as_bytes())
        .map_err(|e| (None, format!("method {}: {e}", step.method)))?;
    let own = crate::load::session::request_headers(&step.headers, vars).map_err(|e| (None, e))?;
    let request = session
        .apply(shared.direct_client.request(method, shared.url(&path)))
        .headers(own);
    let request = match &step.body {
        StepBody::Empty => request,
        StepBody::Form(fields) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                form.append_pair(name, &template::render_text(value, vars).map_err(render)?);
            }
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.finish())
        }
        StepBody::Json(t) => request.json(&template::render(t, vars).map_err(render)?),
    };
    let answer = request.send().await.map_err(|e| (None, describe(e)))?;
    session.keep_cookies(answer.headers());
    let status = answer.status();
    let code = status.as_u16();
    if !step.expects(code) {
        let body = read_body(answer, 64 * 1024).await;
        let body = if body.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", excerpt(&body))
        };
        return Err((
            Some(code),
            format!("status {status}, expected {}{body}", step.expected_text()),
        ));
    }
    let headers = answer.headers().clone();
    let body = if step.reads_body() {
        read_body(answer, MAX_BODY_READ).await
    } else {
        String::new()
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    for c in &step.captures {
        let value = c
            .read(header, &body)
            .map_err(|e| (Some(code), format!("capture `{}`: {e}", c.name)))?;
        session.capture(&c.name, value);
    }
    Ok(code)
}

/// The answer's body as text, its first `max` bytes at most.
async fn read_body(mut answer: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = answer.chunk().await {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
