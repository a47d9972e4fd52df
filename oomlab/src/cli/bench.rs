//! `oomlab bench`'s flags, and the hidden `oomlab bench-child` that runs one
//! measured variant.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::bench::{BenchConfig, PhotoSource};
use crate::error::ConfigError;
use crate::input;
use crate::scenario::photos::{PhotoDir, PhotoFormat};

const BENCH_EXAMPLES: &str = "\
Examples:
  # Your photos: lean's resize pipeline, and vipsthumbnail when installed
  # (Debian: apt-get install libvips-tools):
  oomlab bench --photos ~/Pictures/site-visit

  # 20 synthetic 4000x3000 camera photos of the fake Cloudinary:
  oomlab bench --synthetic camera --count 20

Prints wall time, CPU time and peak RSS of each variant, each run in a
process of its own, and lean's ratios to vipsthumbnail in one process.
Build with --release for figures worth quoting.
Exit codes: 0 done, 2 bad arguments or files, 3 a variant failed.";

/// Flags of `oomlab bench`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = BENCH_EXAMPLES, after_help = BENCH_EXAMPLES)]
pub struct BenchArgs {
    /// A directory of JPEG photos (its other files are skipped).
    #[arg(long, value_name = "DIR", required_unless_present = "synthetic")]
    pub photos: Option<PathBuf>,

    /// Generate the photos instead: a photo kind of the fake Cloudinary
    /// (camera, phone, progressive, progressive422, portrait, mixed, ...).
    #[arg(long, value_name = "KIND", conflicts_with = "photos")]
    pub synthetic: Option<String>,

    /// How many synthetic photos.
    #[arg(long, default_value = "20", value_name = "N", value_parser = input::count, requires = "synthetic")]
    pub count: usize,

    /// The profile whose photo and allocator settings the pipeline runs
    /// with (file or name in `profiles/`).
    #[arg(long, default_value = "lean", value_name = "FILE|NAME", value_parser = input::profile)]
    pub profile: PathBuf,

    /// Runs of each variant; the median by wall time is shown.
    #[arg(long, default_value = "1", value_name = "N", value_parser = input::count)]
    pub repeat: usize,
}

impl BenchArgs {
    /// The bench these flags ask for; the directory and the profile are
    /// checked before anything runs.
    pub fn config(&self) -> Result<BenchConfig, ConfigError> {
        let photos = match (&self.photos, &self.synthetic) {
            (Some(dir), _) => {
                let loaded = PhotoDir::load(dir)
                    .map_err(|e| ConfigError::flag("--photos", e.to_string(), e.fix()))?;
                let jpegs: Vec<PathBuf> = loaded
                    .files
                    .iter()
                    .filter(|f| f.format == PhotoFormat::Jpeg)
                    .map(|f| f.path.clone())
                    .collect();
                if jpegs.is_empty() {
                    return Err(ConfigError::flag(
                        "--photos",
                        format!("{} holds no JPEG photo", dir.display()),
                        "name a directory of JPEG files (the pipeline resizes JPEGs only)",
                    ));
                }
                PhotoSource::Dir(jpegs)
            }
            (None, Some(kind)) => {
                if mock_cloudinary::catalogue::parse_catalogue_id(&format!("oomlab/{kind}-0"))
                    .is_none()
                {
                    return Err(ConfigError::flag(
                        "--synthetic",
                        format!("`{kind}` is not a photo kind of the fake Cloudinary"),
                        "use camera, phone, small, progressive, progressive422, portrait, gray, cmyk, mixed or WxH-SIZE (e.g. 640x480-60k)",
                    ));
                }
                PhotoSource::Synthetic {
                    kind: kind.clone(),
                    count: self.count,
                }
            }
            (None, None) => {
                return Err(ConfigError::flag(
                    "--photos",
                    "no photos given",
                    "pass --photos DIR or --synthetic KIND",
                ));
            }
        };
        report_server::Settings::load(Some(&self.profile)).map_err(|e| {
            ConfigError::flag(
                "--profile",
                format!("{}: {e}", self.profile.display()),
                "name a profile file or one of profiles/",
            )
        })?;
        Ok(BenchConfig {
            photos,
            profile: self.profile.clone(),
            vips: crate::bench::find_vips(),
            repeat: self.repeat,
        })
    }
}

/// `oomlab bench-child`: one measured variant (run by `oomlab bench`).
#[derive(Debug, Clone, Args)]
pub struct BenchChildArgs {
    #[command(subcommand)]
    pub variant: ChildVariant,
}

/// The variants of `bench-child`.
#[derive(Debug, Clone, Subcommand)]
pub enum ChildVariant {
    /// The lean pipeline, in this process.
    Lean {
        #[arg(long)]
        profile: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(last = true, required = true)]
        files: Vec<PathBuf>,
    },
    /// vipsthumbnail, in one process or one per file.
    Vips {
        #[arg(long)]
        program: PathBuf,
        #[arg(long)]
        max_px: u32,
        #[arg(long)]
        quality: u8,
        #[arg(long)]
        per_photo: bool,
        #[arg(long)]
        out: PathBuf,
        #[arg(last = true, required = true)]
        files: Vec<PathBuf>,
    },
}

impl BenchChildArgs {
    /// Run the variant; its figures as one JSON line.
    pub fn run(&self) -> anyhow::Result<String> {
        let usage = match &self.variant {
            ChildVariant::Lean {
                profile,
                out,
                files,
            } => crate::bench::child::lean(profile, out, files)?,
            ChildVariant::Vips {
                program,
                max_px,
                quality,
                per_photo,
                out,
                files,
            } => crate::bench::child::vips(program, *max_px, *quality, out, *per_photo, files)?,
        };
        Ok(serde_json::to_string(&usage)?)
    }
}
