//! Shared helpers: schema validators and fixtures.

use std::path::Path;

use jsonschema::Validator;
use serde_json::Value;

/// A validator for an embedded schema, with `format` checked.
pub fn validator(schema: &str) -> Validator {
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles against the 2020-12 meta-schema")
}

/// The schema's own `examples`.
pub fn examples(schema: &str) -> Vec<Value> {
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    let examples = schema["examples"]
        .as_array()
        .expect("schema has examples")
        .clone();
    assert!(!examples.is_empty());
    examples
}

/// Schema errors, for assertion messages.
pub fn schema_errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// A fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}
