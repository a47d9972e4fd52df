use super::*;
use crate::load::tally::{StepFailure, StepTally};
use std::path::Path;

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        "[users]\ncount = 1\niterations = 1\n[submission]\nphotos_per_item = 3\nphoto_kind = \"small\"\n{extra}"
    );
    Scenario::parse(Path::new("s.toml"), &text).unwrap()
}

fn tally(step: Step, requests: u64, ok: u64, status: Option<u16>) -> StepTally {
    StepTally {
        name: None,
        step,
        requests,
        ok,
        status_2xx: ok,
        status_3xx: 0,
        status_4xx: if status.is_some_and(|s| (400..500).contains(&s)) {
            requests - ok
        } else {
            0
        },
        status_5xx: 0,
        no_answer: if status.is_none() { requests - ok } else { 0 },
        first_failure: (requests > ok).then(|| StepFailure {
            status,
            message: format!("status {}", status.unwrap_or(0)),
            at_s: 0.1,
        }),
    }
}

/// A load that did everything `scenario("")` asks for.
fn done() -> LoadOutcome {
    LoadOutcome {
        users_started: 1,
        submissions_attempted: 1,
        submissions_acknowledged: 1,
        photos_uploaded: 3,
        jobs_completed: 1,
        reports_expected: 2,
        reports_downloaded: 2,
        steps: vec![
            tally(Step::UploadPhoto, 3, 3, None),
            tally(Step::Submit, 1, 1, None),
            tally(Step::PollStatus, 2, 2, None),
            tally(Step::DownloadReport, 2, 2, None),
        ],
        ..LoadOutcome::default()
    }
}

#[test]
fn a_load_that_did_its_work_passes_every_check() {
    let w = WorkReport::check(&scenario(""), &done(), &[1.0], AppErrors::default());
    assert!(w.failures.is_empty(), "{:?}", w.failures);
    assert_eq!(
        w.counts(),
        "3 of 3 photo(s) uploaded, 1 of 1 submission(s) acknowledged, 1 of 1 report(s) completed, 2 of 2 download(s) checked"
    );
}

#[test]
fn uploads_answering_404_fail_the_load_and_name_the_step_and_the_key() {
    let o = LoadOutcome {
        submissions_acknowledged: 0,
        photos_uploaded: 0,
        jobs_completed: 0,
        reports_expected: 0,
        reports_downloaded: 0,
        steps: vec![tally(Step::UploadPhoto, 3, 0, Some(404))],
        ..done()
    };
    let w = WorkReport::check(&scenario(""), &o, &[], AppErrors::default());
    let first = &w.failures[0];
    assert_eq!(first.check, WorkCheck::HttpErrors);
    assert!(
        first.line().contains("`upload photo` failed 3 of 3"),
        "{}",
        first.line()
    );
    assert!(first.line().contains("404"), "{}", first.line());
    assert!(
        first.line().contains("http.upload_path"),
        "{}",
        first.line()
    );
    let checks: Vec<_> = w.failures.iter().map(|f| f.check).collect();
    assert!(checks.contains(&WorkCheck::Submissions));
    assert!(checks.contains(&WorkCheck::ReportsCompleted));
}

#[test]
fn a_login_answering_401_fails_with_the_login_hint() {
    let o = LoadOutcome {
        users_logged_in: 0,
        submissions_attempted: 0,
        submissions_acknowledged: 0,
        photos_uploaded: 0,
        jobs_completed: 0,
        reports_expected: 0,
        reports_downloaded: 0,
        steps: vec![tally(Step::LogIn, 1, 0, Some(401))],
        ..done()
    };
    let s = scenario("[http.login]\npath = \"/login\"\n");
    let w = WorkReport::check(&s, &o, &[], AppErrors::default());
    assert!(
        w.failures[0].line().contains("[http.login]"),
        "{:?}",
        w.failures
    );
    assert!(
        w.failures.iter().any(|f| f
            .message
            .contains("0 of 1 submission(s) acknowledged (no user could log in)")),
        "{:?}",
        w.failures
    );
}

#[test]
fn zero_of_zero_is_never_done_even_with_errors_allowed() {
    let o = LoadOutcome {
        steps: vec![tally(Step::UploadPhoto, 3, 0, Some(422))],
        submissions_acknowledged: 0,
        jobs_completed: 0,
        reports_expected: 0,
        reports_downloaded: 0,
        ..done()
    };
    let s = scenario("[thresholds]\nhttp_errors = 10\nreports_completed = \"0%\"\n");
    let w = WorkReport::check(&s, &o, &[], AppErrors::default());
    assert_eq!(w.failures.len(), 1, "{:?}", w.failures);
    assert_eq!(w.failures[0].check, WorkCheck::Submissions);
}

#[test]
fn a_download_of_the_wrong_type_fails_the_load() {
    let o = LoadOutcome {
        reports_downloaded: 1,
        reports_wrong_type: 1,
        ..done()
    };
    let s = scenario("[thresholds]\nhttp_errors = 5\n");
    let w = WorkReport::check(&s, &o, &[1.0], AppErrors::default());
    assert_eq!(w.failures[0].check, WorkCheck::Downloads);
    assert!(
        w.failures[0].message.contains("1 not the file"),
        "{:?}",
        w.failures
    );
}

#[test]
fn thresholds_on_degraded_photos_job_time_and_app_errors_are_checked() {
    let o = LoadOutcome {
        degraded_photos: vec![DegradedPhoto {
            job_id: "1".into(),
            index: Some(2),
            shown_as: Some("placeholder".into()),
            reason: "not a JPEG".into(),
        }],
        degraded_photos_total: 1,
        ..done()
    };
    let errors = AppErrors {
        count: 1,
        first: vec!["Traceback (most recent call last):".into()],
    };
    // Degraded photos are reported but allowed by default; app errors are not.
    let w = WorkReport::check(&scenario(""), &o, &[1.0], errors.clone());
    assert_eq!(
        w.failures.iter().map(|f| f.check).collect::<Vec<_>>(),
        vec![WorkCheck::AppErrors]
    );
    assert!(w.counts().contains(
        "1 photo(s) degraded (photo 2 of job 1 shown as \"image not available\": not a JPEG)"
    ));
    let s = scenario("[thresholds]\ndegraded_photos = 0\nmax_job_s = 0.5\napp_errors = 1\n");
    let w = WorkReport::check(&s, &o, &[1.0], errors);
    assert_eq!(
        w.failures.iter().map(|f| f.check).collect::<Vec<_>>(),
        vec![WorkCheck::DegradedPhotos, WorkCheck::MaxJob]
    );
}

#[test]
fn a_threshold_that_is_not_a_share_is_refused_with_the_fix() {
    let text = "[users]\ncount = 1\n[submission]\nphotos_per_item = 1\nphoto_kind = \"phone\"\n[thresholds]\nreports_completed = \"lots\"\n";
    let e = Scenario::parse(Path::new("s.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("thresholds.reports_completed") && e.contains("\"90%\""),
        "{e}"
    );
    let text = "[users]\ncount = 1\n[submission]\nphotos_per_item = 1\nphoto_kind = \"phone\"\n[thresholds]\nhttp_error = 1\n";
    let e = Scenario::parse(Path::new("s.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(e.contains("http_error"), "{e}");
}

#[test]
fn app_error_lines_are_counted_and_the_first_five_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut text = String::from("starting\n");
    for i in 0..7 {
        text.push_str(&format!("ERROR upload failed {i}\nok\n"));
    }
    std::fs::write(&log, text).unwrap();
    let found = scan_app_errors(&log, &[regex::Regex::new("upload failed").unwrap()]);
    assert_eq!(found.count, 7);
    assert_eq!(found.first.len(), 5);
    assert_eq!(found.first[0], "ERROR upload failed 0");
    assert_eq!(scan_app_errors(&log, &[]).count, 0);
}

#[test]
fn a_failed_flow_step_fails_the_load_by_its_name() {
    let mut form_page = tally(Step::FlowStep, 1, 0, Some(404));
    form_page.name = Some("form page".into());
    let o = LoadOutcome {
        submissions_acknowledged: 0,
        photos_uploaded: 0,
        jobs_completed: 0,
        reports_expected: 0,
        reports_downloaded: 0,
        steps: vec![form_page],
        ..done()
    };
    let s =
        scenario("[[http.steps]]\nat = \"before_submit\"\nname = \"form page\"\npath = \"/new\"\n");
    let w = WorkReport::check(&s, &o, &[], AppErrors::default());
    let first = &w.failures[0];
    assert_eq!(first.check, WorkCheck::HttpErrors);
    assert!(
        first.line().contains("`form page` failed 1 of 1")
            && first.line().contains("[[http.steps]]"),
        "{}",
        first.line()
    );
}
