//! What every oomlab test binary needs of a finished run: the repository,
//! the one run folder a command wrote, its `run.json` read and checked
//! against the schema. Included by each binary's `main.rs` (`#[path]`), so
//! the binaries share one copy; each uses what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A path in the repository (the workspace root), as a string for
/// command lines.
pub fn repo(p: &str) -> String {
    format!("{}/../{p}", env!("CARGO_MANIFEST_DIR"))
}

/// The one run folder a command wrote under `out`.
pub fn only_run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("reading {}: {e}", out.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one run folder in {}: {dirs:?}",
        out.display()
    );
    dirs[0].clone()
}

/// `dir/run.json`, checked against `oomlab/schema/run.schema.json`.
pub fn read_run_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json"))
        .unwrap_or_else(|e| panic!("reading {}/run.json: {e}", dir.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_valid_run_json(&doc);
    doc
}

/// The one run folder under `out` and its checked `run.json`.
pub fn run_json(out: &Path) -> (PathBuf, serde_json::Value) {
    let dir = only_run_dir(out);
    let doc = read_run_json(&dir);
    (dir, doc)
}

/// Validates `doc` against `oomlab/schema/run.schema.json`.
pub fn assert_valid_run_json(doc: &serde_json::Value) {
    assert_valid(
        "run.json",
        include_str!("../../schema/run.schema.json"),
        doc,
    );
}

/// Validates `doc` against `oomlab/schema/compare.schema.json`.
pub fn assert_valid_compare_json(doc: &serde_json::Value) {
    assert_valid(
        "compare.json",
        include_str!("../../schema/compare.schema.json"),
        doc,
    );
}

/// Validates `doc` against `oomlab/schema/plan.schema.json`.
pub fn assert_valid_plan_json(doc: &serde_json::Value) {
    assert_valid(
        "plan.json",
        include_str!("../../schema/plan.schema.json"),
        doc,
    );
}

/// Validates `doc` against `oomlab/schema/calibration.schema.json`.
pub fn assert_valid_calibration_json(doc: &serde_json::Value) {
    assert_valid(
        "calibration.json",
        include_str!("../../schema/calibration.schema.json"),
        doc,
    );
}

/// `dir/name` read as JSON.
pub fn read_json(dir: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("reading {}/{name}: {e}", dir.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

/// Fails unless every line of a command's `output` is at most 100
/// characters (the answer commands' terminal width).
pub fn assert_fits_100_columns(output: &str) {
    for line in output.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}\n{output}",
            line.chars().count()
        );
    }
}

/// `text` with every run of whitespace one space: what a wrapped line
/// said, whatever the wrapping.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Validates `doc` (a `what`) against the JSON schema `schema`.
fn assert_valid(what: &str, schema: &str, doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema:\n{}",
        errors.join("\n")
    );
}
