//! Which interpreter runs an app's command, and a pinned memray for it.
//!
//! A command is Python when its program is a Python interpreter
//! (`python3 app.py`, `python -m gunicorn ...`) or a script whose `#!` line
//! names one (a venv's `.venv/bin/gunicorn`, `uvicorn`, `flask`). Anything
//! else is named by its runtime, so `--heap` can say what it does not
//! support yet.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The memray release oomlab installs when the app has none: its capture
/// format and its API (`FileReader.get_high_watermark_allocation_records`)
/// are what the reader script is written against.
pub const MEMRAY_VERSION: &str = "1.19.1";

/// Why a command is not one `--heap` can trace, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPython {
    pub runtime: String,
}

/// `program` found on `path` (a `PATH` value) when it has no slash.
pub fn resolve(program: &Path, path: Option<&str>) -> PathBuf {
    if program.components().count() > 1 || program.is_absolute() {
        return program.to_path_buf();
    }
    let path = path
        .map(str::to_string)
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| program.to_path_buf())
}

fn is_python_name(name: &str) -> bool {
    let Some(v) = name.strip_prefix("python") else {
        return false;
    };
    v.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The `#!` line of `file` (its interpreter and first argument), when it
/// has one; `Err` names what the file is otherwise.
fn shebang(file: &Path) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(file).map_err(|e| format!("{} ({e})", file.display()))?;
    let mut r = BufReader::new(f);
    let mut head = [0u8; 4];
    let n = r
        .by_ref()
        .take(4)
        .read(&mut head)
        .map_err(|e| format!("{} ({e})", file.display()))?;
    if head[..n] == *b"\x7fELF" {
        return Err("a native program (ELF)".into());
    }
    if n < 2 || &head[..2] != b"#!" {
        return Err(format!("{} (no #! line)", file.display()));
    }
    let mut line = String::from_utf8_lossy(&head[2..n]).into_owned();
    let mut rest = String::new();
    let _ = r.take(512).read_line(&mut rest);
    line.push_str(&rest);
    Ok(line.split_whitespace().map(str::to_string).collect())
}

/// The Python interpreter that runs `program` (resolved on `path`): the
/// program itself when it is one, else the interpreter its `#!` line names.
pub fn interpreter_of(program: &Path, path: Option<&str>) -> Result<PathBuf, NotPython> {
    let resolved = resolve(program, path);
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_python_name(&name) {
        return Ok(resolved);
    }
    let words = shebang(&resolved).map_err(|what| NotPython { runtime: what })?;
    let interp = match words.split_first() {
        Some((first, rest)) if first.ends_with("/env") => {
            // `env -S python3 -u` or `env python3`: the first word that is
            // not an option.
            match rest.iter().find(|w| !w.starts_with('-')) {
                Some(prog) => resolve(Path::new(prog), path),
                None => PathBuf::from(first),
            }
        }
        Some((first, _)) => PathBuf::from(first),
        None => PathBuf::new(),
    };
    let interp_name = interp
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_python_name(&interp_name) {
        return Ok(interp);
    }
    let runtime = match interp_name.as_str() {
        "sh" | "bash" | "dash" | "zsh" => format!(
            "a shell script ({interp_name}); point the target's command at the Python \
             program the script starts (e.g. .venv/bin/gunicorn) and move the setup \
             into [[prepare]] steps"
        ),
        "" => format!("{} (its #! line names no program)", resolved.display()),
        other => other.to_string(),
    };
    Err(NotPython { runtime })
}

/// The folder oomlab keeps what it installs in: `$OOMLAB_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/oomlab`, else `~/.cache/oomlab`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OOMLAB_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("oomlab");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/oomlab"),
        None => std::env::temp_dir().join("oomlab-cache"),
    }
}

/// Where memray is imported from for `interpreter`.
#[derive(Debug, Clone)]
pub struct Memray {
    /// A folder to append to `sys.path`; `None`: the app's environment has
    /// memray itself.
    pub path: Option<PathBuf>,
    pub version: String,
    /// In words, for the report.
    pub source: String,
}

/// Runs `interpreter -c code` with `extra` appended to `sys.path`; its
/// stdout when it succeeds.
fn python_says(interpreter: &Path, extra: Option<&Path>, code: &str) -> Result<String, String> {
    let prefix = match extra {
        Some(p) => format!(
            "import sys; sys.path.append({:?}); ",
            p.display().to_string()
        ),
        None => String::new(),
    };
    let out = Command::new(interpreter)
        .arg("-c")
        .arg(format!("{prefix}{code}"))
        .output()
        .map_err(|e| format!("running {}: {e}", interpreter.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().last().unwrap_or("failed").trim().to_string())
    }
}

const MEMRAY_VERSION_CODE: &str =
    "import importlib.metadata as m; import memray; print(m.version('memray'))";

/// memray for `interpreter`: the app's own when it has one, else the pinned
/// release installed once (with pip, into oomlab's cache, not into the
/// app's environment). `announce` is told before an install starts.
pub fn memray_for(interpreter: &Path, announce: &dyn Fn(&str)) -> Result<Memray, String> {
    if let Ok(v) = python_says(interpreter, None, MEMRAY_VERSION_CODE) {
        return Ok(Memray {
            path: None,
            source: format!("memray {v} from the app's own environment"),
            version: v,
        });
    }
    let tag = python_says(
        interpreter,
        None,
        "import sys, sysconfig; print(sys.implementation.cache_tag + '-' + sysconfig.get_platform())",
    )
    .map_err(|e| format!("asking {} its version: {e}", interpreter.display()))?;
    let dir = cache_dir().join(format!("memray-{MEMRAY_VERSION}-{tag}"));
    let cached = |version: String| Memray {
        path: Some(dir.clone()),
        source: format!(
            "memray {version} installed by oomlab in {} (the app's environment untouched)",
            dir.display()
        ),
        version,
    };
    if let Ok(v) = python_says(interpreter, Some(&dir), MEMRAY_VERSION_CODE) {
        return Ok(cached(v));
    }
    announce(&format!(
        "installing memray {MEMRAY_VERSION} for {} into {} (once)",
        interpreter.display(),
        dir.display()
    ));
    let tmp = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = Command::new(interpreter)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-input", "--only-binary=:all:", "--target"])
        .arg(&tmp)
        .arg(format!("memray=={MEMRAY_VERSION}"))
        .output()
        .map_err(|e| format!("running pip with {}: {e}", interpreter.display()))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "pip could not install memray {MEMRAY_VERSION} for {}: {}",
            interpreter.display(),
            err.lines().last().unwrap_or("failed").trim()
        ));
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // Another oomlab may have finished the same install first: keep theirs.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let v = python_says(interpreter, Some(&dir), MEMRAY_VERSION_CODE)
        .map_err(|e| format!("memray installed in {} does not import: {e}", dir.display()))?;
    Ok(cached(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_venv_script_runs_under_the_interpreter_of_its_shebang() {
        let d = tempfile::tempdir().unwrap();
        let g = script(
            d.path(),
            "gunicorn",
            "#!/srv/app/.venv/bin/python\nimport sys\n",
        );
        assert_eq!(
            interpreter_of(&g, None).unwrap(),
            PathBuf::from("/srv/app/.venv/bin/python")
        );
        let f = script(d.path(), "flags", "#!/usr/bin/python3.11 -u\n");
        assert_eq!(
            interpreter_of(&f, None).unwrap(),
            PathBuf::from("/usr/bin/python3.11")
        );
    }

    #[test]
    fn env_shebangs_are_resolved_on_the_apps_path() {
        let d = tempfile::tempdir().unwrap();
        let py = script(d.path(), "python3.11", "");
        script(d.path(), "uvicorn", "#!/usr/bin/env python3.11\n");
        let path = d.path().display().to_string();
        assert_eq!(
            interpreter_of(Path::new("uvicorn"), Some(&path)).unwrap(),
            py
        );
        assert_eq!(
            interpreter_of(Path::new("/usr/bin/python3"), None).unwrap(),
            PathBuf::from("/usr/bin/python3")
        );
    }

    #[test]
    fn other_runtimes_are_named() {
        let d = tempfile::tempdir().unwrap();
        let n = script(d.path(), "server.js", "#!/usr/bin/env node\n");
        let e = interpreter_of(&n, Some("/nonexistent")).unwrap_err();
        assert_eq!(e.runtime, "node");
        let s = script(d.path(), "start.sh", "#!/bin/bash\nexec gunicorn app\n");
        let e = interpreter_of(&s, None).unwrap_err();
        assert!(e.runtime.starts_with("a shell script (bash)"), "{e:?}");
        let b = script(d.path(), "bin", "\x7fELF....");
        assert_eq!(
            interpreter_of(&b, None).unwrap_err().runtime,
            "a native program (ELF)"
        );
    }
}
