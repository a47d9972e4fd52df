//! Where bytes come from and how they are kept: uploads on disk, the photo
//! directory, synthetic catalogue photos, and a byte-bounded cache of
//! transformed variants.
//!
//! Everything here is synchronous and may take seconds (generation,
//! decode/resize/encode); the front layer calls it through
//! `spawn_blocking`. Concurrent requests for the same variant wait for one
//! computation, they do not repeat it ([`crate::cache`]).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::SystemTime;

use bytes::Bytes;

use crate::cache::OnceCache;
use crate::catalogue::{CatalogueId, PhotoSpec, parse_catalogue_id};
use crate::encoding::{encode_jpeg, rotate_ccw};
use crate::error::DeliveryError;
use crate::grammar::{Delivery, Format, ResourceType, Step, honours_exif};
use crate::synth::{Scene, grain_for, quality_for_encoding};
use crate::transform::{apply, decode, encode, sniff};

/// JPEG quality of a transformed variant without `q_`.
pub const DEFAULT_QUALITY: u8 = 80;

/// What the front layer sends for a delivery that resolved.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Bytes in memory.
    Memory {
        /// The whole file.
        body: Bytes,
        /// Content-Type.
        mime: &'static str,
    },
    /// A stored file streamed from disk with its exact bytes.
    File {
        /// Where it is.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// Content-Type.
        mime: &'static str,
    },
}

impl Prepared {
    /// Total body length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Prepared::Memory { body, .. } => body.len() as u64,
            Prepared::File { len, .. } => *len,
        }
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Content-Type.
    pub fn mime(&self) -> &'static str {
        match self {
            Prepared::Memory { mime, .. } | Prepared::File { mime, .. } => mime,
        }
    }
}

/// Source of a variant, part of its cache key. Files carry length and
/// mtime so that an overwritten upload is not served from a stale entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SourceKey {
    /// A catalogue photo: its spec and number.
    Synthetic(PhotoSpec, u64),
    File(PathBuf, u64, Option<SystemTime>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VariantKey {
    source: SourceKey,
    steps: Vec<Step>,
    format: Format,
}

/// The asset store of one fake.
pub struct Store {
    seed: u64,
    upload_dir: PathBuf,
    photos: HashMap<String, PathBuf>,
    variants: OnceCache<VariantKey, Bytes, DeliveryError>,
}

impl Store {
    /// A store over `upload_dir`, serving `photo_dir`'s JPEG/PNG files by
    /// file stem, with at most `cache_limit` bytes of variants.
    pub fn new(
        seed: u64,
        upload_dir: PathBuf,
        photo_dir: Option<&Path>,
        cache_limit: u64,
    ) -> std::io::Result<Self> {
        let mut photos = HashMap::new();
        if let Some(dir) = photo_dir {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png"))
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                {
                    photos.insert(stem.to_string(), path.clone());
                }
            }
        }
        for kind in ["image", "raw", ".incoming"] {
            std::fs::create_dir_all(upload_dir.join(kind))?;
        }
        Ok(Store {
            seed,
            upload_dir,
            photos,
            variants: OnceCache::new(cache_limit),
        })
    }

    /// Also serve each `(public_id, path)` file (later entries win).
    pub fn with_photo_files(mut self, files: impl IntoIterator<Item = (String, PathBuf)>) -> Self {
        self.photos.extend(files);
        self
    }

    /// The directory uploads are written to.
    pub fn upload_dir(&self) -> &Path {
        &self.upload_dir
    }

    /// Public ids of the photo directory.
    pub fn photo_ids(&self) -> impl Iterator<Item = &str> {
        self.photos.keys().map(String::as_str)
    }

    /// Where an upload of `public_id` is (or will be) stored; `None` for an
    /// id that cannot be a safe relative path.
    pub fn stored_path(&self, resource: ResourceType, public_id: &str) -> Option<PathBuf> {
        let safe = !public_id.is_empty()
            && public_id.len() <= 255
            && public_id.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        safe.then(|| self.upload_dir.join(resource.as_str()).join(public_id))
    }

    /// Resolve a delivery to what to send. Blocking.
    pub fn prepare(&self, delivery: &Delivery) -> Result<Prepared, DeliveryError> {
        let not_found = || DeliveryError::NotFound(delivery.public_id.clone());
        if delivery.resource == ResourceType::Raw {
            let path = self
                .stored_path(ResourceType::Raw, &delivery.public_id)
                .ok_or_else(not_found)?;
            let len = file_len(&path).ok_or_else(not_found)?;
            let mime = raw_mime(&delivery.public_id);
            return Ok(Prepared::File { path, len, mime });
        }
        let upload = self.stored_path(ResourceType::Image, &delivery.public_id);
        let file = upload
            .filter(|p| p.is_file())
            .or_else(|| self.photos.get(&delivery.public_id).cloned());
        if let Some(path) = file {
            return self.prepare_file(path, delivery);
        }
        let id = parse_catalogue_id(&delivery.public_id).ok_or_else(not_found)?;
        self.prepare_synthetic(id, delivery)
    }

    fn prepare_file(&self, path: PathBuf, delivery: &Delivery) -> Result<Prepared, DeliveryError> {
        let not_found = || DeliveryError::NotFound(delivery.public_id.clone());
        let meta = std::fs::metadata(&path).map_err(|_| not_found())?;
        let stored = sniff_file(&path);
        let format = delivery
            .requested_format()
            .or(stored)
            .unwrap_or(Format::Jpeg);
        if delivery.is_untransformed() && Some(format) == stored {
            let mime = format.mime();
            return Ok(Prepared::File {
                path,
                len: meta.len(),
                mime,
            });
        }
        let key = VariantKey {
            source: SourceKey::File(path.clone(), meta.len(), meta.modified().ok()),
            steps: delivery.steps.clone(),
            format,
        };
        let quality = delivery.quality().unwrap_or(DEFAULT_QUALITY);
        let load = || {
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|_| not_found())
        };
        let body = self.variant(key, quality, load)?;
        Ok(Prepared::Memory {
            body,
            mime: format.mime(),
        })
    }

    fn prepare_synthetic(
        &self,
        id: CatalogueId,
        delivery: &Delivery,
    ) -> Result<Prepared, DeliveryError> {
        let format = delivery.requested_format().unwrap_or(Format::Jpeg);
        let original = || catalogue_photo(id, self.seed);
        let body = if delivery.is_untransformed() && format == Format::Jpeg {
            original()?
        } else {
            let key = VariantKey {
                source: SourceKey::Synthetic(id.spec, id.n),
                steps: delivery.steps.clone(),
                format,
            };
            self.variant(key, delivery.quality().unwrap_or(DEFAULT_QUALITY), original)?
        };
        Ok(Prepared::Memory {
            body,
            mime: format.mime(),
        })
    }

    /// The exact bytes served for `public_id` untransformed: a catalogue
    /// photo or an upload as a `.jpg`, a file of the photo directory in its
    /// own format (a PNG stays a PNG).
    pub fn photo_bytes(&self, public_id: &str) -> Result<Bytes, DeliveryError> {
        let own = self.photos.get(public_id).and_then(|p| sniff_file(p));
        let delivery = Delivery {
            resource: ResourceType::Image,
            steps: Vec::new(),
            version: None,
            public_id: public_id.to_string(),
            extension: Some(own.unwrap_or(Format::Jpeg)),
        };
        match self.prepare(&delivery)? {
            Prepared::Memory { body, .. } => Ok(body),
            Prepared::File { path, .. } => std::fs::read(path)
                .map(Bytes::from)
                .map_err(|_| DeliveryError::NotFound(public_id.to_string())),
        }
    }

    /// Get or compute a variant; at most one computation per key at a time.
    fn variant(
        &self,
        key: VariantKey,
        quality: u8,
        load: impl FnOnce() -> Result<Bytes, DeliveryError>,
    ) -> Result<Bytes, DeliveryError> {
        let format = key.format;
        let compute = || {
            let source = load()?;
            let bad = |e: image::ImageError| DeliveryError::BadAsset(e.to_string());
            let pixels = decode(&source, honours_exif(&key.steps)).map_err(bad)?;
            let out = apply(pixels, &key.steps)?;
            encode(&out, format, quality).map(Bytes::from).map_err(bad)
        };
        self.variants
            .get_or_compute(&key, compute, |b| b.len() as u64)
    }

    /// Bytes currently held by the variant cache.
    pub fn cached_bytes(&self) -> u64 {
        self.variants.bytes()
    }
}

/// A kind of catalogue photo for one seed.
type KindKey = (PhotoSpec, u64);
/// A kind's scene and the JPEG quality of its photos.
type Kind = Arc<(Scene, u8)>;
/// A catalogue photo: kind, seed, number.
type PhotoKey = (PhotoSpec, u64, u64);

/// Scenes and the JPEG quality chosen for them, shared by every fake in the
/// process (tests start many fakes; a camera scene takes a while). Bounded
/// in bytes: a 4000x3000 scene holds 9 MB.
static SCENES: LazyLock<OnceCache<KindKey, Kind, DeliveryError>> =
    LazyLock::new(|| OnceCache::new(128 << 20));
/// Catalogue JPEGs by kind, seed and number, shared the same way.
static PHOTOS: LazyLock<OnceCache<PhotoKey, Bytes, DeliveryError>> =
    LazyLock::new(|| OnceCache::new(384 << 20));

/// The JPEG of catalogue photo `id` for `seed`, generated once per process
/// (while it stays in the bounded cache).
///
/// Numbers of one kind share a scene and a JPEG quality, and differ in their
/// grain: their pixels differ (a PDF library that de-duplicates images by
/// pixel hash sees distinct photos) while size, chroma subsampling and
/// compressed size, so decode cost, stay the same. The quality is searched
/// once per kind, on number 0, so it does not depend on which number is
/// asked first.
pub fn catalogue_photo(id: CatalogueId, seed: u64) -> Result<Bytes, DeliveryError> {
    let spec = id.spec;
    let seed = seed ^ u64::from(spec.width) << 32 ^ u64::from(spec.height);
    let bad = |e: image::ImageError| DeliveryError::BadAsset(e.to_string());
    let encoding = spec.encoding;
    // A photo tagged to be turned a quarter is drawn upright (a portrait:
    // sky on top) and stored turned, as a phone stores it.
    let stored = move |upright: crate::transform::Rgb| {
        if encoding.swaps_sides() {
            rotate_ccw(&upright)
        } else {
            upright
        }
    };
    let kind = SCENES.get_or_compute(
        &(spec, seed),
        || {
            let grain = grain_for(spec.width, spec.height, spec.target_bytes);
            let (w, h) = if encoding.swaps_sides() {
                (spec.height, spec.width)
            } else {
                (spec.width, spec.height)
            };
            let scene = Scene::new(w, h, seed, grain);
            let quality =
                quality_for_encoding(&stored(scene.render(0)), spec.target_bytes, &encoding)
                    .map_err(bad)?;
            Ok(Arc::new((scene, quality)))
        },
        |kind| kind.0.bytes(),
    )?;
    PHOTOS.get_or_compute(
        &(spec, seed, id.n),
        || {
            let (scene, quality) = &*kind;
            encode_jpeg(&stored(scene.render(id.n)), *quality, &encoding)
                .map(Bytes::from)
                .map_err(bad)
        },
        |jpeg| jpeg.len() as u64,
    )
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

fn sniff_file(path: &Path) -> Option<Format> {
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path).ok()?;
    let n = file.read(&mut magic).ok()?;
    sniff(&magic[..n])
}

/// Content-Type of a raw file by its extension.
pub fn raw_mime(public_id: &str) -> &'static str {
    match public_id
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("json") => "application/json",
        Some("txt" | "csv") => "text/plain",
        _ => "application/octet-stream",
    }
}
