//! `--photos DIR`: a run on the user's own files, uploaded and served as
//! they are, and the errors for a directory that cannot be used.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::helpers::jpeg;
use crate::support::{repo, run_json};

fn oomlab_run(out: &Path, photos: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oomlab"));
    c.args(["run", "--profile", &repo("profiles/lean.toml")])
        .args(["--scenario", &repo("scenarios/tiny.toml")])
        .args(["--max-duration", "120s", "--quiet", "--out"])
        .arg(out)
        .arg("--photos")
        .arg(photos)
        .stdin(Stdio::null());
    c
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_run_on_a_photo_directory_uploads_its_files_byte_for_byte_in_name_order() {
    let photos = tempfile::tempdir().unwrap();
    // Two files for the tiny scenario's three photos: the first is used
    // twice (cycled).
    let (a, b) = (jpeg(96, 64, 3), jpeg(64, 96, 7));
    std::fs::write(photos.path().join("b-second.jpg"), &b).unwrap();
    std::fs::write(photos.path().join("a-first.JPEG"), &a).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(out.path(), photos.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let (run, doc) = run_json(out.path());
    assert_eq!(doc["load"]["jobs_completed"], 1, "{stderr}");
    assert_eq!(doc["photos"]["source"], "directory");
    assert_eq!(doc["photos"]["files"][0]["name"], "a-first.JPEG");
    assert_eq!(doc["photos"]["files"][1]["name"], "b-second.jpg");
    assert_eq!(doc["photos"]["files"][0]["bytes"], a.len());
    // The fake stored what the server forwarded: the files, unchanged.
    let stored: Vec<Vec<u8>> = files_below(&run.join("cloudinary/image"))
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(stored.iter().filter(|s| **s == a).count(), 2, "a, cycled");
    assert_eq!(stored.iter().filter(|s| **s == b).count(), 1);
}

fn config_error(photos: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let o = oomlab_run(out.path(), photos).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_missing_empty_or_mixed_photo_directory_exits_2_naming_it() {
    let err = config_error(Path::new("/no/such/photo/dir"));
    assert!(
        err.contains("--photos") && err.contains("/no/such/photo/dir"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = config_error(empty.path());
    assert!(err.contains("holds no photo"), "{err}");
    std::fs::write(empty.path().join("ok.jpg"), jpeg(16, 16, 1)).unwrap();
    std::fs::write(empty.path().join("readme.txt"), "not a photo").unwrap();
    let err = config_error(empty.path());
    assert!(
        err.contains("readme.txt") && err.contains("not a JPEG or PNG"),
        "{err}"
    );
}

#[test]
fn every_command_that_runs_takes_photos() {
    for cmd in ["run", "compare", "plan", "gate"] {
        let o = Command::new(env!("CARGO_BIN_EXE_oomlab"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("--photos <DIR>"), "{cmd}: {help}");
    }
}
