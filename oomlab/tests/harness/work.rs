//! Honest verdicts end to end: a load that did not do its work ends in
//! "load failed" (exit 4) naming the step, and photos the server could not
//! show fully are counted as degraded, on the real server and the `tiny`
//! scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::helpers::jpeg;
use crate::support::{repo, run_json};

/// `tiny` with `extra` appended to its `[submission]` table and `tail`
/// (more tables) after it, written to `dir/name.toml`.
fn tiny_with(dir: &Path, name: &str, submission: &str, tail: &str) -> PathBuf {
    let tiny = std::fs::read_to_string(repo("scenarios/tiny.toml")).unwrap();
    let text = tiny
        .replace("name = \"tiny\"", &format!("name = \"{name}\""))
        .replace("photos = \"upload\"", submission);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, format!("{text}\n{tail}\n")).unwrap();
    path
}

fn oomlab_run(out: &Path, profile: &str, scenario: &Path, photos: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oomlab"));
    c.args([
        "run",
        "--profile",
        &repo(&format!("profiles/{profile}.toml")),
    ])
    .arg("--scenario")
    .arg(scenario)
    .args(["--max-duration", "120s", "--quiet", "--out"])
    .arg(out)
    .stdin(Stdio::null());
    if let Some(p) = photos {
        c.arg("--photos").arg(p);
    }
    c.output().unwrap()
}

/// Two good photos and, between them in name order, one cut at 60% of its
/// bytes (its end-of-image marker and the lower part of the picture gone).
fn photos_with_one_cut() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-good.jpg"), jpeg(320, 240, 3)).unwrap();
    let cut = jpeg(320, 240, 5);
    std::fs::write(dir.path().join("b-cut.jpg"), &cut[..cut.len() * 6 / 10]).unwrap();
    std::fs::write(dir.path().join("c-good.jpg"), jpeg(240, 320, 7)).unwrap();
    dir
}

#[test]
fn uploads_answering_404_end_in_load_failed_exit_4_naming_the_step_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tiny_with(
        tmp.path(),
        "tiny-nope",
        "photos = \"upload\"",
        "[http]\nupload_path = \"/api/nope\"",
    );
    let out = tmp.path().join("out");
    let o = oomlab_run(&out, "lean", &scenario, None);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("load failed")
            && stdout.contains("upload photo")
            && stdout.contains("404")
            && stdout.contains("upload_path"),
        "{stdout}"
    );
    let (dir, doc) = run_json(&out);
    assert_eq!(doc["verdict"]["outcome"], "load_failed");
    assert_eq!(doc["verdict"]["exit_code"], 4);
    let work = &doc["load"]["work"];
    assert_eq!(work["submissions_acknowledged"], 0);
    assert_eq!(work["failures"][0]["check"], "http_errors", "{work}");
    let upload = work["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "upload_photo")
        .expect("an upload step tally");
    assert!(upload["status_4xx"].as_u64().unwrap() >= 1, "{upload}");
    assert_eq!(upload["ok"], 0, "{upload}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("**Verdict:** the load failed") && md.contains("## The load's work"),
        "{md}"
    );
}

#[test]
fn a_cut_photo_uploaded_is_refused_by_the_server_and_the_load_fails_with_the_photo_hint() {
    let photos = photos_with_one_cut();
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(
        out.path(),
        "lean",
        Path::new(&repo("scenarios/tiny.toml")),
        Some(photos.path()),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains("upload photo") && stdout.contains("422"),
        "{stdout}"
    );
    assert!(stdout.contains("the app refused the photo"), "{stdout}");
    // The file the app refused, by name.
    assert!(stdout.contains("for photo `b-cut.jpg`"), "{stdout}");
    let (_, doc) = run_json(out.path());
    assert_eq!(doc["verdict"]["outcome"], "load_failed");
}

/// Catalogue photos (the fake serves the files, the submission references
/// them): the cut one reaches the job, which draws what arrived of it.
#[test]
fn a_cut_photo_in_a_job_is_counted_as_degraded_with_lean_resize_and_cdn_transform() {
    let photos = photos_with_one_cut();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tiny_with(tmp.path(), "tiny-catalogue", "photos = \"catalogue\"", "");
    for profile in ["lean", "resize", "cdn-transform"] {
        let out = tmp.path().join(profile);
        let o = oomlab_run(&out, profile, &scenario, Some(photos.path()));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        // Degraded photos are reported, not failed, unless the scenario's
        // [thresholds] degraded_photos says so.
        assert_eq!(o.status.code(), Some(0), "{profile}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("1 photo(s) degraded") && stdout.contains("photo 2 of job"),
            "{profile}: {stdout}"
        );
        let (dir, doc) = run_json(&out);
        let work = &doc["load"]["work"];
        assert_eq!(work["degraded_photos_total"], 1, "{profile}: {work}");
        let d = &work["degraded_photos"][0];
        assert_eq!(d["index"], 2, "{profile}: {d}");
        assert_eq!(d["shown_as"], "partial", "{profile}: {d}");
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("decoded only in part"), "{profile}: {md}");
    }
    // The same run with no degraded photo allowed fails, naming the check.
    let strict = tiny_with(
        tmp.path(),
        "tiny-strict",
        "photos = \"catalogue\"",
        "[thresholds]\ndegraded_photos = 0",
    );
    let out = tmp.path().join("strict");
    let o = oomlab_run(&out, "lean", &strict, Some(photos.path()));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("degraded"), "{stdout}");
    let (_, doc) = run_json(&out);
    assert_eq!(
        doc["load"]["work"]["failures"][0]["check"],
        "degraded_photos"
    );
}
