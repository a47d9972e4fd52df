//! The public handle: [`FakeCloudinary`] and its builder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::faults::{FaultConfig, Faults};
use crate::front::{Shared, serve};
use crate::mocks::MockBackend;
use crate::store::Store;
use crate::uploads::UploadPreset;

/// Default cap of the variant cache, bytes.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Default number of forwarded requests between wiremock resets.
pub const DEFAULT_RESET_EVERY: u64 = 5_000;

/// A running fake Cloudinary. Dropping it stops the server (hung requests
/// included) and removes its temporary upload directory.
pub struct FakeCloudinary {
    shared: Arc<Shared>,
    address: SocketAddr,
    base_url: String,
    upload_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Settings of a [`FakeCloudinary`]; see [`FakeCloudinary::builder`].
#[derive(Debug, Clone)]
pub struct FakeCloudinaryBuilder {
    cloud_name: String,
    seed: u64,
    upload_dir: Option<PathBuf>,
    photo_dir: Option<PathBuf>,
    photo_files: Vec<(String, PathBuf)>,
    preload: Vec<String>,
    faults: FaultConfig,
    port: u16,
    cache_bytes: u64,
    reset_every: u64,
    presets: HashMap<String, UploadPreset>,
}

impl Default for FakeCloudinaryBuilder {
    fn default() -> Self {
        FakeCloudinaryBuilder {
            cloud_name: "oomlab".into(),
            seed: 1,
            upload_dir: None,
            photo_dir: None,
            photo_files: Vec::new(),
            preload: Vec::new(),
            faults: FaultConfig::default(),
            port: 0,
            cache_bytes: DEFAULT_CACHE_BYTES,
            reset_every: DEFAULT_RESET_EVERY,
            presets: HashMap::new(),
        }
    }
}

impl FakeCloudinaryBuilder {
    /// Cloud name in every URL. Default `oomlab`.
    pub fn cloud_name(mut self, name: impl Into<String>) -> Self {
        self.cloud_name = name.into();
        self
    }

    /// Seed of synthetic photos, faults and generated ids. Default 1.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where uploads are stored. Default: a temporary directory removed
    /// when the handle is dropped.
    pub fn upload_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.upload_dir = Some(dir.into());
        self
    }

    /// Serve the `.jpg`/`.jpeg`/`.png` files of `dir` as the catalogue,
    /// public id = file stem.
    pub fn photo_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.photo_dir = Some(dir.into());
        self
    }

    /// Serve the file at `path` as image `public_id`, byte for byte when
    /// asked untransformed in its own format (`.jpg` for a JPEG, `.png` for
    /// a PNG). The file is read on every request, never held.
    pub fn photo_file(mut self, public_id: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.photo_files.push((public_id.into(), path.into()));
        self
    }

    /// Generate these catalogue photos before `start` returns (ids of one
    /// kind share one generated photo).
    pub fn preload(mut self, public_ids: &[&str]) -> Self {
        self.preload
            .extend(public_ids.iter().map(|s| s.to_string()));
        self
    }

    /// Define an upload preset: uploads naming it get its settings (fields
    /// they give themselves win); uploads naming an undefined preset are
    /// refused, as on Cloudinary.
    pub fn upload_preset(mut self, name: impl Into<String>, preset: UploadPreset) -> Self {
        self.presets.insert(name.into(), preset);
        self
    }

    /// Fault rules.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Port on 127.0.0.1. Default 0: the OS picks.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Cap of the transformed-variant cache, bytes. Default 256 MiB.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Reset wiremock (dropping its copies of matched requests) every `n`
    /// forwarded requests. Default 5,000.
    pub fn reset_mocks_every(mut self, n: u64) -> Self {
        self.reset_every = n.max(1);
        self
    }

    /// Bind, preload, start wiremock and the front layer.
    pub async fn start(self) -> anyhow::Result<FakeCloudinary> {
        let faults = Faults::new(&self.faults, self.seed).context("invalid fault settings")?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .with_context(|| format!("cannot bind 127.0.0.1:{}", self.port))?;
        let address = listener.local_addr()?;
        let base_url = format!("http://{address}");
        let (upload_dir, temp) = match self.upload_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("mock-cloudinary-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let store = Store::new(
            self.seed,
            upload_dir.clone(),
            self.photo_dir.as_deref(),
            self.cache_bytes,
        )
        .with_context(|| {
            format!(
                "cannot prepare upload dir {} or photo dir",
                upload_dir.display()
            )
        })?
        .with_photo_files(self.photo_files);
        let store = Arc::new(store);
        let preload_store = store.clone();
        let preload = self.preload;
        tokio::task::spawn_blocking(move || preload_all(&preload_store, &preload)).await??;
        let backend = MockBackend::start(&self.cloud_name, &base_url, self.reset_every).await?;
        let shared = Arc::new(Shared {
            cloud: self.cloud_name,
            seed: self.seed,
            store,
            faults,
            backend,
            presets: self.presets,
            uploads: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        tokio::spawn(serve(listener, shared.clone()));
        tracing::info!(%base_url, "mock-cloudinary ready");
        Ok(FakeCloudinary {
            shared,
            address,
            base_url,
            upload_dir,
            _temp: temp,
        })
    }
}

/// Generate the photos of `ids` on every core: each catalogue number is a
/// photo of its own (a camera photo takes a fraction of a second).
fn preload_all(store: &Store, ids: &[String]) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(ids.len()))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return Ok(());
                        };
                        store
                            .photo_bytes(id)
                            .map(drop)
                            .with_context(|| format!("cannot preload {id}"))?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| anyhow::bail!("preload panicked"))
        })
    })
}

impl FakeCloudinary {
    /// Settings with their defaults.
    pub fn builder() -> FakeCloudinaryBuilder {
        FakeCloudinaryBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The cloud name in URLs.
    pub fn cloud_name(&self) -> &str {
        &self.shared.cloud
    }

    /// `{base}/{cloud}/image/upload/{public_id}.jpg`
    pub fn photo_url(&self, public_id: &str) -> String {
        format!(
            "{}/{}/image/upload/{public_id}.jpg",
            self.base_url, self.shared.cloud
        )
    }

    /// `{base}/v1_1/{cloud}/{resource_type}/upload`
    pub fn upload_url(&self, resource_type: &str) -> String {
        format!(
            "{}/v1_1/{}/{resource_type}/upload",
            self.base_url, self.shared.cloud
        )
    }

    /// The exact JPEG bytes served at [`photo_url`](Self::photo_url),
    /// generating the photo if needed (seconds for a new 4000x3000 kind:
    /// call it from `spawn_blocking` or preload in async code).
    pub fn photo_bytes(&self, public_id: &str) -> anyhow::Result<Bytes> {
        Ok(self.shared.store.photo_bytes(public_id)?)
    }

    /// Successful uploads so far.
    pub fn upload_count(&self) -> u64 {
        self.shared.uploads.load(Ordering::Relaxed)
    }

    /// Where uploads are stored.
    pub fn upload_dir(&self) -> &std::path::Path {
        &self.upload_dir
    }

    /// How many times wiremock was reset to drop its request copies.
    pub fn mock_resets(&self) -> u64 {
        self.shared.backend.resets()
    }

    /// Bytes held by the transformed-variant cache.
    pub fn cached_bytes(&self) -> u64 {
        self.shared.store.cached_bytes()
    }
}

impl Drop for FakeCloudinary {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}
