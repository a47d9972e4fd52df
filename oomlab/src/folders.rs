//! Run and answer folders: fresh ones, never reused.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// A fresh folder `<out>/<name>`, or `<out>/<name>-N` when that exists.
pub fn fresh_dir(out: &Path, name: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the reports folder {} (--out)", out.display()))?;
    for n in 0..1000 {
        let dir = if n == 0 {
            out.join(name)
        } else {
            out.join(format!("{name}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!("too many folders named {name} in {}", out.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_folders_never_reuse_a_name() {
        let d = tempfile::tempdir().unwrap();
        let a = fresh_dir(d.path(), "x").unwrap();
        let b = fresh_dir(d.path(), "x").unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        assert!(b.ends_with("x-1"));
    }
}
