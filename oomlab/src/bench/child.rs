//! The measured side of `oomlab bench`: one process per variant, so each
//! variant's peak RSS and CPU time are its own (`getrusage`), whatever ran
//! before it. The parent re-executes its own binary as `oomlab bench-child`
//! (hidden), which prints one JSON line of [`Usage`] on stdout.
//!
//! - `lean`: the report server's own photo pipeline
//!   ([`report_server::jobs::photos::prepare`], the code a `resize` job runs
//!   per photo) over every file, in this process, one photo at a time, with
//!   the profile's photo and allocator settings; figures are this process's.
//! - `vips`: `vipsthumbnail -s MAX` over all files in one process, or one
//!   process per file; figures are those of the waited-for children.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nix::sys::resource::{UsageWho, getrusage};
use serde::{Deserialize, Serialize};

/// What one variant cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Wall time of the work, seconds.
    pub wall_s: f64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
    /// Peak resident set size of the process (the largest one for
    /// one-process-per-photo), bytes.
    pub peak_rss: u64,
    /// Resident set size before the work began (the lean variant's own
    /// process: binary, allocator, settings), bytes; 0 for commands run as
    /// children, whose start is not seen.
    pub idle_rss: u64,
    /// Photos done.
    pub photos: usize,
}

/// A figure of this process's `/proc/self/status` (`VmRSS`, `VmHWM`),
/// bytes; 0 when it cannot be read.
fn status_bytes(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn usage(who: UsageWho, started: Instant, idle_rss: u64, photos: usize) -> anyhow::Result<Usage> {
    let u = getrusage(who).context("getrusage")?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(Usage {
        wall_s: started.elapsed().as_secs_f64(),
        cpu_s: secs(u.user_time()) + secs(u.system_time()),
        // Linux reports ru_maxrss in KiB.
        peak_rss: u64::try_from(u.max_rss()).unwrap_or(0) * 1024,
        idle_rss,
        photos,
    })
}

/// The lean pipeline over `files`: each read whole (as a job's download
/// holds it), prepared with the profile's photo settings, written to `out`.
pub fn lean(profile: &Path, out: &Path, files: &[PathBuf]) -> anyhow::Result<Usage> {
    let settings = report_server::Settings::load(Some(profile))
        .with_context(|| format!("loading the profile {}", profile.display()))?;
    report_server::memory::set_allocator(report_server::memory::AllocatorKind::Jemalloc);
    report_server::memory::apply_allocator_options(&settings.allocator);
    let idle = status_bytes("VmRSS:");
    let started = Instant::now();
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let photo = report_server::jobs::photos::prepare(
            bytes.into(),
            &settings.photos,
            settings.limits.max_photo_pixels,
        )
        .with_context(|| format!("{}", file.display()))?;
        std::fs::write(out.join(format!("{i:05}.jpg")), &photo.jpeg)
            .with_context(|| format!("writing into {}", out.display()))?;
    }
    let mut u = usage(UsageWho::RUSAGE_SELF, started, idle, files.len())?;
    // Not `ru_maxrss` for this process: Linux carries it across `execve`
    // from the forked copy of the parent (the bench, which may have just
    // generated the photos), while `VmHWM` is this program's own.
    u.peak_rss = status_bytes("VmHWM:");
    Ok(u)
}

/// `program -s max_px -o out/%s.jpg[Q=quality]` over `files`: in one process,
/// or one process per file. A failed process is an error naming it.
pub fn vips(
    program: &Path,
    max_px: u32,
    quality: u8,
    out: &Path,
    per_photo: bool,
    files: &[PathBuf],
) -> anyhow::Result<Usage> {
    let output = format!("{}/%s.jpg[Q={quality}]", out.display());
    let run = |batch: &[PathBuf]| -> anyhow::Result<()> {
        let status = std::process::Command::new(program)
            .arg("-s")
            .arg(max_px.to_string())
            .arg("-o")
            .arg(&output)
            .args(batch)
            .stdin(std::process::Stdio::null())
            .status()
            .with_context(|| format!("starting {}", program.display()))?;
        anyhow::ensure!(
            status.success(),
            "{} failed ({status}) on {}",
            program.display(),
            batch
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    };
    let started = Instant::now();
    if per_photo {
        for file in files {
            run(std::slice::from_ref(file))?;
        }
    } else {
        run(files)?;
    }
    usage(UsageWho::RUSAGE_CHILDREN, started, 0, files.len())
}
