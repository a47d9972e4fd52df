//! The `submit` transaction: the submission rendered from the scenario's
//! templates (with the user's captured values), sent as JSON, or with
//! `photos = "attached"` as a multipart form that carries the photos
//! itself; the job id read from the answer's JSON or from a header
//! (`job_id_header`, a `Location`).
//!
//! Sent through the load's direct client, which does not follow redirects:
//! an app that answers a form post with `303 See Other` and the job's
//! `Location` is read from that answer, not from the page it points to.

use super::{
    Answer, Iteration, Job, JobOutcome, Shared, Step, describe, excerpt, failed, iteration, text_at,
};
use crate::load::session::request_headers;
use crate::scenario::template::{self, Vars};
use crate::scenario::{PhotoSource, SubmitAs};
use goose::prelude::*;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// The variables every template of user `user_number`'s submission
/// `iteration` knows, its captured values included.
pub(super) fn submission_vars(it: &Iteration, user_number: usize) -> Vars {
    let date = chrono::Local::now().format("%Y-%m-%d").to_string();
    it.session.vars(
        Vars::new()
            .with("user", user_number)
            .with("iteration", it.number)
            .with("date", date),
    )
}

/// The submission body for `photo_urls`, rendered with `common` (see
/// [`submission_vars`]).
pub(super) fn submission_body(
    shared: &Shared,
    common: Vars,
    photo_urls: &[String],
) -> Result<Value, template::TemplateError> {
    let sub = &shared.scenario.submission;
    let http = &shared.scenario.http;
    let common = common.with("signature_png", shared.signature_png.as_str());
    let items = (0..sub.items)
        .map(|i| {
            let urls = photo_urls
                .iter()
                .skip(i * sub.photos_per_item)
                .take(sub.photos_per_item)
                .cloned()
                .map(Value::String)
                .collect::<Vec<_>>();
            let vars = common
                .clone()
                .with("item_number", i + 1)
                .with("photo_count", urls.len())
                .with("photo_urls", Value::Array(urls));
            template::render(&http.item_template, &vars)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let signatures = sub
        .signatures
        .iter()
        .map(|role| {
            let vars = common.clone().with("role", role.as_str());
            template::render(&http.signature_template, &vars)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let vars = common
        .with("photo_count", photo_urls.len())
        .with("items", Value::Array(items))
        .with("signatures", Value::Array(signatures));
    template::render(&http.submission_template, &vars)
}

/// The file name photo `k` of a submission is attached under: unique in
/// the submission, so an app can match `{{photo_urls}}` to its parts.
fn attached_name(shared: &Shared, k: usize) -> String {
    let sub = &shared.scenario.submission;
    format!(
        "{}-{}.{}",
        k + 1,
        sub.photo_id(k).replace('/', "-"),
        sub.photo_format(k).extension()
    )
}

pub(super) async fn submit(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let mut it = iteration(user, &shared);
    if it.broken {
        return Ok(());
    }
    let sub = &shared.scenario.submission;
    match sub.photos {
        PhotoSource::Upload => {}
        PhotoSource::Catalogue => {
            shared.record().submissions_attempted += 1;
            it.photo_urls = (0..sub.photos_per_submission())
                .map(|k| {
                    let ext = sub.photo_format(k).extension();
                    shared.cloudinary.image_url(&sub.photo_id(k), ext)
                })
                .collect();
        }
        PhotoSource::Attached => {
            shared.record().submissions_attempted += 1;
            it.photo_urls = (0..sub.photos_per_submission())
                .map(|k| attached_name(&shared, k))
                .collect();
        }
    }
    let user_number = user.weighted_users_index + 1;
    let submitted = Instant::now();
    let r = send(&shared, &it, user_number).await;
    let (status, error) = match &r {
        Ok(a) => (Some(a.status), None),
        Err((status, e)) => (*status, Some(e.as_str())),
    };
    match &r {
        Ok(a) => shared.answer(Step::Submit, Answer::Used(a.status), ""),
        Err((Some(s), e)) => shared.answer(Step::Submit, Answer::Refused(*s), e),
        Err((None, e)) => shared.answer(Step::Submit, Answer::NoAnswer, e),
    }
    user.record_custom_request_duration(
        "POST",
        "submit",
        submitted.elapsed(),
        r.is_ok(),
        status,
        error,
    )
    .await?;
    let result = match r {
        Err((_, e)) => Err(failed(&shared, &mut it, "submit", &e)),
        Ok(a) => {
            let index = {
                let mut record = shared.record();
                record.submissions_acknowledged += 1;
                if sub.photos == PhotoSource::Attached {
                    record.photos_uploaded += it.photo_urls.len() as u64;
                }
                record.jobs.push(JobOutcome {
                    job_id: a.job_id.clone(),
                    submitted_at_ms: shared.ms_since_start(submitted),
                    finished_at_ms: None,
                    status: memstats::JobStatus::Pending.to_string(),
                    time_to_ready_ms: None,
                });
                record.jobs.len() - 1
            };
            it.job = Some(Job {
                id: a.job_id,
                status: a.status_path,
                submitted,
                index,
                ready: false,
                links: Vec::new(),
            });
            Ok(())
        }
    };
    user.set_session_data(it);
    result
}

/// An acknowledged submission.
struct Acknowledged {
    status: u16,
    job_id: String,
    /// Status path or URL.
    status_path: String,
}

/// Renders and sends the submission; what the app acknowledged, or the
/// status (if any) and why it cannot be used.
async fn send(
    shared: &Shared,
    it: &Iteration,
    user_number: usize,
) -> Result<Acknowledged, (Option<u16>, String)> {
    let http = &shared.scenario.http;
    let common = submission_vars(it, user_number);
    let render = |e: template::TemplateError| (None, format!("rendering the submission: {e}"));
    let body = submission_body(shared, common.clone(), &it.photo_urls).map_err(render)?;
    let path = template::render_text(&http.submit_path, &common).map_err(render)?;
    let own = request_headers(&http.submit_headers, &common).map_err(|e| (None, e))?;
    let request = it
        .session
        .apply(shared.direct_client.post(shared.url(&path)))
        .headers(own);
    let attached: &[String] = match shared.scenario.submission.photos {
        PhotoSource::Attached => &it.photo_urls,
        PhotoSource::Upload | PhotoSource::Catalogue => &[],
    };
    let request = match http.submit_as {
        SubmitAs::Json => request.json(&body),
        SubmitAs::Form => request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form_fields(&body)),
        SubmitAs::Multipart => request.multipart(multipart_form(shared, &body, attached)?),
    };
    let resp = request.send().await.map_err(|e| (None, describe(e)))?;
    it.session.keep_cookies(resp.headers());
    let status = resp.status();
    let code = Some(status.as_u16());
    // A form post answered with a redirect to the job is an answer when the
    // job's address is read from a header.
    let usable = status.is_success() || (status.is_redirection() && http.job_id_header.is_some());
    if !usable {
        let text = resp.text().await.unwrap_or_default();
        return Err((code, format!("status {status}: {}", excerpt(&text))));
    }
    let header = http.job_id_header.as_deref().map(|name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    let needs_json = header.is_none() || http.status_url_pointer.is_some();
    let answer: Value = if needs_json {
        resp.json()
            .await
            .map_err(|e| (code, format!("answer is not JSON: {}", describe(e))))?
    } else {
        Value::Null
    };
    let (job_id, location) = match header {
        Some(None) => {
            let name = http.job_id_header.as_deref().unwrap_or_default();
            return Err((code, format!("no `{name}` header in the answer")));
        }
        Some(Some(value)) => match last_segment(&value) {
            Some(id) => (id, Some(value)),
            None => {
                return Err((
                    code,
                    format!(
                        "no job id in the `{value}` of the answer's header (its last path segment)"
                    ),
                ));
            }
        },
        None => match text_at(&answer, &http.job_id_pointer) {
            Some(id) => (id, None),
            None => {
                return Err((
                    code,
                    format!("no job id at `{}` in the answer", http.job_id_pointer),
                ));
            }
        },
    };
    let status_path = match (&http.status_path, &http.status_url_pointer, location) {
        (Some(path), _, _) => {
            let vars = common.with("job_id", job_id.as_str());
            template::render_text(path, &vars).map_err(|e| (code, e.to_string()))?
        }
        (None, Some(pointer), _) => text_at(&answer, pointer)
            .ok_or_else(|| (code, format!("no status URL at `{pointer}` in the answer")))?,
        (None, None, Some(location)) => location,
        (None, None, None) => unreachable!("a scenario has a status path, pointer or header"),
    };
    // A status URL the load will not poll fails the submission now rather
    // than every poll until the job's deadline.
    shared
        .destination(&status_path)
        .map_err(|e| (code, format!("status URL: {e}")))?;
    Ok(Acknowledged {
        status: status.as_u16(),
        job_id,
        status_path,
    })
}

/// The body's top-level keys as form fields: a string as it is, `null` as
/// empty, a number or boolean as its text, a list or object as JSON text.
fn fields(body: &Value) -> Vec<(String, String)> {
    let Value::Object(fields) = body else {
        return Vec::new();
    };
    fields
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// The body as `application/x-www-form-urlencoded` text.
fn form_fields(body: &Value) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields(body) {
        form.append_pair(&name, &value);
    }
    form.finish()
}

/// The multipart form of a submission: the body's fields as text parts,
/// then each attached photo (`names`, none unless `photos = "attached"`)
/// as a file part named `http.upload_field`.
fn multipart_form(
    shared: &Shared,
    body: &Value,
    names: &[String],
) -> Result<reqwest::multipart::Form, (Option<u16>, String)> {
    let mut form = reqwest::multipart::Form::new();
    for (name, text) in fields(body) {
        form = form.text(name, text);
    }
    let sub = &shared.scenario.submission;
    for (k, name) in names.iter().enumerate() {
        let id = sub.photo_id(k);
        let bytes = (shared.photo_source)(&id).map_err(|e| (None, format!("photo {id}: {e:#}")))?;
        let len = bytes.len() as u64;
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(bytes), len)
            .file_name(name.clone())
            .mime_str(sub.photo_format(k).mime())
            .map_err(|e| (None, e.to_string()))?;
        form = form.part(shared.scenario.http.upload_field.clone(), part);
    }
    Ok(form)
}

/// The last non-empty path segment of a URL or path (`/jobs/42/` gives
/// `42`), without its query or fragment.
fn last_segment(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/')
        .find(|s| !s.is_empty() && !s.contains(':'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::{form_fields, last_segment};

    #[test]
    fn a_form_submission_sends_the_template_s_top_level_keys() {
        let body =
            serde_json::json!({"csrf_token": "t/1", "items": [{"n": 1}], "count": 2, "none": null});
        let text = form_fields(&body);
        let back: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            back,
            [
                ("count".to_string(), "2".to_string()),
                ("csrf_token".into(), "t/1".into()),
                ("items".into(), r#"[{"n":1}]"#.into()),
                ("none".into(), String::new()),
            ]
        );
    }

    #[test]
    fn the_job_id_is_the_locations_last_path_segment() {
        assert_eq!(last_segment("/jobs/42").as_deref(), Some("42"));
        assert_eq!(
            last_segment("http://127.0.0.1:8000/jobs/a-7/?x=1#f").as_deref(),
            Some("a-7")
        );
        assert_eq!(last_segment("/").as_deref(), None);
        assert_eq!(last_segment("http://127.0.0.1:8000"), None);
    }
}
