use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child on drop, so a failing test leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_a_ready_line_and_stops_on_sigterm() {
    let child = Command::new(env!("CARGO_BIN_EXE_mock-cloudinary"))
        .args(["--port", "0", "--cloud-name", "bin", "--latency-ms", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["cloud_name"], "bin");
    let base = ready["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let url = format!("{base}/bin/image/upload/oomlab/64x48-3k-1.jpg");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
