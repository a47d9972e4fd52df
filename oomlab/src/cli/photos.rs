//! `--photos DIR`, shared by `run`, `compare`, `plan` and `gate`: the
//! directory is read and checked once, while the config is built, and every
//! scenario of the command draws its photos from it.

use std::path::Path;

use crate::error::ConfigError;
use crate::scenario::Scenario;
use crate::scenario::photos::PhotoDir;

/// The checked directory of `--photos`, if given.
pub fn load(dir: Option<&Path>) -> Result<Option<PhotoDir>, ConfigError> {
    dir.map(|d| {
        PhotoDir::load(d).map_err(|e| ConfigError::flag("--photos", e.to_string(), e.fix()))
    })
    .transpose()
}

/// `scenario` with the photos of `dir`, when `--photos` was given.
pub fn apply(scenario: Scenario, dir: &Option<PhotoDir>) -> Scenario {
    match dir {
        Some(d) => scenario.with_photo_dir(d.clone()),
        None => scenario,
    }
}
