//! Bundles in OPA's own layout (what `opa build` and the OPA Control Plane write): entries with a
//! leading `/`, `rego_version: 0`, v0 syntax, per-file versions, `data.yaml`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use common::{Entry, file, targz};
use regent_bundle::{Limits, ReadError, RegoVersion, read_bundle, validate};
use regorus::Value;

const V0_POLICY: &[u8] = br#"package authz

default allow = false

allow {
    input.user == data.authz.admins[_]
}

allow {
    input.amount <= data.authz.limits.max_amount
    count(deny_reason) == 0
}

deny_reason[msg] {
    input.amount > 50
    msg := sprintf("amount %v is over 50", [input.amount])
}
"#;

const V1_MODULE: &[u8] = br#"package modern

double(x) := 2 * x

flags contains name if {
    some name, on in input.flags
    on
}
"#;

fn opa_built(rego_version: u8) -> Vec<u8> {
    let manifest = format!(
        r#"{{"revision":"","roots":[""],"rego_version":{rego_version},"file_rego_versions":{{"/modern/*.rego":1}}}}"#
    );
    targz(&[
        Entry {
            name: b"/authz/".to_vec(),
            kind: tar::EntryType::Directory,
            data: Vec::new(),
            link: None,
        },
        file("/.manifest", manifest.as_bytes()),
        file("/data.json", b"{}"),
        file(
            "/authz/data.yaml",
            b"admins:\n  - alice\nlimits:\n  max_amount: 100\n",
        ),
        file("/authz/policy.rego", V0_POLICY),
        file("/modern/helpers.rego", V1_MODULE),
    ])
}

fn eval(engine: &regorus::Engine, rule: &str, input: &str) -> Value {
    let mut engine = engine.clone();
    engine.set_input(Value::from_json_str(input).unwrap());
    engine.eval_rule(rule.to_owned()).unwrap()
}

#[test]
fn opa_layout_reads_with_normalised_paths_versions_and_yaml_data() {
    let bundle = read_bundle(&opa_built(0), &Limits::DEFAULT).unwrap();
    let paths: Vec<_> = bundle.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            ".manifest",
            "authz/data.yaml",
            "authz/policy.rego",
            "data.json",
            "modern/helpers.rego"
        ]
    );
    assert_eq!(bundle.manifest.rego_version, Some(0));
    let versions: Vec<_> = bundle
        .modules
        .iter()
        .map(|m| (m.path.as_str(), m.rego_version))
        .collect();
    assert_eq!(
        versions,
        [
            ("authz/policy.rego", RegoVersion::V0),
            ("modern/helpers.rego", RegoVersion::V1)
        ]
    );
    assert_eq!(
        bundle.data,
        serde_json::json!({"authz": {"admins": ["alice"], "limits": {"max_amount": 100}}})
    );
}

#[test]
fn opa_layout_compiles_and_evaluates_correctly() {
    let bundle = read_bundle(&opa_built(0), &Limits::DEFAULT).unwrap();
    let compiled = validate::compile(&bundle).unwrap();
    let engine = &compiled.engine;
    assert_eq!(
        eval(
            engine,
            "data.authz.allow",
            r#"{"user": "alice", "amount": 1000}"#
        ),
        Value::Bool(true)
    );
    assert_eq!(
        eval(
            engine,
            "data.authz.allow",
            r#"{"user": "bob", "amount": 30}"#
        ),
        Value::Bool(true)
    );
    assert_eq!(
        eval(
            engine,
            "data.authz.allow",
            r#"{"user": "bob", "amount": 70}"#
        ),
        Value::Bool(false)
    );
    let reasons = eval(
        engine,
        "data.authz.deny_reason",
        r#"{"user": "bob", "amount": 70}"#,
    );
    assert_eq!(
        serde_json::to_value(&reasons).unwrap(),
        serde_json::json!(["amount 70 is over 50"])
    );
    let flags = eval(
        engine,
        "data.modern.flags",
        r#"{"flags": {"a": true, "b": false}}"#,
    );
    assert_eq!(
        serde_json::to_value(&flags).unwrap(),
        serde_json::json!(["a"])
    );
    // No entrypoint and no tests: validation compiles and passes.
    let report = validate(&bundle, None).unwrap();
    assert_eq!(report.modules, 2);
    assert!(report.tests.results.is_empty());
}

#[test]
fn the_same_v0_module_fails_when_the_manifest_says_v1() {
    let bundle = read_bundle(&opa_built(1), &Limits::DEFAULT).unwrap();
    let err = validate::compile(&bundle).unwrap_err();
    assert!(
        matches!(&err, regent_bundle::ValidateError::Compile { path, .. } if path == "authz/policy.rego"),
        "{err}"
    );
}

#[test]
fn data_yml_is_data_too_and_other_json_is_not() {
    let bundle = read_bundle(
        &targz(&[
            file("/a/data.yml", b"x: 1\n"),
            file("/a/config.json", b"{not even json"),
        ]),
        &Limits::DEFAULT,
    )
    .unwrap();
    assert_eq!(bundle.data, serde_json::json!({"a": {"x": 1}}));
}

#[test]
fn yaml_keys_follow_opa_rules() {
    let bundle = read_bundle(
        &targz(&[file("/a/data.yaml", b"1: one\ntrue: yes\n")]),
        &Limits::DEFAULT,
    )
    .unwrap();
    assert_eq!(bundle.data["a"]["1"], "one");
    let err = read_bundle(
        &targz(&[file("/a/data.yaml", b"? [1, 2]\n: x\n")]),
        &Limits::DEFAULT,
    )
    .unwrap_err();
    assert!(matches!(err, ReadError::MalformedYaml { .. }), "{err}");
}
