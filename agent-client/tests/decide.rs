//! `decide()`: the persona cases files pass; everything that is not a valid decision denies with a
//! `regent.*` reason (no policy, undefined, error, time limit, malformed decision, invalid input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{PERSONAS, action, build_signed, bundles_dir, config, key, persona_bundle};
use regent_agent::Agent;
use regent_bundle::cases;
use regent_protocol::{AgentActionV1, reason_code};

/// Every case of every shipped persona, through `Agent::decide_json` (the path the sidecar uses) and, when the
/// input is a valid agent-action, `Agent::decide`.
#[test]
fn persona_cases_pass_through_decide() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let mut config = config(state.path(), &[&key], &PERSONAS);
    // The shipped personas take milliseconds per decision today (see BENCHMARKS.md); on a loaded CI machine a
    // tight limit would turn slowness into timeouts.
    config.evaluation.time_limit_seconds = 5.0;
    let agent = Agent::new(config).unwrap();
    for (i, persona) in PERSONAS.iter().enumerate() {
        agent
            .activate(persona, &persona_bundle(persona, i as u64 + 1, &key))
            .unwrap();
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for persona in PERSONAS {
        let file = cases::load(&bundles_dir().join(persona).join(cases::CASES_FILE)).unwrap();
        for case in &file.cases {
            total += 1;
            let decision = agent.decide_json(persona, case.input.clone(), None);
            let got = serde_json::to_value(decision.to_v1()).unwrap();
            let mismatches = cases::compare(&got, &case.expect);
            if !mismatches.is_empty() {
                failures.push(format!("{persona} / {}: {mismatches:?}", case.name));
            }
            if let Ok(typed) = AgentActionV1::from_value(case.input.clone()) {
                let again = agent.decide_for(persona, &typed);
                assert_eq!(again.to_v1(), decision.to_v1(), "{persona} / {}", case.name);
                assert_ne!(again.decision_id, decision.decision_id);
            }
            assert_eq!(
                decision.revision.as_deref(),
                Some(
                    format!(
                        "{persona}-{}",
                        PERSONAS.iter().position(|p| *p == persona).unwrap() + 1
                    )
                    .as_str()
                )
            );
        }
    }
    assert!(total > 100, "only {total} cases found");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn policy_agent(policy: &str) -> (Agent, tempfile::TempDir) {
    let key = key("k1");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("regent.yaml"),
        "persona: p\nentrypoint: regent/persona/decision\nroots: [regent]\nmount: regent/persona\n",
    )
    .unwrap();
    std::fs::write(src.path().join("policy.rego"), policy).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut config = config(state.path(), &[&key], &["p"]);
    config.evaluation.time_limit_seconds = 0.05;
    let agent = Agent::new(config).unwrap();
    agent
        .activate(
            "p",
            &build_signed(src.path(), Some(1), "p-1", Some(&key), "p"),
        )
        .unwrap();
    (agent, state)
}

fn first_code(agent: &Agent, tool: &str) -> String {
    let decision = agent.decide(&action("p", tool));
    assert!(!decision.allow);
    decision.reasons[0].code.clone()
}

#[test]
fn no_policy_and_unknown_persona_deny() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = Agent::new(config(state.path(), &[&key], &["p"])).unwrap();
    let decision = agent.decide(&action("p", "echo"));
    assert!(!decision.allow);
    assert_eq!(decision.reasons[0].code, reason_code::NO_POLICY);
    assert_eq!(decision.revision, None);
    assert!(decision.is_fail_closed());
    let decision = agent.decide(&action("other", "echo"));
    assert_eq!(decision.reasons[0].code, reason_code::NO_POLICY);
    assert!(
        decision.reasons[0]
            .message
            .contains("`other` is not configured")
    );
}

#[test]
fn undefined_errors_timeouts_and_malformed_decisions_deny() {
    let base = "package regent.persona\n\ndefault decision := {\"allow\": false, \"reasons\": [], \"obligations\": []}\n\n";
    let (agent, _s) = policy_agent(&format!(
        "{base}decision := {{\"allow\": true}} if {{ input.action.tool.name == \"echo\" }}\n\nother := 1\n"
    ));
    assert!(agent.decide(&action("p", "echo")).allow);

    let (agent, _s) = policy_agent(&format!(
        "{base}decision := x if {{ input.action.tool.name == \"boom\"; x := 1 / 0 }}\n\ndecision := {{\"allow\": \"yes\"}} if {{ input.action.tool.name == \"bad\" }}\n\n\
         decision := {{\"allow\": true, \"obligations\": [{{\"kind\": \"redact\"}}]}} if {{ input.action.tool.name == \"badob\" }}\n\n\
         decision := {{\"allow\": true}} if {{ input.action.tool.name == \"slow\"; count([x | some x in numbers.range(1, 5000000)]) > 0 }}\n"
    ));
    assert_eq!(first_code(&agent, "boom"), reason_code::EVALUATION_ERROR);
    assert_eq!(first_code(&agent, "bad"), reason_code::INVALID_DECISION);
    assert_eq!(first_code(&agent, "badob"), reason_code::INVALID_DECISION);
    assert_eq!(first_code(&agent, "slow"), reason_code::EVALUATION_TIMEOUT);
    // The default (a valid deny without reasons) passes through as the policy's own decision.
    let plain = agent.decide(&action("p", "other"));
    assert!(!plain.allow && plain.reasons.is_empty() && !plain.is_fail_closed());

    let mut invalid = action("p", "echo");
    invalid.user.id = String::new();
    assert_eq!(
        agent.decide(&invalid).reasons[0].code,
        reason_code::INVALID_INPUT
    );
    // JSON goes to the policy as sent; this one's default denies it.
    let decision = agent.decide_json("p", serde_json::json!({"agent": 1}), None);
    assert!(!decision.allow && !decision.is_fail_closed());
}
