//! The `upload photos` transaction: every photo of a submission through the
//! app's upload path, `upload_parallelism` at a time, as a browser's
//! uploads; each counted as the `upload photo` step.

use super::submit::submission_vars;
use super::{Answer, Shared, Step, UserSession, describe, excerpt, failed, iteration, text_at};
use crate::load::session::request_headers;
use crate::scenario::template;
use futures::StreamExt as _;
use goose::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

pub(super) async fn upload_photos(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it = iteration(user, &shared);
    if it.broken {
        user.set_session_data(it);
        return Ok(());
    }
    shared.record().submissions_attempted += 1;
    let sub = &shared.scenario.submission;
    let client = user.client.clone();
    let vars = submission_vars(&it, user.weighted_users_index + 1);
    let rendered = template::render_text(&shared.scenario.http.upload_path, &vars)
        .map_err(|e| format!("rendering the upload path: {e}"))
        .and_then(|path| {
            let own = request_headers(&shared.scenario.http.upload_headers, &vars)?;
            Ok((path, own))
        });
    let (path, own) = match rendered {
        Ok(p) => p,
        Err(e) => {
            let r = Err(failed(&shared, &mut it, "upload photos", &e));
            user.set_session_data(it);
            return r;
        }
    };
    let uploads = (0..sub.photos_per_submission()).map(|k| {
        let client = client.clone();
        let path = path.clone();
        let own = own.clone();
        let shared = Arc::clone(&shared);
        let session = Arc::clone(&it.session);
        async move {
            let started = Instant::now();
            let r = upload_one(&client, &shared, &session, (&path, own), k).await;
            (started.elapsed(), r)
        }
    });
    // In order, `upload_parallelism` at a time: as a browser's uploads.
    let results: Vec<_> = futures::stream::iter(uploads)
        .buffered(sub.upload_parallelism)
        .collect()
        .await;
    let mut first_error = None;
    for (elapsed, r) in results {
        let (status, error) = match &r {
            Ok((status, _)) => (Some(*status), None),
            Err((status, e)) => (*status, Some(e.as_str())),
        };
        match &r {
            Ok((status, _)) => shared.answer(Step::UploadPhoto, Answer::Used(*status), ""),
            Err((Some(status), e)) => shared.answer(Step::UploadPhoto, Answer::Refused(*status), e),
            Err((None, e)) => shared.answer(Step::UploadPhoto, Answer::NoAnswer, e),
        }
        user.record_custom_request_duration(
            "POST",
            "upload photo",
            elapsed,
            r.is_ok(),
            status,
            error,
        )
        .await?;
        match r {
            Ok((_, url)) => {
                shared.record().photos_uploaded += 1;
                it.photo_urls.push(url);
            }
            Err((_, e)) => {
                shared.record().error("upload photo", &e);
                first_error.get_or_insert(e);
            }
        }
    }
    let result = match first_error {
        Some(e) => Err(failed(
            &shared,
            &mut it,
            "upload photos",
            &format!("{e}; submission skipped"),
        )),
        None => Ok(()),
    };
    user.set_session_data(it);
    result
}

/// Uploads photo `k`; the answer's status and the stored URL, or the status
/// (if any) and error.
async fn upload_one(
    client: &reqwest::Client,
    shared: &Shared,
    session: &UserSession,
    (path, own): (&str, reqwest::header::HeaderMap),
    k: usize,
) -> Result<(u16, String), (Option<u16>, String)> {
    let http = &shared.scenario.http;
    let id = shared.scenario.submission.photo_id(k);
    let bytes = (shared.photo_source)(&id).map_err(|e| (None, format!("photo {id}: {e:#}")))?;
    let len = bytes.len() as u64;
    let format = shared.scenario.submission.photo_format(k);
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(bytes), len)
        .file_name(format!("{}.{}", id.replace('/', "-"), format.extension()))
        .mime_str(format.mime())
        .map_err(|e| (None, e.to_string()))?;
    let form = reqwest::multipart::Form::new().part(http.upload_field.clone(), part);
    let resp = session
        .apply(client.post(shared.url(path)))
        .headers(own)
        .multipart(form)
        .send()
        .await
        .map_err(|e| (None, describe(e)))?;
    session.keep_cookies(resp.headers());
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err((
            Some(status.as_u16()),
            format!(
                "status {status} for photo {}: {}",
                shared.scenario.submission.photo_label(k),
                excerpt(&body)
            ),
        ));
    }
    let answer: Value = resp.json().await.map_err(|e| {
        (
            Some(status.as_u16()),
            format!("answer is not JSON: {}", describe(e)),
        )
    })?;
    let url = text_at(&answer, &http.upload_url_pointer).ok_or_else(|| {
        (
            Some(status.as_u16()),
            format!(
                "no photo URL at `{}` in the answer",
                http.upload_url_pointer
            ),
        )
    })?;
    Ok((status.as_u16(), url))
}
