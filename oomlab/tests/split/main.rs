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

/// The service `name` (`web`, `worker`) of a run.json.
pub fn service<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no {name} service in {doc}"))
}
