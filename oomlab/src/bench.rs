//! `oomlab bench`: the lean photo pipeline against `vipsthumbnail` on the
//! same photos, side by side in one run.
//!
//! Each variant runs in a process of its own (`oomlab bench-child`, see
//! [`child`]) so its figures are its own: wall time, CPU time (user +
//! system, `getrusage`) and peak RSS of the whole process, the binary's own
//! pages included, as a container counts it (lean: its `VmHWM`; vips: the
//! children's `ru_maxrss`). The variants:
//! - `lean`: the report server's `resize` pipeline
//!   ([`report_server::jobs::photos::prepare`]) with a profile's settings
//!   (default `lean`), one photo at a time;
//! - `lean (process per photo)`: the same, each photo alone in a fresh
//!   process: the largest of these peaks is the worst single photo's, so
//!   lean's peak over all photos against it shows what accumulates;
//! - `vips (one process)`: `vipsthumbnail -s MAX` over all files at once;
//! - `vips (process per photo)`: one `vipsthumbnail` per file.
//!
//! The vips rows are there only when `vipsthumbnail` is on `PATH` (Debian:
//! `libvips-tools`); without it the bench says so and still measures lean.
//! The ratios compare lean with vips in one process.

pub mod child;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use child::Usage;

/// Where the photos come from.
#[derive(Debug, Clone)]
pub enum PhotoSource {
    /// The JPEG files of a directory (`--photos`), in name order.
    Dir(Vec<PathBuf>),
    /// `count` photos of a catalogue kind of the fake Cloudinary
    /// (`--synthetic camera --count 20`), written to a temporary folder.
    Synthetic { kind: String, count: usize },
}

/// What `oomlab bench` runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub photos: PhotoSource,
    /// The profile whose photo and allocator settings lean runs with.
    pub profile: PathBuf,
    /// `vipsthumbnail`, when found; `None`: lean only.
    pub vips: Option<PathBuf>,
    /// Times each variant runs; the median run of each is reported.
    pub repeat: usize,
}

/// One variant's figures (the median run by wall time).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: &'static str,
    pub usage: Usage,
}

/// The bench's result.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub photos: usize,
    pub photo_bytes: u64,
    pub max_px: u32,
    pub rows: Vec<Row>,
    /// Why the vips rows are missing, if they are.
    pub vips_missing: Option<String>,
}

/// `vipsthumbnail` on `PATH`, if there.
pub fn find_vips() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("vipsthumbnail"))
        .find(|p| p.is_file())
}

/// Write the synthetic photos into `dir`; their paths.
fn synthesize(kind: &str, count: usize, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    (0..count)
        .map(|n| {
            let id = format!("oomlab/{kind}-{n}");
            let parsed = mock_cloudinary::catalogue::parse_catalogue_id(&id)
                .with_context(|| format!("`{kind}` is not a photo kind of the fake Cloudinary"))?;
            let jpeg = mock_cloudinary::store::catalogue_photo(parsed, 1)
                .map_err(|e| anyhow::anyhow!("generating {id}: {e}"))?;
            let path = dir.join(format!("{kind}-{n:04}.jpg"));
            std::fs::write(&path, &jpeg).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// Processes run one after another: times add up, the peak is the largest
/// (and the idle the one of that process).
fn combine(a: Usage, b: Usage) -> Usage {
    let (peak_rss, idle_rss) = if b.peak_rss > a.peak_rss {
        (b.peak_rss, b.idle_rss)
    } else {
        (a.peak_rss, a.idle_rss)
    };
    Usage {
        wall_s: a.wall_s + b.wall_s,
        cpu_s: a.cpu_s + b.cpu_s,
        peak_rss,
        idle_rss,
        photos: a.photos + b.photos,
    }
}

/// Run one variant in its own process (`oomlab bench-child ...`).
fn measure(exe: &Path, args: &[std::ffi::OsString]) -> anyhow::Result<Usage> {
    let out = std::process::Command::new(exe)
        .arg("bench-child")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting oomlab bench-child")?;
    anyhow::ensure!(
        out.status.success(),
        "the measured process failed ({})",
        out.status
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim())
        .with_context(|| format!("reading the measured process's figures: {line:?}"))
}

/// Run the bench: each variant `repeat` times, in turn.
pub fn run(cfg: &BenchConfig) -> anyhow::Result<BenchResult> {
    let exe = std::env::current_exe().context("finding oomlab's own binary")?;
    let work = tempfile::Builder::new()
        .prefix("oomlab-bench-")
        .tempdir()
        .context("creating a temporary folder")?;
    let files = match &cfg.photos {
        PhotoSource::Dir(files) => files.clone(),
        PhotoSource::Synthetic { kind, count } => {
            let dir = work.path().join("photos");
            std::fs::create_dir(&dir)?;
            synthesize(kind, *count, &dir)?
        }
    };
    let photo_bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let settings = report_server::Settings::load(Some(&cfg.profile))
        .with_context(|| format!("loading the profile {}", cfg.profile.display()))?;
    let (max_px, quality) = (settings.photos.max_px, settings.photos.jpeg_quality);
    let mut variants: Vec<(&'static str, Vec<std::ffi::OsString>)> = vec![(
        "lean",
        vec![
            "lean".into(),
            "--profile".into(),
            cfg.profile.clone().into(),
        ],
    )];
    if let Some(vips) = &cfg.vips {
        let vips_args = |per_photo: bool| {
            let mut a: Vec<std::ffi::OsString> = vec![
                "vips".into(),
                "--program".into(),
                vips.clone().into(),
                "--max-px".into(),
                max_px.to_string().into(),
                "--quality".into(),
                quality.to_string().into(),
            ];
            if per_photo {
                a.push("--per-photo".into());
            }
            a
        };
        variants.push(("vips (one process)", vips_args(false)));
        variants.push(("vips (process per photo)", vips_args(true)));
    }
    // Lean again, one fresh process per photo (the vips per-photo variant
    // does the same inside one measured child).
    variants.insert(1, ("lean (process per photo)", variants[0].1.clone()));
    let mut runs: Vec<Vec<Usage>> = vec![Vec::new(); variants.len()];
    for round in 0..cfg.repeat.max(1) {
        for (i, (name, args)) in variants.iter().enumerate() {
            let out = work.path().join(format!("out-{round}-{i}"));
            std::fs::create_dir(&out)?;
            let batches: Vec<&[PathBuf]> = if *name == "lean (process per photo)" {
                files.chunks(1).collect()
            } else {
                vec![&files[..]]
            };
            let mut total: Option<Usage> = None;
            for batch in batches {
                let mut args = args.clone();
                args.push("--out".into());
                args.push(out.clone().into());
                args.push("--".into());
                args.extend(batch.iter().map(|f| f.clone().into()));
                let u = measure(&exe, &args)?;
                total = Some(match total {
                    None => u,
                    Some(t) => combine(t, u),
                });
            }
            runs[i].push(total.expect("at least one photo"));
            // The outputs are not kept: only the figures.
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    let rows = variants
        .iter()
        .zip(runs)
        .map(|((name, _), mut usages)| {
            usages.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
            Row {
                name,
                usage: usages[usages.len() / 2],
            }
        })
        .collect();
    Ok(BenchResult {
        photos: files.len(),
        photo_bytes,
        max_px,
        rows,
        vips_missing: cfg.vips.is_none().then(|| {
            "vipsthumbnail is not on PATH (Debian: apt-get install libvips-tools): lean only".into()
        }),
    })
}

/// Bytes in a MiB, the unit of every figure in [`render`]'s table.
const MIB_F: f64 = (1u64 << 20) as f64;

/// The result as the terminal shows it (sizes in MiB).
pub fn render(r: &BenchResult) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{} photos, {:.1} MiB, resized to fit {} px\n\n",
        r.photos,
        r.photo_bytes as f64 / MIB_F,
        r.max_px
    );
    let _ = writeln!(
        s,
        "{:<26} {:>9} {:>9} {:>12} {:>16}",
        "variant", "wall s", "CPU s", "peak RSS MiB", "above start MiB"
    );
    for row in &r.rows {
        let u = &row.usage;
        let above = if u.idle_rss > 0 {
            format!(
                "{:.1}",
                u.peak_rss.saturating_sub(u.idle_rss) as f64 / MIB_F
            )
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            s,
            "{:<26} {:>9.3} {:>9.3} {:>12.1} {:>16}",
            row.name,
            u.wall_s,
            u.cpu_s,
            u.peak_rss as f64 / MIB_F,
            above
        );
    }
    if let (Some(all), Some(one)) = (
        r.rows.iter().find(|x| x.name == "lean"),
        r.rows.iter().find(|x| x.name == "lean (process per photo)"),
    ) {
        let above = |u: &Usage| u.peak_rss.saturating_sub(u.idle_rss) as f64;
        if above(&one.usage) > 0.0 {
            let _ = writeln!(
                s,
                "\nlean over all photos / its worst single photo (above start): {:.2}x",
                above(&all.usage) / above(&one.usage)
            );
        }
    }
    if let Some(why) = &r.vips_missing {
        let _ = writeln!(s, "\n{why}");
    } else if let (Some(lean), Some(vips)) = (
        r.rows.iter().find(|x| x.name == "lean"),
        r.rows.iter().find(|x| x.name == "vips (one process)"),
    ) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let _ = writeln!(
            s,
            "\nlean / vips (one process): wall {:.2}x, CPU {:.2}x, peak RSS {:.2}x",
            ratio(lean.usage.wall_s, vips.usage.wall_s),
            ratio(lean.usage.cpu_s, vips.usage.cpu_s),
            ratio(lean.usage.peak_rss as f64, vips.usage.peak_rss as f64),
        );
    }
    s
}
