//! `run.json` is valid against the checked-in schema.

/// Validates `doc` against loadtest/schema/run.schema.json.
pub fn assert_valid_run_json(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/run.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "run.json does not match the schema:\n{}",
        errors.join("\n")
    );
}
