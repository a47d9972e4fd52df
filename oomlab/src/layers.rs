//! The dependency rule of the crate's modules, checked: a module uses only
//! modules of lower layers (`use crate::x`, or a `crate::x::` path outside
//! a comment). ARCHITECTURE.md states the same table.

use std::collections::BTreeMap;
use std::path::Path;

/// Layers, lowest first. The run vocabulary and one run below; the
/// answers and the command line above.
const LAYERS: &[&[&str]] = &[
    // Leaves: words and small tools.
    &[
        "error",
        "input",
        "units",
        "silence",
        "trend",
        "folders",
        "profile_settings",
        "watchdog",
        "cgroup",
        "crash",
    ],
    // Inputs of a run: what is measured and how it is loaded.
    &["scenario", "child"],
    &["app_target", "redis_server"],
    // One run's machinery.
    &["sampler", "load", "stress"],
    &["live", "report"],
    &["heap"],
    &["harness"],
    // The answers, which do not use each other.
    &["finished"],
    &["matrix"],
    &["compare", "gate", "plan", "calibrate", "bench"],
    &["cli"],
];

/// The layer of each module.
fn layer_of() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(n, mods)| mods.iter().map(move |m| (*m, n)))
        .collect()
}

/// The modules `source` names as `crate::x`, comments left out.
fn uses(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Every `.rs` file of module `m` (its file and its folder).
fn files_of(src: &Path, m: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{m}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut stack = vec![src.join(m)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = layer_of();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let m = name.trim_end_matches(".rs");
        if ["lib", "main", "layers"].contains(&m) {
            continue;
        }
        let Some(&own) = layers.get(m) else {
            wrong.push(format!("{m} is in no layer: add it to LAYERS"));
            continue;
        };
        for f in files_of(&src, m) {
            for used in uses(&std::fs::read_to_string(&f).unwrap()) {
                if used == m {
                    continue;
                }
                match layers.get(used.as_str()) {
                    Some(&l) if l < own => {}
                    Some(_) => wrong.push(format!(
                        "{} uses crate::{used}, which is not below {m}",
                        f.strip_prefix(&src).unwrap().display()
                    )),
                    None => {}
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_rule_sees_a_use_and_ignores_comments() {
    assert_eq!(
        uses(
            "use crate::report::Outcome; // crate::harness\n/// [`crate::cli`]\nlet x = crate::units::mb(1);"
        ),
        ["report", "units"]
    );
}
