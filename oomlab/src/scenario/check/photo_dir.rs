//! `submission.photo_dir`: the user's own photos, resolved against the
//! scenario file's folder and read while the scenario loads (a missing or
//! wrong directory is exit 2 before anything starts).

use super::Checker;
use crate::error::ConfigError;
use crate::scenario::photos::PhotoDir;
use std::path::Path;

impl Checker<'_> {
    /// The checked directory `dir` names; a relative `dir` is taken from
    /// the scenario file's folder, so a scenario and its photos can move
    /// together.
    pub(super) fn photo_dir(&self, dir: &Path) -> Result<PhotoDir, ConfigError> {
        let resolved = match self.path.parent() {
            Some(folder) if dir.is_relative() => folder.join(dir),
            _ => dir.to_path_buf(),
        };
        PhotoDir::load(&resolved)
            .map_err(|e| self.invalid("submission.photo_dir", e.to_string(), e.fix()))
    }
}
