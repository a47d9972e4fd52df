//! Errors of the harness, sorted by who must act on them.
//!
//! [`ConfigError`] is the user's to fix (a flag, a profile or a scenario
//! file): the process exits with code 2 and the message names the file, the
//! key and the fix. Anything else that reaches `main` is the harness's own
//! failure (exit code 3). Crossing the memory limit is not an error at all:
//! it is the verdict of a run (exit code 1).

use std::path::PathBuf;

/// A bad argument or input file. Every message names what is wrong, where,
/// and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file the user named could not be read.
    #[error(
        "cannot read {path}: {source}; check the path (it is relative to the current directory)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A TOML file did not parse or has unknown or wrongly typed keys.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and the line.
        message: String,
    },
    /// A key has a value that parses but is not allowed.
    #[error("{path}: key `{key}`: {message}; fix: {fix}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key (dotted, e.g. `submission.photos_per_item`).
        key: String,
        /// What is wrong with its value.
        message: String,
        /// What to write instead.
        fix: String,
    },
    /// A command-line flag has a value that is not allowed.
    #[error("flag `{flag}`: {message}; fix: {fix}")]
    Flag {
        /// The flag, e.g. `--limit`.
        flag: String,
        /// What is wrong with its value.
        message: String,
        /// What to pass instead.
        fix: String,
    },
    /// A server profile that the server would refuse (the server's own
    /// message: it names the file, the key and what is allowed).
    #[error("{0}")]
    Profile(String),
    /// What the user asked for cannot be done on this machine (e.g.
    /// `--enforce cgroup` without a writable memory cgroup).
    #[error("{what} is not possible here: {why}; fix: {fix}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// Why it cannot be done.
        why: String,
        /// What the user can do instead.
        fix: String,
    },
}

impl ConfigError {
    /// A TOML parse error of `path`, keeping the parser's key and line.
    pub fn toml(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        ConfigError::Toml {
            path: path.into(),
            message: err.to_string().trim_end().to_string(),
        }
    }

    /// An invalid value of `key` in `path`.
    pub fn invalid(
        path: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// An invalid value of a command-line flag.
    pub fn flag(
        flag: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Flag {
            flag: flag.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// The process exit codes of `oomlab` (see issue 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The run stayed within the limit.
    WithinLimit = 0,
    /// The limit was crossed, or the server was killed or crashed.
    LimitCrossed = 1,
    /// Bad arguments or files.
    BadInput = 2,
    /// The harness itself failed.
    HarnessFailed = 3,
    /// The load did not do its work (an HTTP error, fewer submissions or
    /// reports than asked, a threshold missed): no memory answer.
    LoadFailed = 4,
}

impl Exit {
    /// The exit code for an error that reached `main`: 2 when any error in
    /// its chain is a [`ConfigError`], 3 otherwise.
    pub fn for_error(err: &anyhow::Error) -> Exit {
        if err
            .chain()
            .any(|e| e.downcast_ref::<ConfigError>().is_some())
        {
            Exit::BadInput
        } else {
            Exit::HarnessFailed
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_anywhere_in_the_chain_exit_with_2() {
        let e = anyhow::Error::new(ConfigError::flag("--limit", "`x` is not a size", "512MiB"))
            .context("reading arguments");
        assert_eq!(Exit::for_error(&e), Exit::BadInput);
        let e = anyhow::anyhow!("socket closed");
        assert_eq!(Exit::for_error(&e), Exit::HarnessFailed);
    }

    #[test]
    fn messages_name_the_file_key_and_fix() {
        let e = ConfigError::invalid(
            "scenarios/x.toml",
            "users",
            "must be at least 1",
            "users = 1",
        );
        let m = e.to_string();
        assert!(
            m.contains("scenarios/x.toml") && m.contains("`users`") && m.contains("fix: users = 1")
        );
    }
}
