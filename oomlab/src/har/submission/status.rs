//! After the submission: where its job id and status URL are in the
//! answer, the status path, the pointer whose value changed while polling
//! and the value it ended on, the poll interval, and the downloads as paths
//! with `{{job_id}}` or as links of the last status answer.

use serde_json::Value;

use super::super::flow::Flow;
use super::super::json;
use super::super::model::Call;

/// The `[http]` keys of the status and the downloads.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The recorded job id (its text), to put `{{job_id}}` in later paths.
    pub job_id: Option<String>,
    pub job_id_pointer: Option<String>,
    /// The answer header holding the job's URL (`Location`), when the
    /// browser polled that URL.
    pub job_id_header: Option<String>,
    pub status_url_pointer: Option<String>,
    pub status_path: Option<String>,
    pub status_pointer: Option<String>,
    pub done_values: Vec<String>,
    pub download_paths: Vec<String>,
    pub report_url_pointers: Vec<String>,
    /// Seconds between polls in the recording.
    pub poll_interval_s: Option<f64>,
}

/// Reads the status from the calls after `calls[submit]`.
pub fn read(calls: &[Call], flow: &Flow, submit: usize, checks: &mut Vec<String>) -> Status {
    let mut s = Status::default();
    let answer = calls[submit].response_json.as_ref();
    let leaves: Vec<(String, String)> = answer
        .map(|v| {
            json::leaves(v)
                .into_iter()
                .filter_map(|(p, x)| json::text(x).map(|t| (p, t)))
                .collect()
        })
        .unwrap_or_default();
    let location = calls[submit].response_header("location").map(|l| {
        url::Url::parse(l)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| l.split(['?', '#']).next().unwrap_or(l).to_string())
    });
    let first_poll = flow.polls.first().map(|&i| &calls[i]);
    // The job's URL in `Location`, polled as it was given (or nothing
    // else to go by): the header is the job id and the status URL.
    if let Some(loc) = &location
        && (first_poll.is_some_and(|p| p.bare_path() == loc) || answer.is_none())
        && let Some(id) = loc.rsplit('/').find(|seg| !seg.is_empty())
    {
        s.job_id_header = Some("Location".into());
        s.job_id = Some(id.to_string());
        if first_poll.is_some_and(|p| p.bare_path() != loc) {
            checks.push(format!(
                "the status was polled at {} but the submission's Location is {loc}: the load polls the Location; check status_path",
                first_poll.map_or("", |p| p.path.as_str())
            ));
        }
    } else if answer.is_none() {
        checks.push(
            "the submission's answer is not JSON and has no Location header: check job_id_pointer and status_url_pointer".to_string(),
        );
    }
    let Some(poll) = first_poll else {
        return s;
    };
    let segments: Vec<&str> = poll.bare_path().split('/').collect();
    let job_id = if s.job_id_header.is_some() {
        s.job_id.clone().map(|id| (String::new(), id))
    } else {
        read_pointers(&mut s, &leaves, poll, &segments, checks)
    };
    let with_id = |path: &str| -> String {
        match &job_id {
            Some((_, id)) => path
                .split('/')
                .map(|seg| if seg == id { "{{job_id}}" } else { seg })
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    };
    if s.status_url_pointer.is_none() && s.job_id_header.is_none() {
        let p = with_id(&poll.path);
        if !p.contains("{{job_id}}") {
            checks.push(format!(
                "the status path {p} does not hold the job id: check status_path"
            ));
        }
        s.status_path = Some(p);
    }

    // The status: a string that changed while polling, the one named
    // status or state first; its last value is the done value.
    let answers: Vec<&Value> = flow
        .polls
        .iter()
        .filter_map(|&i| calls[i].response_json.as_ref())
        .collect();
    if let Some(last) = answers.last() {
        let changed = |p: &str| {
            answers
                .iter()
                .filter_map(|a| a.pointer(p).and_then(Value::as_str))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                > 1
        };
        let named = |p: &str| {
            matches!(
                json::last_key(p).to_ascii_lowercase().as_str(),
                "status" | "state"
            )
        };
        let strings: Vec<String> = json::leaves(last)
            .into_iter()
            .filter(|(_, v)| v.is_string())
            .map(|(p, _)| p)
            .collect();
        let pick = strings
            .iter()
            .find(|p| named(p) && changed(p))
            .or_else(|| strings.iter().find(|p| changed(p)))
            .or_else(|| strings.iter().find(|p| named(p)));
        if let Some(p) = pick {
            let done = last
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if ["fail", "error", "cancel"]
                .iter()
                .any(|w| done.to_ascii_lowercase().contains(w))
            {
                checks.push(format!(
                    "the recorded job ended `{done}` at {p}: record a flow whose report is made"
                ));
            }
            s.status_pointer = Some(p.clone());
            s.done_values = vec![done];
        } else {
            checks.push(
                "no status value found in the status answers: check status_pointer and done_values"
                    .into(),
            );
        }
        // No download recorded (Playwright leaves downloads out): the
        // report links of the last answer.
        if flow.downloads.is_empty() {
            let links = report_links(last, &flow.origin, poll.bare_path());
            if links.is_empty() {
                checks.push("no report download was recorded: check download_paths".into());
            } else {
                checks.push(format!(
                    "no report download was recorded: the links of the last status answer ({}) are downloaded; check report_url_pointers and download_paths",
                    links.join(", ")
                ));
            }
            s.report_url_pointers = links;
        }
        // The report links of the last answer that were fetched.
        for &d in &flow.downloads {
            let c = &calls[d];
            let url = format!("{}{}", c.origin, c.path);
            let link = json::leaves(last)
                .into_iter()
                .find(|(_, v)| {
                    v.as_str()
                        .is_some_and(|t| t == url || (t == c.path && c.origin == flow.origin))
                })
                .map(|(p, _)| p);
            match link {
                Some(p) => s.report_url_pointers.push(p),
                None if c.origin == flow.origin => {
                    let p = with_id(&c.path);
                    if !p.contains("{{job_id}}") {
                        checks.push(format!(
                            "the download {} holds no job id: every job downloads the same path",
                            c.path
                        ));
                    }
                    s.download_paths.push(p);
                }
                None => checks.push(format!(
                    "the download {url} is on another host and not a link of the status answer: not replayed"
                )),
            }
        }
    }
    let times: Vec<f64> = flow.polls.iter().filter_map(|&i| calls[i].at_ms).collect();
    let mut gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) / 1e3).collect();
    gaps.sort_by(f64::total_cmp);
    if let Some(m) = gaps.get(gaps.len() / 2) {
        s.poll_interval_s = Some(((m * 20.0).round() / 20.0).clamp(0.05, 60.0));
    }
    s
}

/// The job id's and the status URL's pointers in the JSON answer
/// (`leaves`), found by the first poll's path (`segments`); the job id's
/// pointer and text.
fn read_pointers(
    s: &mut Status,
    leaves: &[(String, String)],
    poll: &Call,
    segments: &[&str],
    checks: &mut Vec<String>,
) -> Option<(String, String)> {
    s.status_url_pointer = leaves
        .iter()
        .find(|(_, t)| {
            *t == poll.path
                || *t == format!("{}{}", poll.origin, poll.path)
                || url::Url::parse(t).is_ok_and(|u| u.path() == poll.bare_path())
        })
        .map(|(p, _)| p.clone());
    let job_id = leaves
        .iter()
        .filter(|(_, t)| !t.is_empty() && segments.contains(&t.as_str()))
        .max_by_key(|(p, _)| {
            let k = json::last_key(p).to_ascii_lowercase();
            (k.contains("job"), k.contains("id"))
        })
        .cloned();
    s.job_id = job_id.as_ref().map(|(_, t)| t.clone());
    s.job_id_pointer = job_id.as_ref().map(|(p, _)| p.clone()).or_else(|| {
        leaves
            .iter()
            .find(|(p, _)| json::last_key(p).to_ascii_lowercase().ends_with("id"))
            .map(|(p, _)| p.clone())
    });
    if s.job_id_pointer.is_none() {
        checks.push("no job id found in the submission's answer: check job_id_pointer".into());
    }
    job_id
}

/// Report extensions: a link ending in one is a report whatever its key.
const REPORT_EXTENSIONS: &[&str] = &[".pdf", ".xlsx", ".xls", ".csv", ".zip", ".docx"];

/// The pointers of the report links in the last status answer: a URL or a
/// path whose key names a link (`url`, `link`, `href`) or whose value ends
/// in a report's extension. When some are on the app (a path, or the app's
/// origin), only those: the app serves its reports, and the others are
/// where it stored them (the browser's links are the app's). A link to
/// the status itself (`poll_path`) is not a report.
fn report_links(last: &Value, origin: &str, poll_path: &str) -> Vec<String> {
    let found: Vec<(String, bool)> = json::leaves(last)
        .into_iter()
        .filter_map(|(p, v)| {
            let t = v.as_str()?;
            let k = json::last_key(&p).to_ascii_lowercase();
            let on_app = t.starts_with('/') && !t.starts_with("//") || t.starts_with(origin);
            let link = t.starts_with("http") || on_app;
            let bare = t.split(['?', '#']).next().unwrap_or(t).to_ascii_lowercase();
            if bare.ends_with(poll_path) {
                return None;
            }
            let report = k.contains("url")
                || k.contains("link")
                || k.contains("href")
                || REPORT_EXTENSIONS.iter().any(|e| bare.ends_with(e));
            (link && report).then_some((p, on_app))
        })
        .collect();
    let any_on_app = found.iter().any(|(_, app)| *app);
    found
        .into_iter()
        .filter(|(_, app)| *app || !any_on_app)
        .map(|(p, _)| p)
        .collect()
}
