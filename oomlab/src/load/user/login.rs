//! `log in`: the on-start transaction of each user when the scenario has an
//! `[http.login]` (or steps at `before_login` or `after_login`, which run
//! around it; named `start` without a login). It runs once per user, before its first submission; the
//! cookies its answer sets go with every later request to the app. A failed
//! login is recorded like any step's error and the user stops: its
//! iterations start broken and do nothing.
//!
//! The request goes through the load's login client, which does not follow
//! redirects: a form login answers `302` with the session cookie, and a
//! failed one often shows the form again with `200`, so the status checked
//! is the login answer's own.

use super::steps::run_steps;
use super::{Answer, Iteration, Shared, Step, UserSession, describe, excerpt, failed, iteration};
use crate::scenario::steps::At;
use crate::scenario::template::{self, Vars};
use crate::scenario::{Login, LoginBody};
use goose::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// The on-start transaction: the `before_login` steps, the login, the
/// `after_login` steps. The first failure stops the user.
pub(super) async fn log_in(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it: Iteration = iteration(user, &shared);
    let mut result = run_steps(user, &shared, &mut it, At::BeforeLogin, None).await;
    if result.is_ok() {
        result = log_in_once(user, &shared, &mut it).await;
    }
    if result.is_ok() {
        result = run_steps(user, &shared, &mut it, At::AfterLogin, None).await;
    }
    user.set_session_data(it);
    result
}

async fn log_in_once(
    user: &mut GooseUser,
    shared: &Shared,
    it: &mut Iteration,
) -> TransactionResult {
    let Some(login) = &shared.scenario.http.login else {
        return Ok(());
    };
    let started = Instant::now();
    let r = send(shared, &it.session, login, user.weighted_users_index + 1).await;
    let (status, error) = match &r {
        Ok(status) => (Some(*status), None),
        Err((status, e)) => (*status, Some(e.as_str())),
    };
    match &r {
        Ok(status) => shared.answer(Step::LogIn, Answer::Used(*status), ""),
        Err((Some(status), e)) => shared.answer(Step::LogIn, Answer::Refused(*status), e),
        Err((None, e)) => shared.answer(Step::LogIn, Answer::NoAnswer, e),
    }
    user.record_custom_request_duration(
        &login.method,
        "log in",
        started.elapsed(),
        r.is_ok(),
        status,
        error,
    )
    .await?;
    match r {
        Ok(_) => {
            shared.record().users_logged_in += 1;
            Ok(())
        }
        Err((_, e)) => {
            it.session.stop();
            Err(failed(
                shared,
                it,
                "log in",
                &format!("{e}; the user stops"),
            ))
        }
    }
}

/// Sends user `user_number`'s login; its status, or the status (if any)
/// and why it failed.
async fn send(
    shared: &Shared,
    session: &UserSession,
    login: &Login,
    user_number: usize,
) -> Result<u16, (Option<u16>, String)> {
    let vars = session.vars(Vars::new().with("user", user_number));
    let render = |e: template::TemplateError| (None, format!("rendering the login: {e}"));
    let path = template::render_text(&login.path, &vars).map_err(render)?;
    let method = reqwest::Method::from_bytes(login.method.as_bytes())
        .map_err(|e| (None, format!("method {}: {e}", login.method)))?;
    let own = crate::load::session::request_headers(&login.headers, &vars)
        .map_err(|e| (None, format!("the login's {e}")))?;
    let request = session
        .apply(shared.direct_client.request(method, shared.url(&path)))
        .headers(own);
    let request = match &login.body {
        LoginBody::Empty => request,
        LoginBody::Form(fields) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                form.append_pair(name, &template::render_text(value, &vars).map_err(render)?);
            }
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(form.finish())
        }
        LoginBody::Json(t) => request.json(&template::render(t, &vars).map_err(render)?),
    };
    let answer = request.send().await.map_err(|e| (None, describe(e)))?;
    let status = answer.status();
    let expected = if login.expect_status.is_empty() {
        status.is_success()
    } else {
        login.expect_status.contains(&status.as_u16())
    };
    if !expected {
        let wanted = if login.expect_status.is_empty() {
            "2xx".to_string()
        } else {
            login
                .expect_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let hint = if status.is_redirection() && login.expect_status.is_empty() {
            format!(
                " (redirects are not followed: a login that answers with a redirect needs expect_status = {})",
                status.as_u16()
            )
        } else {
            String::new()
        };
        let body = answer.text().await.unwrap_or_default();
        let body = if body.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", excerpt(&body))
        };
        return Err((
            Some(status.as_u16()),
            format!("status {status}, expected {wanted}{hint}{body}"),
        ));
    }
    session.keep_cookies(answer.headers());
    Ok(status.as_u16())
}
