//! Every shipped persona: its `_test.rego` tests pass through validation, and every case in its
//! `cases.yaml` produces exactly the expected decision through the evaluator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use regent_bundle::{
    BuildOptions, Evaluator, build_dir, cases, eval::DEFAULT_EVAL_LIMIT, validate,
};

#[test]
fn persona_tests_pass_and_entrypoints_fail_closed() {
    for persona in common::PERSONAS {
        let bundle = build_dir(
            &common::bundles_dir().join(persona),
            &BuildOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{persona}: {e}"));
        let report = validate(&bundle, None).unwrap_or_else(|e| panic!("{persona}: {e}"));
        assert_eq!(
            report.entrypoint.as_deref(),
            Some("regent/persona/decision"),
            "{persona}"
        );
        assert!(
            report.tests.results.len() >= 20,
            "{persona}: only {} tests",
            report.tests.results.len()
        );
        assert_eq!(report.tests.failed().count(), 0, "{persona}");
    }
}

#[test]
fn persona_cases_produce_the_expected_decisions() {
    for persona in common::PERSONAS {
        let dir = common::bundles_dir().join(persona);
        let bundle = build_dir(&dir, &BuildOptions::default()).unwrap();
        let file = cases::load(&dir.join(cases::CASES_FILE)).unwrap();
        assert_eq!(file.persona, persona);
        assert!(
            file.cases.len() >= 30,
            "{persona}: {} cases",
            file.cases.len()
        );
        let evaluator = Evaluator::new(&bundle, None, DEFAULT_EVAL_LIMIT).unwrap();
        let failures: Vec<String> = cases::run(&evaluator, &file)
            .into_iter()
            .filter(|r| !r.passed())
            .map(|r| format!("{}: {}", r.name, r.mismatches.join("; ")))
            .collect();
        assert!(failures.is_empty(), "{persona}:\n{}", failures.join("\n"));
        // Both outcomes are represented.
        assert!(file.cases.iter().any(|c| c.expect.allow), "{persona}");
        assert!(file.cases.iter().any(|c| !c.expect.allow), "{persona}");
    }
}

#[test]
fn a_mutated_expectation_is_caught() {
    // The comparison is strict: flipping one expectation makes that case fail.
    let dir = common::bundles_dir().join("hr-bot");
    let bundle = build_dir(&dir, &BuildOptions::default()).unwrap();
    let mut file = cases::load(&dir.join(cases::CASES_FILE)).unwrap();
    file.cases.truncate(1);
    file.cases[0].expect.allow = !file.cases[0].expect.allow;
    let evaluator = Evaluator::new(&bundle, None, DEFAULT_EVAL_LIMIT).unwrap();
    let results = cases::run(&evaluator, &file);
    assert!(!results[0].passed());
    file.cases[0].expect.allow = !file.cases[0].expect.allow;
    file.cases[0].expect.reasons.push("made_up_reason".into());
    assert!(!cases::run(&evaluator, &file)[0].passed());
}
