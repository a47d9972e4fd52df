//! Where bytes come from and how they are kept: uploads on disk, the photo
//! directory, synthetic catalogue photos, and a byte-bounded cache of
//! transformed variants.
//!
//! Everything here is synchronous and may take seconds (generation,
//! decode/resize/encode); the front layer calls it through
//! `spawn_blocking`. Concurrent requests for the same variant wait for one
//! computation (`OnceLock`), they do not repeat it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;

use crate::catalogue::{CatalogueId, PhotoSpec, comment_segment, parse_catalogue_id};
use crate::error::DeliveryError;
use crate::grammar::{Delivery, Format, ResourceType, Step};
use crate::synth::synthesize_jpeg;
use crate::transform::{apply, decode, encode, sniff};

/// JPEG quality of a transformed variant without `q_`.
pub const DEFAULT_QUALITY: u8 = 80;

/// What the front layer sends for a delivery that resolved.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Bytes in memory, served as `head` (SOI + per-id comment) then `body`.
    Memory {
        /// Sent first (empty when there is no comment to splice).
        head: Bytes,
        /// The rest of the file.
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
            Prepared::Memory { head, body, .. } => (head.len() + body.len()) as u64,
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
    Synthetic(PhotoSpec),
    File(PathBuf, u64, Option<SystemTime>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VariantKey {
    source: SourceKey,
    steps: Vec<Step>,
    format: Format,
}

type Cell = Arc<OnceLock<Result<Bytes, DeliveryError>>>;

struct Entry {
    cell: Cell,
    size: u64,
    last_used: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<VariantKey, Entry>,
    total: u64,
    tick: u64,
}

/// The asset store of one fake.
pub struct Store {
    seed: u64,
    upload_dir: PathBuf,
    photos: HashMap<String, PathBuf>,
    variants: Mutex<Lru>,
    cache_limit: u64,
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
            variants: Mutex::new(Lru::default()),
            cache_limit,
        })
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
            head: Bytes::new(),
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
        let base = || synthetic_base(id.spec, self.seed);
        let body = if delivery.is_untransformed() && format == Format::Jpeg {
            base()?
        } else {
            let key = VariantKey {
                source: SourceKey::Synthetic(id.spec),
                steps: delivery.steps.clone(),
                format,
            };
            self.variant(key, delivery.quality().unwrap_or(DEFAULT_QUALITY), base)?
        };
        Ok(splice_comment(body, format, id.n))
    }

    /// The exact bytes served for `public_id` as an untransformed `.jpg`.
    pub fn photo_bytes(&self, public_id: &str) -> Result<Bytes, DeliveryError> {
        let delivery = Delivery {
            resource: ResourceType::Image,
            steps: Vec::new(),
            version: None,
            public_id: public_id.to_string(),
            extension: Some(Format::Jpeg),
        };
        match self.prepare(&delivery)? {
            Prepared::Memory { head, body, .. } => {
                let mut all = Vec::with_capacity(head.len() + body.len());
                all.extend_from_slice(&head);
                all.extend_from_slice(&body);
                Ok(all.into())
            }
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
        let cell = {
            let mut lru = self.variants.lock().unwrap_or_else(|p| p.into_inner());
            lru.tick += 1;
            let tick = lru.tick;
            let entry = lru.entries.entry(key.clone()).or_insert_with(|| Entry {
                cell: Arc::default(),
                size: 0,
                last_used: tick,
            });
            entry.last_used = tick;
            entry.cell.clone()
        };
        let mut computed = false;
        let result = cell
            .get_or_init(|| {
                computed = true;
                let source = load()?;
                let format = key.format;
                let bad = |e: image::ImageError| DeliveryError::BadAsset(e.to_string());
                let pixels = decode(&source).map_err(bad)?;
                let out = apply(pixels, &key.steps)?;
                encode(&out, format, quality).map(Bytes::from).map_err(bad)
            })
            .clone();
        if computed {
            self.account(
                &key,
                result.as_ref().map_or(0, |b| b.len() as u64),
                result.is_err(),
            );
        }
        result
    }

    /// Record a new entry's size and evict least-recently-used entries over
    /// the limit. Failed computations are dropped so they can be retried.
    fn account(&self, key: &VariantKey, size: u64, failed: bool) {
        let mut lru = self.variants.lock().unwrap_or_else(|p| p.into_inner());
        if failed {
            lru.entries.remove(key);
            return;
        }
        if let Some(entry) = lru.entries.get_mut(key) {
            entry.size = size;
            lru.total += size;
        }
        while lru.total > self.cache_limit {
            let victim = lru
                .entries
                .iter()
                .filter(|(k, e)| e.size > 0 && *k != key)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some(entry) = lru.entries.remove(&victim) {
                lru.total -= entry.size;
            }
        }
    }

    /// Bytes currently held by the variant cache.
    pub fn cached_bytes(&self) -> u64 {
        self.variants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .total
    }
}

/// Generated base photos, shared by every fake in the process: a camera
/// photo takes seconds to make and tests start many fakes. At most
/// `MAX_BASES` are kept.
static BASES: LazyLock<Mutex<HashMap<(PhotoSpec, u64), Cell>>> = LazyLock::new(Default::default);
const MAX_BASES: usize = 16;

/// The synthetic JPEG for a spec and seed, generated once per process.
pub fn synthetic_base(spec: PhotoSpec, seed: u64) -> Result<Bytes, DeliveryError> {
    let cell = {
        let mut bases = BASES.lock().unwrap_or_else(|p| p.into_inner());
        if bases.len() >= MAX_BASES && !bases.contains_key(&(spec, seed)) {
            let victim = bases.keys().next().copied();
            if let Some(victim) = victim {
                bases.remove(&victim);
            }
        }
        bases.entry((spec, seed)).or_default().clone()
    };
    cell.get_or_init(|| {
        let seed = seed ^ u64::from(spec.width) << 32 ^ u64::from(spec.height);
        synthesize_jpeg(spec.width, spec.height, spec.target_bytes, seed)
            .map(|(jpeg, _quality)| Bytes::from(jpeg))
            .map_err(|e| DeliveryError::BadAsset(e.to_string()))
    })
    .clone()
}

/// Put a COM segment naming `n` right after SOI so every catalogue URL has
/// its own bytes; PNG is served unchanged.
fn splice_comment(body: Bytes, format: Format, n: u64) -> Prepared {
    if format != Format::Jpeg || body.len() < 2 {
        return Prepared::Memory {
            head: Bytes::new(),
            body,
            mime: format.mime(),
        };
    }
    let mut head = body.slice(..2).to_vec();
    head.extend_from_slice(&comment_segment(&format!("oomlab catalogue n={n}")));
    Prepared::Memory {
        head: head.into(),
        body: body.slice(2..),
        mime: format.mime(),
    }
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
