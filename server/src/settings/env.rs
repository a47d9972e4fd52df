//! Environment overrides: `REPORT_SERVER__SECTION__KEY=value` folded into the
//! profile's TOML table before it becomes [`Settings`].
//!
//! An environment value is only text; its TOML type comes from the key, not
//! from how the text looks. `REPORT_SERVER__CLOUDINARY__CLOUD_NAME=12345` is
//! the string "12345" because `cloudinary.cloud_name` is a string, although
//! the text reads as a number. The type of each key is taken from the
//! built-in defaults serialised to TOML. Keys the defaults leave out (an
//! unset `Option`) are guessed from the text, and if the settings then do not
//! deserialise, tried once more with those guesses as strings.

use serde::Deserialize;

use super::{ENV_PREFIX, Settings, SettingsError};

/// Fold `REPORT_SERVER__A__B=value` variables into the TOML table. Returns
/// the key paths whose type was guessed from the text (no default names
/// their type), for [`deserialize_with_overrides`].
pub fn apply_env_overrides(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Vec<Vec<String>>, SettingsError> {
    let defaults = match toml::Value::try_from(Settings::default()) {
        Ok(toml::Value::Table(t)) => t,
        // Cannot happen for a plain struct; without types every value is
        // guessed, the behaviour before types were looked up.
        _ => toml::Table::new(),
    };
    let mut guessed = Vec::new();
    for (var, raw) in vars {
        let Some(path) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(SettingsError::Env {
                var,
                message: "has an empty key; write REPORT_SERVER__SECTION__KEY".into(),
            });
        }
        let value = match lookup(&defaults, &keys) {
            Some(default) => typed_value(&raw, default).map_err(|message| SettingsError::Env {
                var: var.clone(),
                message,
            })?,
            None => {
                let v = guess_value(&raw);
                if !v.is_str() {
                    guessed.push(keys.clone());
                }
                v
            }
        };
        let mut t = &mut *table;
        for k in &keys[..keys.len() - 1] {
            let entry = t
                .entry(k.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match entry {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(SettingsError::Env {
                        var,
                        message: format!("`{k}` is a value, not a section"),
                    });
                }
            };
        }
        t.insert(keys[keys.len() - 1].clone(), value);
    }
    Ok(guessed)
}

/// Deserialise the settings; if that fails and some override's type was
/// guessed, try once more with those overrides as the strings they were
/// given as. The first error is the one reported.
pub fn deserialize_with_overrides(
    mut table: toml::Table,
    guessed: &[Vec<String>],
) -> Result<Settings, toml::de::Error> {
    let first = match Settings::deserialize(toml::Value::Table(table.clone())) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    if guessed.is_empty() {
        return Err(first);
    }
    for keys in guessed {
        if let Some(v) = lookup_mut(&mut table, keys) {
            *v = toml::Value::String(as_text(v));
        }
    }
    Settings::deserialize(toml::Value::Table(table)).map_err(|_| first)
}

fn lookup<'a>(table: &'a toml::Table, keys: &[String]) -> Option<&'a toml::Value> {
    let (last, sections) = keys.split_last()?;
    let mut t = table;
    for k in sections {
        t = t.get(k)?.as_table()?;
    }
    t.get(last)
}

fn lookup_mut<'a>(table: &'a mut toml::Table, keys: &[String]) -> Option<&'a mut toml::Value> {
    let (last, sections) = keys.split_last()?;
    let mut t = table;
    for k in sections {
        t = t.get_mut(k)?.as_table_mut()?;
    }
    t.get_mut(last)
}

/// The text of a guessed scalar, as it was given.
fn as_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// `raw` as the type of the key's default. A string key keeps the text as
/// it is, whatever it looks like; a number or boolean key that does not
/// parse is refused here, naming what was expected.
fn typed_value(raw: &str, default: &toml::Value) -> Result<toml::Value, String> {
    let expected = |what: &str| {
        format!(
            "expects {what} (the default is {}), got `{}`",
            default,
            raw.chars().take(60).collect::<String>()
        )
    };
    match default {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_string())),
        toml::Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| expected("an integer")),
        toml::Value::Float(_) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(toml::Value::Float)
            .ok_or_else(|| expected("a number")),
        toml::Value::Boolean(_) => match raw.trim() {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            _ => Err(expected("true or false")),
        },
        // A whole section or a list: not settable from one variable.
        toml::Value::Table(_) => {
            Err("names a section, not a key; write REPORT_SERVER__SECTION__KEY".to_string())
        }
        _ => Ok(guess_value(raw)),
    }
}

/// The type read off the text, for keys without a default: integers,
/// numbers and booleans, else a string.
fn guess_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = raw.parse::<f64>()
        && f.is_finite()
    {
        return toml::Value::Float(f);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_with_env(profile: &str, vars: &[(&str, &str)]) -> Result<Settings, String> {
        let mut table: toml::Table = toml::from_str(profile).unwrap();
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let guessed = apply_env_overrides(&mut table, vars).map_err(|e| e.to_string())?;
        deserialize_with_overrides(table, &guessed).map_err(|e| e.to_string())
    }

    #[test]
    fn a_numeric_value_for_a_string_key_stays_a_string() {
        let s = settings_with_env(
            "",
            &[
                ("REPORT_SERVER__CLOUDINARY__CLOUD_NAME", "12345"),
                ("REPORT_SERVER__NAME", "2.5"),
                ("REPORT_SERVER__DESCRIPTION", "true"),
            ],
        )
        .unwrap();
        assert_eq!(s.cloudinary.cloud_name, "12345");
        assert_eq!(s.name, "2.5");
        assert_eq!(s.description, "true");
        // The profile's own string is overridden too.
        let s = settings_with_env(
            "[cloudinary]\ncloud_name = \"demo\"",
            &[("REPORT_SERVER__CLOUDINARY__CLOUD_NAME", "007")],
        )
        .unwrap();
        assert_eq!(s.cloudinary.cloud_name, "007", "leading zeros kept");
    }

    #[test]
    fn numbers_booleans_and_enums_take_their_key_type() {
        let s = settings_with_env(
            "",
            &[
                ("REPORT_SERVER__WORKERS", "1"),
                ("REPORT_SERVER__DB__POOL_TIMEOUT_SECS", "5"),
                ("REPORT_SERVER__DB__USE_LIFO", "true"),
                ("REPORT_SERVER__PHOTOS__EMBED", "resize"),
                ("REPORT_SERVER__QUEUE_CAPACITY", "8"),
                ("UNRELATED", "x"),
            ],
        )
        .unwrap();
        assert_eq!(s.workers, 1);
        assert_eq!(
            s.db.pool_timeout_secs, 5.0,
            "an integer text for a float key"
        );
        assert!(s.db.use_lifo);
        assert_eq!(s.photos.embed, super::super::EmbedMode::Resize);
        assert_eq!(s.queue_capacity, Some(8), "no default: the type is guessed");
    }

    #[test]
    fn a_value_that_does_not_fit_its_key_names_the_variable() {
        let err = settings_with_env("", &[("REPORT_SERVER__WORKERS", "two")]).unwrap_err();
        assert!(
            err.contains("REPORT_SERVER__WORKERS") && err.contains("integer"),
            "{err}"
        );
        let err = settings_with_env("", &[("REPORT_SERVER__DB__USE_LIFO", "yes")]).unwrap_err();
        assert!(err.contains("true or false"), "{err}");
        let err = settings_with_env("", &[("REPORT_SERVER__DB", "1")]).unwrap_err();
        assert!(err.contains("section"), "{err}");
    }

    #[test]
    fn a_guessed_number_that_does_not_fit_is_tried_as_a_string() {
        // `queue_capacity` has no default to take a type from: "abc" is a
        // string either way and stays an error, naming the key.
        let err = settings_with_env("", &[("REPORT_SERVER__QUEUE_CAPACITY", "abc")]).unwrap_err();
        assert!(
            err.contains("abc") || err.contains("queue_capacity"),
            "{err}"
        );
        // A guessed number where the key wants text: the retry as a string
        // wins. (Exercised on the table directly: every string key of
        // today's settings has a default, so this is the path for a future
        // `Option<String>` key.)
        let mut table = toml::Table::new();
        table.insert(
            "cloudinary".into(),
            toml::Value::Table(toml::Table::from_iter([(
                "cloud_name".to_string(),
                toml::Value::Integer(12345),
            )])),
        );
        let keys = vec!["cloudinary".to_string(), "cloud_name".to_string()];
        let s = deserialize_with_overrides(table.clone(), std::slice::from_ref(&keys)).unwrap();
        assert_eq!(s.cloudinary.cloud_name, "12345");
        assert!(
            deserialize_with_overrides(table, &[]).is_err(),
            "without the retry the guess fails: the test can fail"
        );
    }
}
