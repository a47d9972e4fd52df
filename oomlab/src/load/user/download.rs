//! Reports, read to the end a chunk at a time into a byte counter: the load
//! generator never holds a whole report. Report links (absolute URLs in the
//! status answer) are fetched with the load's link client, which follows
//! redirects only to loopback hosts, and timed to their last byte.

use super::{Answer, Destination, Shared, Step, UserSession, describe, excerpt};
use crate::load::tally::ReportKind;

/// Bytes of a report's start kept to check its file type.
const MAGIC_LEN: usize = 8;

/// Reads `answer` (a 2xx) to its end and checks that it is the file that
/// `path_or_url` (or its content type) says: `%PDF` for a PDF, `PK` for an
/// xlsx. Its bytes, also added to the load's record; the request is counted
/// as the step's either way.
pub(super) async fn count_to_end(
    shared: &Shared,
    mut answer: reqwest::Response,
    path_or_url: &str,
) -> Result<u64, String> {
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let expected = ReportKind::expected(path_or_url, content_type.as_deref());
    let mut bytes = 0u64;
    let mut start = Vec::with_capacity(MAGIC_LEN);
    loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                let want = MAGIC_LEN.saturating_sub(start.len()).min(chunk.len());
                start.extend_from_slice(&chunk[..want]);
                bytes += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                let e = format!("cut after {bytes} bytes: {}", describe(e));
                shared.answer(Step::DownloadReport, Answer::NoAnswer, &e);
                return Err(e);
            }
        }
    }
    if let Some(kind) = expected.filter(|k| !k.matches(&start)) {
        let e = format!(
            "not {} ({bytes} bytes starting `{}`)",
            kind.name(),
            excerpt(&String::from_utf8_lossy(&start))
        );
        shared.answer(Step::DownloadReport, Answer::Refused(status), &e);
        shared.record().reports_wrong_type += 1;
        return Err(e);
    }
    if bytes == 0 {
        let e = "the report is empty (0 bytes)".to_string();
        shared.answer(Step::DownloadReport, Answer::Refused(status), &e);
        return Err(e);
    }
    shared.answer(Step::DownloadReport, Answer::Used(status), "");
    let mut record = shared.record();
    record.reports_downloaded += 1;
    record.report_bytes += bytes;
    Ok(bytes)
}

/// Downloads report `link`: the status (if any) and its bytes, or why not.
/// A link to the app carries the user's headers and cookies; one elsewhere
/// on this machine does not; one off this machine is never fetched.
pub(super) async fn fetch_link(
    shared: &Shared,
    session: &UserSession,
    link: &str,
) -> (Option<u16>, Result<u64, String>) {
    let request = match shared.destination(link) {
        Ok(Destination::Server(url)) => session.apply(shared.link_client.get(url)),
        Ok(Destination::Elsewhere(url)) => shared.link_client.get(url),
        Err(e) => {
            shared.answer(Step::DownloadReport, Answer::NoAnswer, &e);
            return (None, Err(e));
        }
    };
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => {
            let e = describe(e);
            shared.answer(Step::DownloadReport, Answer::NoAnswer, &e);
            return (None, Err(e));
        }
    };
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        let e = format!("status {status}: {}", excerpt(&body));
        shared.answer(Step::DownloadReport, Answer::Refused(status.as_u16()), &e);
        return (Some(status.as_u16()), Err(e));
    }
    (
        Some(status.as_u16()),
        count_to_end(shared, answer, link).await,
    )
}

/// `download pdf_url` for the pointer `/results/pdf_url`: the request's
/// name in goose's report, stable across jobs.
pub(super) fn link_name(pointer: &str, n: usize) -> String {
    match pointer.rsplit('/').next() {
        Some(last) if !last.is_empty() => {
            format!("download {}", last.replace("~1", "/").replace("~0", "~"))
        }
        _ => format!("download link {}", n + 1),
    }
}
