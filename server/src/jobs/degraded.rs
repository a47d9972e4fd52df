//! Photos a report could not show as submitted: the `degraded_photos` of a
//! job's status, a contract the harness reads (so a typed list, not the
//! free-text `warnings`, which stay for people).
//!
//! A photo is degraded when it is drawn as the "image not available"
//! placeholder (it could not be downloaded, is not a JPEG, cannot be
//! embedded or decoded, would cost too much to decode) or drawn partly (a
//! JPEG cut short: decoders and PDF readers fill what is missing with grey
//! without an error, so the cut is found from the file's structure,
//! [`crate::imagecheck`]).

use serde::{Deserialize, Serialize};

/// How a degraded photo appears in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShownAs {
    /// The "image not available" box.
    Placeholder,
    /// The part of the picture that arrived, the rest grey.
    Partial,
}

/// One degraded photo, as `GET /api/jobs/{id}` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DegradedPhoto {
    /// 1-based number of the photo in the submission (items in order,
    /// each item's `photo_urls` in order).
    pub index: usize,
    /// The photo's URL as submitted.
    pub url: String,
    pub shown_as: ShownAs,
    /// A short reason for people, e.g. "not a JPEG",
    /// "could not be downloaded: Cloudinary answered 404 Not Found".
    pub reason: String,
}

/// What a job notes about its photos while it builds the report: the
/// free-text warnings and the degraded photos.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    pub warnings: Vec<String>,
    pub degraded: Vec<DegradedPhoto>,
}

impl Notes {
    /// Photo number `index0 + 1` is drawn `shown_as` because of `reason`
    /// (the warning that says so in words is pushed by the caller, in the
    /// wording the warnings always had).
    /// One entry per photo: a placeholder found later (the derivative of a
    /// cut original that does not decode either) replaces a partial one.
    pub fn degrade(&mut self, index0: usize, url: &str, shown_as: ShownAs, reason: &str) {
        let entry = DegradedPhoto {
            index: index0 + 1,
            url: url.to_string(),
            shown_as,
            reason: short_reason(reason),
        };
        match self.degraded.iter_mut().find(|d| d.index == entry.index) {
            Some(old) if shown_as == ShownAs::Placeholder => *old = entry,
            Some(_) => {}
            None => self.degraded.push(entry),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.degraded.is_empty()
    }
}

/// The reason without the leading verb the warnings' sentences need
/// ("is not a JPEG ..." reads "not a JPEG ..."), one line, bounded.
fn short_reason(reason: &str) -> String {
    let r = reason.trim();
    let r = r.strip_prefix("is ").unwrap_or(r);
    let mut out: String = r.lines().next().unwrap_or("").chars().take(300).collect();
    if out.is_empty() {
        out = "unknown".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_and_the_json_is_the_contract() {
        let mut n = Notes::default();
        let a = "is not a JPEG (no start-of-image marker)";
        n.degrade(0, "http://c/a.jpg", ShownAs::Placeholder, a);
        n.degrade(
            2,
            "http://c/b.jpg",
            ShownAs::Partial,
            "truncated: decoded partly",
        );
        let json = serde_json::to_value(&n.degraded).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"index": 1, "url": "http://c/a.jpg", "shown_as": "placeholder",
                 "reason": "not a JPEG (no start-of-image marker)"},
                {"index": 3, "url": "http://c/b.jpg", "shown_as": "partial",
                 "reason": "truncated: decoded partly"},
            ])
        );
        let back: Vec<DegradedPhoto> = serde_json::from_value(json).unwrap();
        assert_eq!(back, n.degraded);
    }
}
