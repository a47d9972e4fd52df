//! The JSON schemas of the result files (`run.json`, `compare.json`,
//! `plan.json`, `calibration.json`), generated from their Rust types with
//! schemars: a field's doc comment is its description, so the schema and
//! the type cannot drift apart. The generated files are checked in under
//! `oomlab/schema/` for readers and other tools; a test fails when a type
//! changed and the files were not regenerated:
//!
//! ```text
//! UPDATE_SCHEMAS=1 cargo test -p oomlab --lib schema
//! ```
//!
//! The schemas describe what oomlab writes (serde's serialize side): a field
//! that is always written is required, one skipped when empty is not. Every
//! object is closed (`additionalProperties: false`), so a field the schema
//! does not know fails validation instead of passing unseen.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

/// One checked-in schema: its file under `oomlab/schema/`, and how it is
/// made.
pub struct SchemaFile {
    /// The file name, e.g. `run.schema.json`.
    pub file: &'static str,
    /// The schema's text, as checked in.
    pub generate: fn() -> String,
}

/// Where the checked-in schemas live: `$id`s are this plus the file name.
const ID_BASE: &str = "https://github.com/oomlab/oomlab/oomlab/schema/";

/// Every result file's schema.
pub const FILES: [SchemaFile; 4] = [
    SchemaFile {
        file: "run.schema.json",
        generate: || {
            render::<crate::report::RunReport>(
                "run.schema.json",
                "oomlab run.json",
                crate::report::SCHEMA_VERSION,
            )
        },
    },
    SchemaFile {
        file: "compare.schema.json",
        generate: || {
            render::<crate::compare::CompareReport>(
                "compare.schema.json",
                "oomlab compare.json",
                crate::compare::SCHEMA_VERSION,
            )
        },
    },
    SchemaFile {
        file: "plan.schema.json",
        generate: || {
            render::<crate::plan::PlanReport>(
                "plan.schema.json",
                "oomlab plan.json",
                crate::plan::SCHEMA_VERSION,
            )
        },
    },
    SchemaFile {
        file: "calibration.schema.json",
        generate: || {
            render::<crate::calibrate::CalibrationReport>(
                "calibration.schema.json",
                "oomlab calibration.json",
                crate::calibrate::SCHEMA_VERSION,
            )
        },
    },
];

/// The schema of `T` as a JSON value: draft 2020-12, the serialize side,
/// `$id` and `title` set, `schema_version` pinned to `version`, every
/// object closed.
pub fn generate<T: JsonSchema>(file: &str, title: &str, version: u32) -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    close_objects(&mut schema);
    unwrap_descriptions(&mut schema);
    // serde_json's map keeps keys sorted: the files are stable whatever
    // order schemars makes them in.
    let root = schema
        .as_object_mut()
        .expect("a struct's schema is an object");
    root.insert("$id".into(), Value::String(format!("{ID_BASE}{file}")));
    root.insert("title".into(), Value::String(title.into()));
    if let Some(Value::Object(v)) = schema.pointer_mut("/properties/schema_version") {
        // The version a reader can rely on: one schema per version.
        v.insert("const".into(), Value::from(version));
    }
    schema
}

/// The checked-in text of `T`'s schema (pretty JSON, one newline at the end).
pub fn render<T: JsonSchema>(file: &str, title: &str, version: u32) -> String {
    let schema = generate::<T>(file, title, version);
    serde_json::to_string_pretty(&schema).expect("a schema serialises") + "\n"
}

/// Joins the lines of each description (doc comments are wrapped at 80
/// columns; a JSON string reads better whole), paragraphs kept apart.
fn unwrap_descriptions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::String(text) if k == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|para| {
                                para.split('\n')
                                    .map(str::trim)
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Adds `additionalProperties: false` to every object schema that lists its
/// properties and says nothing of others. An object combined with
/// `oneOf`/`anyOf`/`allOf` (a flattened enum) is left open: its other
/// properties are in the branches, which a closed object would refuse.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let combined = ["oneOf", "anyOf", "allOf"]
                .iter()
                .any(|k| m.contains_key(*k));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !combined
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, child) in m.iter_mut() {
                close_objects(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
    }

    /// The checked-in schemas are what the types generate; with
    /// `UPDATE_SCHEMAS=1` the files are written instead.
    #[test]
    fn checked_in_schemas_are_current() {
        let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
        let mut stale = Vec::new();
        for f in &FILES {
            let path = schema_dir().join(f.file);
            let want = (f.generate)();
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have == want {
                continue;
            }
            if update {
                std::fs::write(&path, &want)
                    .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
                eprintln!("schema: wrote {}", path.display());
            } else {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "the checked-in schema differs from the types: {}; regenerate with \
             `UPDATE_SCHEMAS=1 cargo test -p oomlab --lib schema` and commit the files",
            stale.join(", ")
        );
    }

    #[test]
    fn every_schema_compiles_and_is_closed_and_versioned() {
        for f in &FILES {
            let schema: Value = serde_json::from_str(&(f.generate)()).unwrap();
            assert!(
                jsonschema::validator_for(&schema).is_ok(),
                "{} compiles",
                f.file
            );
            assert_eq!(
                schema["$id"],
                Value::String(format!("{ID_BASE}{}", f.file)),
                "{}",
                f.file
            );
            assert!(schema["properties"]["schema_version"]["const"].is_u64());
            assert_eq!(schema["additionalProperties"], Value::Bool(false));
        }
    }

    /// A closed object: a field the type does not have is refused, and so
    /// is a missing one that is always written; one skipped when empty may
    /// be absent.
    #[test]
    fn an_unknown_or_missing_field_is_refused() {
        #[derive(serde::Serialize, JsonSchema)]
        struct Inner {
            bytes: u64,
        }
        #[derive(serde::Serialize, JsonSchema)]
        struct Doc {
            schema_version: u32,
            inner: Inner,
            #[serde(skip_serializing_if = "Option::is_none")]
            note: Option<String>,
        }
        let schema = generate::<Doc>("doc.schema.json", "doc", 7);
        let v = jsonschema::validator_for(&schema).unwrap();
        let ok = serde_json::json!({"schema_version": 7, "inner": {"bytes": 1}});
        assert!(v.is_valid(&ok), "{schema:#}");
        for bad in [
            serde_json::json!({"schema_version": 6, "inner": {"bytes": 1}}),
            serde_json::json!({"schema_version": 7, "inner": {"bytes": 1, "mb": 1}}),
            serde_json::json!({"schema_version": 7, "inner": {"bytes": 1}, "extra": 1}),
            serde_json::json!({"schema_version": 7}),
        ] {
            assert!(!v.is_valid(&bad), "{bad} is refused");
        }
    }
}
