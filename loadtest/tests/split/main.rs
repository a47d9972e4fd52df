//! The split (web + worker) configuration: the harness's Redis, and the
//! queue semantics against a real `redis-server`. Every test is skipped, with
//! a message, where no Redis is installed (`.ci/run` installs it).

mod deaths;
mod queue;
mod redis;
mod run;
#[path = "../support/mod.rs"]
mod support;

/// Whether Redis can be started here; prints why a test is skipped.
pub fn redis_available(test: &str) -> bool {
    if oomlab::redis_server::find_binary().is_some() {
        return true;
    }
    eprintln!(
        "skipping {test}: no redis-server or valkey-server on PATH \
         (apt-get install -y redis-server)"
    );
    false
}
