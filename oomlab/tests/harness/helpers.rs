//! Shared helpers: Python children that behave like a server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oomlab::child::{ServerCommand, ServerProcess};

/// Whether `python3` runs here; otherwise says that `test` is skipped and
/// why (the tests' children are small Python programs).
pub fn python3(test: &str) -> bool {
    let runs = std::process::Command::new("python3")
        .args(["-c", "pass"])
        .status()
        .is_ok_and(|s| s.success());
    if !runs {
        eprintln!("{test}: skipped: no python3 on PATH (apt-get install -y python3)");
    }
    runs
}

/// A Python program that prints the ready line, runs `body`, then sleeps.
pub fn python_server(dir: &Path, body: &str) -> ServerCommand {
    let script = format!(
        "import json, os, sys, time\n{body}\nprint(json.dumps({{'event': 'ready', 'addr': '127.0.0.1:9', 'pid': os.getpid()}}), flush=True)\ntime.sleep(600)\n"
    );
    ServerCommand::new(
        PathBuf::from("python3"),
        vec!["-c".into(), script.into()],
        dir.join("server.log"),
    )
}

/// Starts `cmd` with a 20 s deadline.
pub async fn start(cmd: &ServerCommand) -> ServerProcess {
    ServerProcess::start(cmd, Duration::from_secs(20), None)
        .await
        .expect("the Python child starts")
}

/// Whether `pid` still exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the command in parentheses.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Polls `cond` every 20 ms for at most `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

pub const MIB: u64 = 1 << 20;

/// A small JPEG whose pixels depend on `seed`, so each file differs.
pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), (y as u8) ^ seed, seed])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The workspace root when the example app's venv is there
/// (`examples/flask-reportlab/setup.sh` makes it); otherwise `None` after
/// saying that `test` is skipped.
pub fn workspace_with_venv(test: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root
        .join("examples/flask-reportlab/.venv/bin/gunicorn")
        .is_file()
    {
        return Some(root);
    }
    eprintln!("{test}: skipped: no venv (run examples/flask-reportlab/setup.sh)");
    None
}
