//! `oomlab bench` end to end on a few small generated photos: the lean row
//! always, vipsthumbnail's rows only when it is on PATH (and a clear line
//! saying so when it is not), bad input as exit 2.

use std::process::Command;

fn oomlab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oomlab"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    c
}

/// The figures of the table row `name` (wall s, CPU s, peak RSS MiB, above
/// start MiB; `-` is NaN).
fn row(out: &str, name: &str) -> Vec<f64> {
    let rest = out
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .find(|rest| rest.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no `{name}` row in:\n{out}"));
    rest.split_whitespace()
        .map(|v| {
            if v == "-" {
                f64::NAN
            } else {
                v.parse::<f64>().unwrap()
            }
        })
        .collect()
}

#[test]
fn bench_without_vips_measures_lean_and_says_vips_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    let out = oomlab()
        .args([
            "bench",
            "--synthetic",
            "320x240-20k-progressive-422-exif6",
            "--count",
            "3",
        ])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 photos"), "{stdout}");
    for name in ["lean", "lean (process per photo)"] {
        let lean = row(&stdout, name);
        assert_eq!(lean.len(), 4, "wall, CPU, peak RSS, above start: {stdout}");
        assert!(lean[0] > 0.0 && lean[1] >= 0.0, "{stdout}");
        // A whole process: at least a MB resident, and bounded; the part
        // above its start below the whole.
        assert!(lean[2] > 1.0 && lean[2] < 500.0, "{stdout}");
        assert!(lean[3] >= 0.0 && lean[3] < lean[2], "{stdout}");
    }
    assert!(stdout.contains("its worst single photo"), "{stdout}");
    assert!(stdout.contains("vipsthumbnail is not on PATH"), "{stdout}");
    assert!(!stdout.contains("vips (one process)"), "{stdout}");
}

#[test]
fn bench_with_vips_shows_both_and_the_ratios_when_installed() {
    let Some(_) = oomlab::bench::find_vips() else {
        eprintln!("vipsthumbnail is not installed: nothing to compare (libvips-tools)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for n in 0..3 {
        let id =
            mock_cloudinary::catalogue::parse_catalogue_id(&format!("oomlab/1600x1200-80k-{n}"))
                .unwrap();
        let jpeg = mock_cloudinary::store::catalogue_photo(id, 1).unwrap();
        std::fs::write(dir.path().join(format!("p{n}.jpg")), jpeg).unwrap();
    }
    std::fs::write(dir.path().join("notes.png"), b"\x89PNG\r\n\x1a\nrest").unwrap();
    let out = oomlab()
        .args(["bench", "--photos"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 photos"), "the PNG is skipped: {stdout}");
    for name in ["lean", "vips (one process)", "vips (process per photo)"] {
        let r = row(&stdout, name);
        assert_eq!(r.len(), 4, "{stdout}");
        assert!(r[0] > 0.0 && r[2] > 1.0, "{stdout}");
    }
    assert!(
        stdout.contains("lean / vips (one process): wall"),
        "{stdout}"
    );
}

#[test]
fn bench_refuses_bad_input_with_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.png"), b"\x89PNG\r\n\x1a\nrest").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["bench", "--synthetic", "nonsense"], "--synthetic"),
        (&["bench", "--photos", "/no/such/dir"], "--photos"),
        (&["bench"], "--photos"),
    ];
    for (args, flag) in cases {
        let out = oomlab().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
    let out = oomlab()
        .args(["bench", "--photos"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no JPEG"), "{stderr}");
}
