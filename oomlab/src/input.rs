//! Flag values: sizes, durations, percentages and input files by name.
//!
//! A leaf module: the parsers here are used as clap value parsers (so a bad
//! flag is a clap error that names the flag, exit 2, before anything starts)
//! and by the few places that read the same kinds of values from files.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A byte size given on the command line, e.g. `512MiB` (MB is read as MiB,
/// as the hosting platforms write it). Never 0, never without a unit: clap
/// prefixes the message with the flag, `invalid value '512' for '--limit
/// <SIZE>': `512` has no unit: write 512MiB ...` (exit 2).
pub fn size(s: &str) -> Result<u64, String> {
    match memstats::parse_bytes(s) {
        Ok(0) => Err("the size is 0; write e.g. 512MiB".into()),
        Ok(b) => Ok(b),
        Err(e) => Err(e.to_string()),
    }
}

/// `--limit`: one size for the measured process (or for each service of a
/// split run), or one per service, `web=512MiB,worker=150MiB` (a service
/// left out gets the default, 512 MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitArg {
    /// One size, bytes.
    One(u64),
    /// One size per service of a split run, bytes.
    PerService {
        /// The web service's limit.
        web: u64,
        /// The worker's limit.
        worker: u64,
    },
}

/// The default `--limit`, bytes (Render's Free and Starter plans).
pub const DEFAULT_LIMIT: u64 = 512 << 20;

impl LimitArg {
    /// The `(web, worker)` limits of a split run.
    pub fn per_service(self) -> (u64, u64) {
        match self {
            LimitArg::One(b) => (b, b),
            LimitArg::PerService { web, worker } => (web, worker),
        }
    }
}

/// Parses `--limit`: `512MiB`, or `web=512MiB,worker=150MiB`.
pub fn limit(s: &str) -> Result<LimitArg, String> {
    if !s.contains('=') {
        return size(s).map(LimitArg::One);
    }
    let (mut web, mut worker) = (None, None);
    for pair in s.split(',') {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            format!("`{pair}` is not SERVICE=SIZE; write e.g. web=512MiB,worker=150MiB")
        })?;
        let slot = match key.trim() {
            "web" => &mut web,
            "worker" => &mut worker,
            other => {
                return Err(format!(
                    "unknown service `{other}`; the services are web and worker, e.g. web=512MiB,worker=150MiB"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("`{}` is given twice", key.trim()));
        }
        *slot = Some(size(value.trim())?);
    }
    Ok(LimitArg::PerService {
        web: web.unwrap_or(DEFAULT_LIMIT),
        worker: worker.unwrap_or(DEFAULT_LIMIT),
    })
}

/// A duration as people write it: `90s`, `15m`, `1h30m`, `2h 15m`, `500ms`
/// (humantime's forms), or a decimal with one unit, `1.5s`, `0.5h`. Never 0,
/// never without a unit: a bare `30` is refused like a bare size, with the
/// unit to add.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.parse::<f64>().is_ok() {
        return Err(format!("`{t}` has no unit: write {t}s (or {t}m, {t}h)"));
    }
    let d = humantime::parse_duration(t)
        .ok()
        .or_else(|| decimal_duration(t))
        .ok_or_else(|| {
            format!("`{s}` is not a duration; write a number with a unit: 500ms, 90s, 15m or 1h30m")
        })?;
    if d.is_zero() {
        return Err(format!("`{s}` is no time at all; write e.g. 90s or 15m"));
    }
    if d.as_secs() > 1_000_000_000 {
        return Err(format!(
            "`{s}` is longer than any run; write e.g. 90s or 15m"
        ));
    }
    Ok(d)
}

/// `1.5s`, `0.5h`, `2.5 min`: one decimal number and one unit, which
/// humantime does not read.
fn decimal_duration(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "s" | "sec" | "secs" => v,
        "m" | "min" | "mins" => v * 60.0,
        "h" | "hr" | "hrs" => v * 3600.0,
        _ => return None,
    };
    (0.0..=1e9)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

/// A duration as [`duration`], or zero (`0`, `0s`): a step that can be
/// turned off.
pub fn duration_or_zero(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    match humantime::parse_duration(t)
        .ok()
        .or_else(|| decimal_duration(t))
    {
        Some(d) if d.is_zero() => Ok(Duration::ZERO),
        _ => duration(s),
    }
}

/// A share such as `10%`, `10 %`, `0.5%` or `10` (percent), as a fraction
/// (0.10). At least 0 and below 100%.
pub fn percent(s: &str) -> Result<f64, String> {
    let err = || format!("`{s}` is not a percentage from 0 to 99; write e.g. 10%");
    let t = s.trim().trim_end_matches('%').trim();
    let v: f64 = t.parse().map_err(|_| err())?;
    if !v.is_finite() || !(0.0..100.0).contains(&v) {
        return Err(err());
    }
    Ok(v / 100.0)
}

/// A positive share of a CPU core, e.g. `0.1`, `0.5`, `2`.
pub fn cpus(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c > 0.0 && c.is_finite() && c <= 4096.0 => Ok(c),
        _ => Err(format!(
            "`{s}` is not a positive share of a core; write e.g. 0.5"
        )),
    }
}

/// A count of at least 1, e.g. users or workers.
pub fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 does nothing; write at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number; write e.g. 2")),
    }
}

/// `KEY=VALUE`, e.g. an environment variable: the key a name of letters,
/// digits and `_`, the value anything (empty allowed).
pub fn key_value(s: &str) -> Result<(String, String), String> {
    let Some((k, v)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` has no `=`; write KEY=VALUE, e.g. REPORT_WORKERS=1"
        ));
    };
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{k}` is not a variable name (letters, digits and _); write KEY=VALUE, e.g. REPORT_WORKERS=1"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// One `--vary KEY=v1,v2`: an environment variable of an app and the
/// values to run it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vary {
    pub key: String,
    pub values: Vec<String>,
}

/// `KEY=v1,v2` (values separated by `|` instead when any holds a comma or
/// an `=`: `GUNICORN_CMD_ARGS=--threads=1|--threads=4`).
pub fn vary(s: &str) -> Result<Vary, String> {
    let (key, list) = key_value(s).map_err(|e| e.replace("KEY=VALUE", "KEY=v1,v2"))?;
    let sep = if list.contains('|') { '|' } else { ',' };
    let values: Vec<String> = list.split(sep).map(str::to_string).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!(
            "`{s}` has an empty value; write KEY=v1,v2 (or KEY=v1|v2 when values hold commas)"
        ));
    }
    let mut seen = values.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != values.len() {
        return Err(format!("`{s}` names a value twice"));
    }
    Ok(Vary { key, values })
}

/// The folder of shipped profiles.
pub const PROFILES: &str = "profiles";
/// The folder of shipped scenarios.
pub const SCENARIOS: &str = "scenarios";

/// The folder of shipped target files.
pub const TARGETS: &str = "targets";

/// A target file: a TOML file, or a name in `targets/`.
pub fn target(arg: &str) -> Result<PathBuf, String> {
    resolve(arg, TARGETS)
}

/// A profile: a TOML file, or a name in `profiles/`.
pub fn profile(arg: &str) -> Result<PathBuf, String> {
    resolve(arg, PROFILES)
}

/// A scenario: a TOML file, or a name in `scenarios/`.
pub fn scenario(arg: &str) -> Result<PathBuf, String> {
    resolve(arg, SCENARIOS)
}

/// Every `profiles/*.toml`, `original` first and the rest in the order of
/// the shipped ladder (then by name).
pub fn shipped_profiles() -> Result<Vec<PathBuf>, String> {
    const LADDER: &[&str] = &[
        "original",
        "quick-fix",
        "passthrough",
        "resize",
        "cdn-transform",
        "lean",
    ];
    let mut names = names_in(PROFILES);
    names.sort_by_key(|n| {
        (
            LADDER.iter().position(|l| l == n).unwrap_or(LADDER.len()),
            n.clone(),
        )
    });
    if names.is_empty() {
        return Err(format!(
            "no {PROFILES}/*.toml in the current directory; run from the repository root, or pass --profile FILE"
        ));
    }
    Ok(names
        .iter()
        .map(|n| Path::new(PROFILES).join(format!("{n}.toml")))
        .collect())
}

/// `arg` as a file, or as `<dir>/<arg>.toml` when it is a bare name; the
/// error lists the names that exist.
pub fn resolve(arg: &str, dir: &str) -> Result<PathBuf, String> {
    let p = Path::new(arg);
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    let named = Path::new(dir).join(format!("{arg}.toml"));
    if !arg.contains('/') && !arg.ends_with(".toml") && named.is_file() {
        return Ok(named);
    }
    let known = names_in(dir);
    Err(format!(
        "`{arg}` is neither a file nor a name in {dir}/; {}",
        if known.is_empty() {
            format!("pass the path of a TOML file (no {dir}/ folder in the current directory)")
        } else {
            format!("pass a TOML file or one of: {}", known.join(", "))
        }
    ))
}

/// The stems of `<dir>/*.toml`, sorted; empty when `dir` cannot be read.
pub fn names_in(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_suffix(".toml").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A file's stem as a display name (`profiles/lean.toml` -> `lean`).
pub fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_one_size_or_one_per_service() {
        assert_eq!(limit("512MiB"), Ok(LimitArg::One(512 << 20)));
        assert_eq!(
            limit("web=512MiB,worker=150MiB"),
            Ok(LimitArg::PerService {
                web: 512 << 20,
                worker: 150 << 20
            })
        );
        assert_eq!(
            limit("worker=150MiB").map(LimitArg::per_service),
            Ok((DEFAULT_LIMIT, 150 << 20))
        );
        assert!(limit("db=1GiB").unwrap_err().contains("web and worker"));
        assert!(limit("web=1GiB,web=2GiB").unwrap_err().contains("twice"));
        assert!(limit("web=0").is_err());
    }

    #[test]
    fn a_vary_takes_comma_or_bar_separated_values() {
        let v = vary("REPORT_WORKERS=1,2").unwrap();
        assert_eq!((v.key.as_str(), v.values.len()), ("REPORT_WORKERS", 2));
        let v = vary("GUNICORN_CMD_ARGS=--threads=1|--threads=4").unwrap();
        assert_eq!(v.values, ["--threads=1", "--threads=4"]);
        assert!(vary("A=1,,2").unwrap_err().contains("empty value"));
        assert!(vary("A=1,1").unwrap_err().contains("twice"));
        assert!(vary("A").unwrap_err().contains("KEY=v1,v2"));
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign_and_name_a_variable() {
        assert_eq!(
            key_value("A_1=x=y").unwrap(),
            ("A_1".to_string(), "x=y".to_string())
        );
        assert_eq!(key_value("A=").unwrap(), ("A".to_string(), String::new()));
        assert!(key_value("A").unwrap_err().contains("KEY=VALUE"));
        assert!(key_value("=x").is_err());
        assert!(key_value("A B=x").is_err());
    }

    #[test]
    fn durations_parse_with_units_and_bad_ones_say_how_to_write_them() {
        assert_eq!(duration_or_zero("0s").unwrap(), Duration::ZERO);
        assert_eq!(duration_or_zero("0").unwrap(), Duration::ZERO);
        assert_eq!(duration_or_zero("3s").unwrap(), Duration::from_secs(3));
        assert!(duration_or_zero("-1s").is_err());
        assert_eq!(duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(duration("2h 15m").unwrap(), Duration::from_secs(8100));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(duration("0.5h").unwrap(), Duration::from_secs(1800));
        assert!(duration("soon").unwrap_err().contains("1h30m"));
        assert!(duration("0s").unwrap_err().contains("no time"));
        assert!(duration("-1s").is_err());
        assert!(duration("1e12s").is_err());
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_with_the_unit_to_add() {
        let e = duration("30").unwrap_err();
        assert!(e.contains("`30` has no unit: write 30s"), "{e}");
        assert!(duration_or_zero("30").unwrap_err().contains("write 30s"));
    }

    #[test]
    fn percentages_parse_with_or_without_the_sign() {
        assert_eq!(percent("10%").unwrap(), 0.10);
        assert_eq!(percent("5").unwrap(), 0.05);
        assert_eq!(percent("0%").unwrap(), 0.0);
        assert!(percent("ten").unwrap_err().contains("10%"));
        assert!(percent("100%").is_err());
        assert!(percent("-1%").is_err());
    }

    #[test]
    fn sizes_refuse_zero_and_nonsense() {
        assert_eq!(size("512MiB").unwrap(), 512 << 20);
        assert_eq!(size("512MB").unwrap(), 512 << 20);
        assert!(size("0MiB").unwrap_err().contains("is 0"));
        assert!(size("512").unwrap_err().contains("write 512MiB"));
        assert!(size("lots").unwrap_err().contains("512MiB"));
    }

    #[test]
    fn cpu_shares_and_counts_must_be_positive() {
        assert_eq!(cpus("0.1").unwrap(), 0.1);
        assert!(cpus("0").is_err() && cpus("-1").is_err() && cpus("x").is_err());
        assert_eq!(count("2").unwrap(), 2);
        assert!(count("0").is_err() && count("two").is_err());
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lean.toml"), "").unwrap();
        let d = dir.path().to_str().unwrap();
        let e = resolve("nope", d).unwrap_err();
        assert!(e.contains("nope") && e.contains("lean"), "{e}");
        assert_eq!(resolve("lean", d).unwrap(), dir.path().join("lean.toml"));
    }
}
