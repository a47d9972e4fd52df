//! No child outlives its owner: dropped handles, a killed harness.

use std::time::Duration;

use crate::helpers::{alive, eventually, python_server, start};

#[tokio::test]
async fn dropping_the_handle_kills_the_server() {
    if !crate::helpers::python3("dropping_the_handle_kills_the_server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(&python_server(dir.path(), "")).await;
    let pid = server.pid();
    assert!(alive(pid));
    drop(server);
    assert!(
        eventually(Duration::from_secs(5), || !alive(pid)).await,
        "pid {pid} outlived its handle"
    );
}

#[tokio::test]
async fn a_server_that_exits_before_ready_is_reported_with_its_output() {
    if !crate::helpers::python3("a_server_that_exits_before_ready_is_reported_with_its_output") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = python_server(dir.path(), "");
    cmd.args = vec![
        "-c".into(),
        "import sys; print('bad profile key', file=sys.stderr); sys.exit(2)".into(),
    ];
    let e = oomlab::child::ServerProcess::start(&cmd, Duration::from_secs(20), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("before it was ready") && e.contains("bad profile key"),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_that_never_gets_ready_is_given_up_at_the_deadline() {
    if !crate::helpers::python3("a_server_that_never_gets_ready_is_given_up_at_the_deadline") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = python_server(dir.path(), "");
    cmd.args = vec!["-c".into(), "import time; time.sleep(600)".into()];
    let e = oomlab::child::ServerProcess::start(&cmd, Duration::from_millis(500), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not ready within"), "{e}");
}
