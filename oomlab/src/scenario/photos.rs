//! A directory of the user's own photos (`--photos DIR`, or `photo_dir` in
//! a scenario's `[submission]`): which files, in which order, under which
//! public ids the fake Cloudinary serves them, and what `run.json` records.
//!
//! The files are taken in byte order of their names (stable across
//! machines and runs), photo `k` of a submission is file `k % n`, so a
//! directory with fewer files than a submission needs is cycled. Only the
//! directory's own regular files count (no recursion); names starting with
//! a dot (`.DS_Store`, editor droppings) are skipped. Every other file must
//! be a JPEG or a PNG by its first bytes (not its extension): anything else
//! is an error naming the file, because a run on a silently shortened set
//! would measure another load than the one asked for.
//!
//! The bytes are never touched: the load uploads each file as it is, and the
//! fake serves it byte for byte.

use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Most files taken from one directory; a typo pointing at `/usr/lib` must
/// not turn into a load of 50,000 files.
pub const MAX_PHOTO_FILES: usize = 10_000;

/// The encoding of a photo file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    /// JPEG (starts with `FF D8 FF`).
    Jpeg,
    /// PNG (starts with the 8-byte PNG signature).
    Png,
}

impl PhotoFormat {
    /// The format of a file starting with `magic`, if JPEG or PNG.
    pub fn sniff(magic: &[u8]) -> Option<PhotoFormat> {
        if magic.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(PhotoFormat::Jpeg)
        } else if magic.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(PhotoFormat::Png)
        } else {
            None
        }
    }

    /// The delivery URL's extension.
    pub fn extension(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "jpg",
            PhotoFormat::Png => "png",
        }
    }

    /// The Content-Type of an upload.
    pub fn mime(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
        }
    }
}

/// One photo file of a [`PhotoDir`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoFile {
    /// The file's name in the directory.
    pub name: String,
    /// Its full path.
    pub path: PathBuf,
    /// Its encoding.
    pub format: PhotoFormat,
    /// Its size in bytes when the directory was read.
    pub bytes: u64,
    /// The public id the fake Cloudinary serves it under:
    /// `photos/{position}-{name}` with the name reduced to URL-safe
    /// characters (the position keeps ids unique).
    pub public_id: String,
}

/// A checked directory of photos, files in name order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhotoDir {
    /// The directory, as given (resolved against the scenario file's folder
    /// for `photo_dir`).
    pub dir: PathBuf,
    /// Its photos, in byte order of their names; never empty.
    pub files: Vec<PhotoFile>,
}

/// Why a directory cannot be used. Each names the directory or the file and
/// how to fix it (the caller adds the flag or key).
#[derive(Debug, thiserror::Error)]
pub enum PhotoDirError {
    /// The directory cannot be read (missing, not a directory, no access).
    #[error("cannot read the photo directory {}: {source}", dir.display())]
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No photo in it.
    #[error("the photo directory {} holds no photo (files starting with a dot are skipped)", dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file that is neither a JPEG nor a PNG.
    #[error("{} is not a JPEG or PNG photo (by its first bytes)", path.display())]
    NotAPhoto {
        /// The file.
        path: PathBuf,
    },
    /// A file that cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    UnreadableFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// More files than [`MAX_PHOTO_FILES`].
    #[error("the photo directory {} holds more than {MAX_PHOTO_FILES} files", dir.display())]
    TooMany {
        /// The directory.
        dir: PathBuf,
    },
}

impl PhotoDirError {
    /// What the user can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            PhotoDirError::Unreadable { .. } => "give an existing directory of JPEG or PNG photos",
            PhotoDirError::Empty { .. } => "put JPEG or PNG photos in it",
            PhotoDirError::NotAPhoto { .. } | PhotoDirError::UnreadableFile { .. } => {
                "move that file out of the directory, or convert it to JPEG"
            }
            PhotoDirError::TooMany { .. } => "point at a smaller selection of photos",
        }
    }
}

impl PhotoDir {
    /// Reads and checks `dir`: its JPEG and PNG files by name order.
    pub fn load(dir: &Path) -> Result<PhotoDir, PhotoDirError> {
        let unreadable = |source| PhotoDirError::Unreadable {
            dir: dir.to_path_buf(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            // Follows symlinks: a directory of links to photos is fine.
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            names.push((name, path));
            if names.len() > MAX_PHOTO_FILES {
                return Err(PhotoDirError::TooMany {
                    dir: dir.to_path_buf(),
                });
            }
        }
        names.sort();
        let files = names
            .into_iter()
            .enumerate()
            .map(|(i, (name, path))| photo_file(i, name, path))
            .collect::<Result<Vec<_>, _>>()?;
        if files.is_empty() {
            return Err(PhotoDirError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        Ok(PhotoDir {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// The file used for photo `k` of a submission (cycled).
    pub fn file(&self, k: usize) -> &PhotoFile {
        &self.files[k % self.files.len()]
    }
}

fn photo_file(position: usize, name: String, path: PathBuf) -> Result<PhotoFile, PhotoDirError> {
    let unreadable = |source| PhotoDirError::UnreadableFile {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::File::open(&path).map_err(unreadable)?;
    let bytes = file.metadata().map_err(unreadable)?.len();
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]).map_err(unreadable)? {
            0 => break,
            n => got += n,
        }
    }
    let format = PhotoFormat::sniff(&magic[..got])
        .ok_or_else(|| PhotoDirError::NotAPhoto { path: path.clone() })?;
    let stem = Path::new(&name)
        .file_stem()
        .map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned());
    let safe: String = stem
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(PhotoFile {
        public_id: format!("photos/{}-{safe}", position + 1),
        name,
        path,
        format,
        bytes,
    })
}

/// Where a run's photos came from, as `run.json` records it (`photos`): the
/// fake Cloudinary's synthetic catalogue, or the user's directory
/// (`--photos`, `photo_dir`) with the files one submission uses, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhotoOrigin {
    /// The fake's synthetic photos of `kind`, or the user's files in `dir`.
    pub source: PhotoSourceKind,
    /// The catalogue kind (e.g. `camera`); `None` for a directory.
    pub kind: Option<String>,
    /// The directory; `None` for the catalogue.
    pub dir: Option<PathBuf>,
    /// The files of the directory a submission uses, in the order they
    /// are used (one entry per file, before cycling); empty for the
    /// catalogue.
    pub files: Vec<UsedPhoto>,
}

/// Where photos come from.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PhotoSourceKind {
    /// The fake Cloudinary's synthetic catalogue.
    #[default]
    Catalogue,
    /// A directory of the user's photos.
    Directory,
}

/// One photo file a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsedPhoto {
    /// The file's name in the directory.
    pub name: String,
    /// `jpeg` or `png`.
    pub format: PhotoFormat,
    /// Its size, bytes.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    #[test]
    fn files_are_taken_in_name_order_and_cycled() {
        let dir = dir_with(&[
            ("b photo.JPG", JPEG),
            ("a.png", PNG),
            (".DS_Store", b"junk"),
            ("c.jpeg", JPEG),
        ]);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let photos = PhotoDir::load(dir.path()).unwrap();
        let names: Vec<&str> = photos.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.png", "b photo.JPG", "c.jpeg"]);
        assert_eq!(photos.files[0].format, PhotoFormat::Png);
        assert_eq!(photos.files[1].public_id, "photos/2-b_photo");
        assert_eq!(photos.files[1].bytes, JPEG.len() as u64);
        assert_eq!(photos.file(4).name, "b photo.JPG");
    }

    #[test]
    fn a_missing_or_empty_directory_is_refused() {
        let e = PhotoDir::load(Path::new("/no/such/photos")).unwrap_err();
        assert!(e.to_string().contains("/no/such/photos"), "{e}");
        let empty = dir_with(&[(".hidden.jpg", JPEG)]);
        let e = PhotoDir::load(empty.path()).unwrap_err();
        assert!(matches!(e, PhotoDirError::Empty { .. }), "{e}");
        assert!(e.to_string().contains("holds no photo"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_photo_is_named() {
        let dir = dir_with(&[("a.jpg", JPEG), ("notes.jpg", b"GIF89a not really")]);
        let e = PhotoDir::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("notes.jpg"), "{e}");
        assert!(e.fix().contains("move that file"), "{}", e.fix());
    }

    const SCENARIO: &str = "[users]\ncount = 1\n[submission]\nphotos_per_item = 3\n";

    #[test]
    fn photo_dir_in_a_scenario_is_read_from_the_scenario_files_folder() {
        let root = dir_with(&[]);
        std::fs::create_dir(root.path().join("pics")).unwrap();
        std::fs::write(root.path().join("pics/x.jpg"), JPEG).unwrap();
        std::fs::write(root.path().join("pics/y.png"), PNG).unwrap();
        let path = root.path().join("mine.toml");
        let text = format!("{SCENARIO}photo_dir = \"pics\"\n");
        let s = crate::scenario::Scenario::parse(&path, &text).unwrap();
        assert_eq!(s.photo_ids(), ["photos/1-x", "photos/2-y"]);
        assert_eq!(s.submission.photo_id(2), "photos/1-x");
        assert_eq!(s.submission.photo_format(1), PhotoFormat::Png);
        let origin = s.submission.photo_origin();
        assert_eq!(origin.source, PhotoSourceKind::Directory);
        assert_eq!(
            origin.dir.as_deref(),
            Some(root.path().join("pics").as_path())
        );
        assert_eq!(origin.files.len(), 2);
    }

    #[test]
    fn a_scenario_without_photo_kind_or_photo_dir_is_refused() {
        let path = Path::new("s.toml");
        let e = crate::scenario::Scenario::parse(path, SCENARIO).unwrap_err();
        assert!(e.to_string().contains("submission.photo_kind"), "{e}");
        assert!(e.to_string().contains("photo_dir"), "{e}");
        let text = format!("{SCENARIO}photo_dir = \"/no/such/dir\"\n");
        let e = crate::scenario::Scenario::parse(path, &text).unwrap_err();
        assert!(e.to_string().contains("submission.photo_dir"), "{e}");
        assert!(e.to_string().contains("/no/such/dir"), "{e}");
    }
}
