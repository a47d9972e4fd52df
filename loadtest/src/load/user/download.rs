//! Reports, read to the end a chunk at a time into a byte counter: the load
//! generator never holds a whole report. Report links (absolute URLs in the
//! status answer) are fetched with the load's link client, which follows
//! redirects only to loopback hosts, and timed to their last byte.

use super::{Destination, Shared, UserSession, describe};

/// Reads `answer` to its end; its bytes, also added to the load's record.
pub(super) async fn count_to_end(
    shared: &Shared,
    mut answer: reqwest::Response,
) -> Result<u64, String> {
    let mut bytes = 0u64;
    while let Some(chunk) = answer.chunk().await.map_err(describe)? {
        bytes += chunk.len() as u64;
    }
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
        Err(e) => return (None, Err(e)),
    };
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => return (None, Err(describe(e))),
    };
    let status = answer.status();
    if !status.is_success() {
        return (Some(status.as_u16()), Err(format!("status {status}")));
    }
    (Some(status.as_u16()), count_to_end(shared, answer).await)
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
