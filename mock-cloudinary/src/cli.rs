//! The `mock-cloudinary` binary: flags, the ready line, running until a
//! signal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use crate::faults::{FaultConfig, FaultRule};
use crate::handle::FakeCloudinary;
use crate::uploads::UploadPreset;

/// A fake Cloudinary on 127.0.0.1: synthetic photos, transformations,
/// uploads to disk, injected faults.
#[derive(Debug, Parser)]
#[command(name = "mock-cloudinary", version)]
pub struct Args {
    /// Port on 127.0.0.1 (0: the OS picks; the ready line tells which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Faults TOML file (`[[rule]]` tables).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of real JPEG/PNG photos served by file stem.
    #[arg(long)]
    pub photo_dir: Option<PathBuf>,
    /// Directory for uploads (default: a temporary one, removed on exit).
    #[arg(long)]
    pub upload_dir: Option<PathBuf>,
    /// Seed of photos and faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cloud name in URLs.
    #[arg(long, default_value = "oomlab")]
    pub cloud_name: String,
    /// An upload preset, `NAME` or `NAME=FOLDER` (repeatable). Uploads that
    /// name an undefined preset are refused, as on Cloudinary.
    #[arg(long = "upload-preset", value_name = "NAME[=FOLDER]")]
    pub upload_presets: Vec<String>,
    /// Catalogue ids to generate before the ready line (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub preload: Vec<String>,
    /// Fault rule from flags: regex on the path the flags below apply to.
    #[arg(long, default_value = ".*")]
    pub fault_path: String,
    /// Fixed latency, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency up to this, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Response bandwidth cap, bytes per second.
    #[arg(long)]
    pub bandwidth: Option<u64>,
    /// Share (0..=1) of requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_share: f64,
    /// Share of requests never answered.
    #[arg(long, default_value_t = 0.0)]
    pub hang_share: f64,
    /// Share of responses cut at half their declared length.
    #[arg(long, default_value_t = 0.0)]
    pub truncate_share: f64,
}

impl Args {
    /// The faults of the file, then the rule given by flags (if any).
    pub fn fault_config(&self) -> anyhow::Result<FaultConfig> {
        let mut config = match &self.config {
            Some(path) => FaultConfig::from_file(path)
                .with_context(|| format!("--config {}", path.display()))?,
            None => FaultConfig::default(),
        };
        let mut rule = FaultRule::for_path(self.fault_path.clone())
            .latency(
                Duration::from_millis(self.latency_ms),
                Duration::from_millis(self.jitter_ms),
            )
            .errors(self.error_share, 503)
            .hangs(self.hang_share)
            .truncates(self.truncate_share, 0.5);
        rule.bandwidth_bytes_per_sec = self.bandwidth;
        if !rule.is_noop() {
            config = config.rule(rule);
        }
        config.validate().context("invalid fault flags")?;
        Ok(config)
    }
}

/// Start the fake, print the ready line, run until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = FakeCloudinary::builder()
        .port(args.port)
        .seed(args.seed)
        .cloud_name(args.cloud_name.clone())
        .faults(args.fault_config()?);
    if let Some(dir) = &args.photo_dir {
        anyhow::ensure!(
            dir.is_dir(),
            "--photo-dir {} is not a directory",
            dir.display()
        );
        builder = builder.photo_dir(dir);
    }
    if let Some(dir) = &args.upload_dir {
        builder = builder.upload_dir(dir);
    }
    for spec in &args.upload_presets {
        let (name, folder) = match spec.split_once('=') {
            Some((name, folder)) => (name, Some(folder.to_string())),
            None => (spec.as_str(), None),
        };
        anyhow::ensure!(
            !name.is_empty(),
            "--upload-preset {spec:?}: give NAME or NAME=FOLDER"
        );
        builder = builder.upload_preset(name, UploadPreset { folder });
    }
    let ids: Vec<&str> = args.preload.iter().map(String::as_str).collect();
    let fake = builder.preload(&ids).start().await?;
    let ready = serde_json::json!({
        "event": "ready",
        "base_url": fake.base_url(),
        "cloud_name": fake.cloud_name(),
    });
    println!("{ready}");
    wait_for_signal().await?;
    tracing::info!(uploads = fake.upload_count(), "stopping");
    drop(fake);
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
