//! The fake driven by the official Cloudinary Python SDK
//! (`tests/sdk/sdk_check.py`), when a virtualenv with it is named by
//! `OOMLAB_SDK_PYTHON` (`tests/sdk/setup.sh` makes one and prints the line).
//! Without it the test says it was skipped, so `cargo test` works on a
//! machine without Python packages.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use mock_cloudinary::{FakeCloudinary, UploadPreset};

/// The venv's python, or `None` (skipped) when the variable is unset. A
/// variable naming a missing file is a broken setup, not a skip.
fn sdk_python() -> Option<PathBuf> {
    let Some(python) = std::env::var_os("OOMLAB_SDK_PYTHON") else {
        // Straight to stderr: libtest captures eprintln!, and a skip must show.
        let _ = writeln!(
            std::io::stderr(),
            "official_python_sdk_round_trips: skipped: OOMLAB_SDK_PYTHON is not set \
             (mock-cloudinary/tests/sdk/setup.sh creates the venv and prints the line to export)"
        );
        return None;
    };
    let python = PathBuf::from(python);
    assert!(
        python.is_file(),
        "OOMLAB_SDK_PYTHON={} does not exist: run mock-cloudinary/tests/sdk/setup.sh",
        python.display()
    );
    Some(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_round_trips() {
    let Some(python) = sdk_python() else {
        return;
    };
    let fake = FakeCloudinary::builder()
        .cloud_name("demo")
        .upload_preset(
            "site_photos",
            UploadPreset {
                folder: Some("preset-folder".into()),
            },
        )
        .start()
        .await
        .expect("fake starts");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/sdk_check.py");
    let run = tokio::process::Command::new(&python)
        .arg(script)
        .env(
            "CLOUDINARY_URL",
            format!(
                "cloudinary://123456:secret@{}?upload_prefix={}",
                fake.cloud_name(),
                fake.base_url()
            ),
        )
        .env("MOCK_CLOUDINARY_BASE_URL", fake.base_url())
        .env("MOCK_CLOUDINARY_PRESET", "site_photos=preset-folder")
        .env_remove("CLOUDINARY_CLOUD_NAME")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK script finishes within 120 s")
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sdk_check.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("sdk checks passed"), "{stdout}");
    assert!(fake.upload_count() >= 7, "{}", fake.upload_count());
}
