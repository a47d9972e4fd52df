//! The ready line: the one JSON line the report server prints on stdout when
//! it listens, so that a harness that started it with `--port 0` learns its
//! address.
//!
//! ```text
//! {"event":"ready","addr":"127.0.0.1:8080","pid":1234,"profile":"original","recovered_jobs":0}
//! ```

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The value of [`ReadyLine::event`].
pub const READY_EVENT: &str = "ready";

/// The server's ready line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyLine {
    /// Always `"ready"`: a reader can tell this line from any other JSON a
    /// process prints (see [`ReadyLine::parse`]).
    pub event: String,
    /// The address the server listens on, with the port the OS chose.
    pub addr: SocketAddr,
    /// The server's process id (the process the harness measures).
    pub pid: u32,
    /// The name of the settings profile the server runs (`original`,
    /// `lean`, ...); empty when the emitter has no profiles.
    #[serde(default)]
    pub profile: String,
    /// Unfinished jobs found in the database at start and queued again.
    #[serde(default)]
    pub recovered_jobs: u64,
}

/// Why a line is not a ready line.
#[derive(Debug, thiserror::Error)]
pub enum ReadyLineError {
    #[error("the ready line is not JSON with `event` and `addr` ({source}): {line}")]
    NotJson {
        line: String,
        source: serde_json::Error,
    },
    #[error("the line is a `{event}` event, not `ready`: {line}")]
    OtherEvent { event: String, line: String },
}

impl ReadyLine {
    /// The ready line of a server listening on `addr`.
    pub fn new(addr: SocketAddr, pid: u32, profile: &str, recovered_jobs: u64) -> ReadyLine {
        ReadyLine {
            event: READY_EVENT.to_string(),
            addr,
            pid,
            profile: profile.to_string(),
            recovered_jobs,
        }
    }

    /// Parse one line of output; an `event` other than `ready` is an error,
    /// so a harness never takes another JSON line for the server's address.
    pub fn parse(line: &str) -> Result<ReadyLine, ReadyLineError> {
        let line = line.trim();
        let ready: ReadyLine =
            serde_json::from_str(line).map_err(|source| ReadyLineError::NotJson {
                line: line.to_string(),
                source,
            })?;
        if ready.event != READY_EVENT {
            return Err(ReadyLineError::OtherEvent {
                event: ready.event,
                line: line.to_string(),
            });
        }
        Ok(ready)
    }

    /// The line as printed: one line of JSON, no trailing newline.
    pub fn to_line(&self) -> String {
        // A struct of strings, numbers and an address always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_line_round_trips_with_the_documented_field_names() {
        let line = ReadyLine::new("127.0.0.1:8080".parse().unwrap(), 1234, "original", 2);
        let text = line.to_line();
        assert_eq!(
            text,
            r#"{"event":"ready","addr":"127.0.0.1:8080","pid":1234,"profile":"original","recovered_jobs":2}"#
        );
        assert_eq!(ReadyLine::parse(&format!("{text}\n")).unwrap(), line);
    }

    #[test]
    fn another_event_or_garbage_is_not_a_ready_line() {
        let err =
            ReadyLine::parse(r#"{"event":"stopping","addr":"127.0.0.1:1","pid":1}"#).unwrap_err();
        assert!(err.to_string().contains("stopping"), "{err}");
        assert!(ReadyLine::parse("listening on 8080").is_err());
        assert!(ReadyLine::parse(r#"{"event":"ready","addr":"nowhere","pid":1}"#).is_err());
    }

    #[test]
    fn profile_and_recovered_jobs_may_be_absent() {
        let r = ReadyLine::parse(r#"{"event":"ready","addr":"[::1]:9","pid":7}"#).unwrap();
        assert_eq!((r.profile.as_str(), r.recovered_jobs), ("", 0));
    }
}
