//! Error types, one `thiserror` enum per area.

use std::path::PathBuf;

/// Why a delivery URL cannot be served. Each variant maps to the status and
/// `x-cld-error` text that Cloudinary would answer with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// A transformation component that is unknown or has a bad value (400).
    #[error("Invalid transformation component - {0}")]
    InvalidTransformation(String),
    /// The requested output would be unreasonably large (400).
    #[error("Maximum image size exceeded - {0}")]
    TooLarge(String),
    /// No asset with this public id (404).
    #[error("Resource not found - {0}")]
    NotFound(String),
    /// The stored asset could not be decoded or encoded (400, as Cloudinary
    /// answers for a corrupt original).
    #[error("Error in loading {0}")]
    BadAsset(String),
}

impl DeliveryError {
    /// The HTTP status Cloudinary answers with.
    pub fn status(&self) -> u16 {
        match self {
            DeliveryError::NotFound(_) => 404,
            _ => 400,
        }
    }
}

/// Why an upload was refused. Answered as Cloudinary's
/// `{"error":{"message":...}}` with the given status.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The multipart body was malformed or had no `file` field (400).
    #[error("Invalid upload request: {0}")]
    BadRequest(String),
    /// An image upload whose bytes are not a readable image (400).
    #[error("Invalid image file")]
    InvalidImage,
    /// A public id that cannot be stored safely (400).
    #[error("Invalid public_id: {0}")]
    BadPublicId(String),
    /// `upload_preset` names no preset defined on the fake (400).
    #[error(
        "Upload preset not found: {0} (define it with --upload-preset or the builder's upload_preset)"
    )]
    PresetNotFound(String),
    /// A remote URL that may not or could not be fetched (400).
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// Disk or other unexpected failure (500).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl UploadError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            UploadError::Unexpected(_) => 500,
            _ => 400,
        }
    }
}

/// Errors of configuration: the faults file, the photo directory, flags.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The faults file could not be read.
    #[error("cannot read faults file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The faults TOML did not parse (unknown keys are errors too).
    #[error("invalid faults TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// A `path` pattern of a fault rule is not a valid regex.
    #[error("invalid path pattern {pattern:?} in fault rule: {source}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// The regex error.
        source: regex::Error,
    },
    /// A share outside 0..=1, or other out-of-range number.
    #[error("invalid fault setting: {0}")]
    Invalid(String),
}
