//! The settings that differ between profiles, read from the profile TOMLs.
//!
//! Each profile is read as the server reads it (every key not in the file
//! takes the server's default), flattened to dotted keys, and only the keys
//! whose values are not the same in every profile are kept: those are the
//! choices a comparison is about. When a file is not a reference-server
//! profile (a user's own app), its keys are taken as written.

use std::collections::BTreeMap;
use std::path::Path;

/// Keys that name or describe a profile, or wire it to the fakes: never a
/// memory choice.
const IGNORED: &[&str] = &["name", "description", "cloudinary.", "db.url", "limits."];

/// The environment a variant's name says it was run with
/// (`app[K=V,K2=V2]`, see `Target::with_env`), as `run.env.K` settings.
pub fn env_of_variant(name: &str) -> Vec<(String, String)> {
    let Some(inner) = name
        .strip_suffix(']')
        .and_then(|n| n.split_once('[').map(|(_, rest)| rest))
    else {
        return Vec::new();
    };
    // A value may hold a comma: a part that is not KEY=... belongs to the
    // value before it.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in inner.split(',') {
        match part.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                pairs.push((format!("run.env.{k}"), v.to_string()));
            }
            _ => {
                if let Some(last) = pairs.last_mut() {
                    last.1.push(',');
                    last.1.push_str(part);
                }
            }
        }
    }
    pairs
}

/// A profile's settings as dotted keys (`photos.embed`) and their values as
/// TOML writes them. `None` when the file cannot be read.
pub fn flatten_profile(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = match report_server::settings::Settings::from_toml(&text) {
        Ok(s) => serde_json::to_value(s).ok()?,
        Err(_) => {
            let t: toml::Table = toml::from_str(&text).ok()?;
            serde_json::to_value(t).ok()?
        }
    };
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out.retain(|k, _| {
        !IGNORED
            .iter()
            .any(|i| k == i || (i.ends_with('.') && k.starts_with(i)))
    });
    Some(out)
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        serde_json::Value::Null => {
            out.insert(prefix.to_string(), "none".into());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// For each profile (in order), the keys whose values differ across
/// `profiles`, with that profile's value (`default` when it lacks the key).
pub fn differing(
    profiles: &[(String, Option<BTreeMap<String, String>>)],
) -> Vec<(String, BTreeMap<String, String>)> {
    let known: Vec<&BTreeMap<String, String>> =
        profiles.iter().filter_map(|(_, s)| s.as_ref()).collect();
    let mut keys: Vec<String> = known.iter().flat_map(|m| m.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| {
        let mut vals = known.iter().map(|m| m.get(k));
        let first = vals.next().flatten();
        vals.any(|v| v != first)
    });
    profiles
        .iter()
        .map(|(name, s)| {
            let m = match s {
                Some(s) => keys
                    .iter()
                    .map(|k| {
                        (
                            k.clone(),
                            s.get(k).cloned().unwrap_or_else(|| "default".into()),
                        )
                    })
                    .collect(),
                None => BTreeMap::new(),
            };
            (name.clone(), m)
        })
        .collect()
}

/// One line for a table cell: the keys in which `this` differs from
/// `baseline`, e.g. `workers 1, db.pool_size 5`.
pub fn delta_line(this: &BTreeMap<String, String>, baseline: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = this
        .iter()
        .filter(|(k, v)| baseline.get(*k) != Some(v))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_variants_name_gives_its_environment_values_with_commas_kept() {
        assert_eq!(
            super::env_of_variant("app[A=1,B=--x=1,2]"),
            vec![
                ("run.env.A".to_string(), "1".to_string()),
                ("run.env.B".to_string(), "--x=1,2".to_string())
            ]
        );
        assert!(super::env_of_variant("original").is_empty());
    }

    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_keys_that_differ_are_kept() {
        let a = m(&[
            ("workers", "2"),
            ("db.pool_size", "10"),
            ("photos.fetch", "all_upfront"),
        ]);
        let b = m(&[
            ("workers", "1"),
            ("db.pool_size", "10"),
            ("photos.fetch", "all_upfront"),
        ]);
        let d = differing(&[("a".into(), Some(a.clone())), ("b".into(), Some(b.clone()))]);
        assert_eq!(d[0].1, m(&[("workers", "2")]));
        assert_eq!(d[1].1, m(&[("workers", "1")]));
        assert_eq!(delta_line(&d[1].1, &d[0].1), "workers 1");
        assert_eq!(delta_line(&d[0].1, &d[0].1), "");
    }

    #[test]
    fn shipped_profiles_are_read_with_the_servers_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let orig = flatten_profile(&dir.join("original.toml")).unwrap();
        let pass = flatten_profile(&dir.join("passthrough.toml")).unwrap();
        assert_eq!(orig["workers"], "2");
        assert_eq!(pass["photos.embed"], "passthrough");
        // Not written in passthrough.toml, filled in from the server's default.
        assert!(pass.contains_key("http.max_in_flight"));
        assert!(
            !orig
                .keys()
                .any(|k| k.starts_with("cloudinary.") || k == "name")
        );
    }
}
