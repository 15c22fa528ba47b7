//! Validation: compile errors point at file and line, failing tests are named, and the
//! entrypoint must exist, have a default and deny an empty input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use regent_bundle::validate::TestStatus;
use regent_bundle::{BuildOptions, ValidateError, build_dir, validate};

fn with_policy(policy: &str) -> tempfile::TempDir {
    let dir = common::tiny_persona();
    std::fs::write(dir.path().join("policy.rego"), policy).unwrap();
    dir
}

fn validate_dir(dir: &tempfile::TempDir) -> Result<regent_bundle::ValidationReport, ValidateError> {
    let bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    validate(&bundle, None)
}

#[test]
fn a_valid_persona_passes_with_every_test_reported() {
    let report = validate_dir(&common::tiny_persona()).unwrap();
    let names: Vec<_> = report
        .tests
        .results
        .iter()
        .map(|r| (r.file.as_str(), r.rule_path(), r.status.clone()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "regent/persona/policy_test.rego",
                "data.regent.persona_test.test_listed_tool_allowed".to_owned(),
                TestStatus::Pass
            ),
            (
                "regent/persona/policy_test.rego",
                "data.regent.persona_test.test_other_tool_denied".to_owned(),
                TestStatus::Pass
            ),
        ]
    );
    assert_eq!(
        report.entrypoint.as_deref(),
        Some("regent/persona/decision")
    );
}

#[test]
fn syntax_error_names_file_and_line() {
    let dir = with_policy(
        "package regent.persona\n\ndefault decision := false\n\ndecision if {\n  input.x ==\n}\n",
    );
    let err = validate_dir(&dir).unwrap_err();
    match &err {
        ValidateError::Compile { path, line, .. } => {
            assert_eq!(path, "regent/persona/policy.rego");
            assert_eq!(*line, 7, "{err}");
        }
        other => panic!("expected a compile error, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("`regent/persona/policy.rego` line 7:"),
        "{err}"
    );
}

#[test]
fn failing_test_is_named() {
    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("extra_test.rego"),
        "package regent.persona_test\n\ntest_wrong_expectation if {\n  data.regent.persona.decision.allow with input as {}\n}\n",
    )
    .unwrap();
    let err = validate_dir(&dir).unwrap_err();
    assert_eq!(
        err,
        ValidateError::TestsFailed {
            failed: 1,
            total: 3,
            names:
                "`data.regent.persona_test.test_wrong_expectation` (regent/persona/extra_test.rego)"
                    .into()
        }
    );
}

#[test]
fn erroring_test_is_reported_as_an_error() {
    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("extra_test.rego"),
        "package regent.persona_test\n\ntest_divides_by_zero if {\n  x := 1 / 0\n  x > 0\n}\n",
    )
    .unwrap();
    let bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    let report = validate::compile(&bundle).unwrap().run_tests();
    let failed: Vec<_> = report.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "test_divides_by_zero");
    assert!(
        matches!(
            failed[0].status,
            TestStatus::Error { .. } | TestStatus::Fail { .. }
        ),
        "{:?}",
        failed[0].status
    );
}

#[test]
fn entrypoint_without_default_is_refused() {
    let dir = with_policy("package regent.persona\n\ndecision := {\"allow\": true} if input.ok\n");
    let err = validate_dir(&dir).unwrap_err();
    assert!(
        matches!(err, ValidateError::EntrypointNoDefault { .. }),
        "{err}"
    );
}

#[test]
fn missing_entrypoint_rule_is_refused() {
    let dir = with_policy("package regent.persona\n\ndefault verdict := false\n");
    let err = validate_dir(&dir).unwrap_err();
    assert!(
        matches!(&err, ValidateError::EntrypointMissing { rule, .. } if rule == "decision"),
        "{err}"
    );
}

#[test]
fn entrypoint_that_allows_an_empty_input_is_refused() {
    let dir = with_policy(
        "package regent.persona\n\ndefault decision := {\"allow\": true, \"reasons\": [], \"obligations\": []}\n",
    );
    let err = validate_dir(&dir).unwrap_err();
    assert!(
        matches!(err, ValidateError::EntrypointNotFailClosed { .. }),
        "{err}"
    );
}

#[test]
fn persona_without_entrypoint_is_refused() {
    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("regent.yaml"),
        "persona: tiny-bot\nroots: [regent]\nmount: regent/persona\n",
    )
    .unwrap();
    assert_eq!(validate_dir(&dir).unwrap_err(), ValidateError::NoEntrypoint);
}

#[test]
fn package_outside_roots_is_refused() {
    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("rogue.rego"),
        "package system.authz\nallow := true\n",
    )
    .unwrap();
    let err = validate_dir(&dir).unwrap_err();
    assert!(
        matches!(&err, ValidateError::PackageOutsideRoots { package, .. } if package == "system.authz"),
        "{err}"
    );
}

#[test]
fn evaluator_fails_closed() {
    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("boom.rego"),
        "package regent.persona\n\nboom := x if { x := 1 / 0 }\n",
    )
    .unwrap();
    let bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    let evaluator =
        regent_bundle::Evaluator::new(&bundle, None, regent_bundle::eval::DEFAULT_EVAL_LIMIT)
            .unwrap();
    let allowed = evaluator.decide(&serde_json::json!({"action": {"tool": {"name": "echo"}}}));
    assert_eq!(allowed["allow"], true);
    let denied = evaluator.decide(&serde_json::json!({"action": {"tool": {"name": "rm"}}}));
    assert_eq!(denied["allow"], false);
    assert_eq!(denied["reasons"][0]["code"], "no_decision");
}
