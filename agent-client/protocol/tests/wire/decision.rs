//! Decisions: constructors, round trips, and the same verdict from `decision.v1.json` and `from_value`.

use regent_protocol::schema::DECISION_V1;
use regent_protocol::{DecisionError, DecisionV1, ObligationV1, ReasonV1, reason_code};
use serde_json::{Value, json};

use crate::support::{examples, schema_errors, validator};

fn valid_decisions() -> Vec<DecisionV1> {
    vec![
        DecisionV1::allow(),
        DecisionV1::deny(reason_code::UNDEFINED, "policy hr-bot returned no decision"),
        DecisionV1::allow()
            .with_reason(ReasonV1::new(
                "own_record",
                "users may read their own record",
            ))
            .with_obligation(ObligationV1::redact(["salary", "bank_account"]))
            .with_obligation(ObligationV1::redact(Vec::<String>::new())),
        DecisionV1::deny(
            "salary_requires_hr_admin",
            "reading salary needs the hr_admin role",
        )
        .with_obligation(
            ObligationV1::require_approval("hr.get_employee_record")
                .with_param("approver_role", "hr_admin"),
        )
        .with_obligation(
            ObligationV1::require_approval("deploy.release")
                .with_param("approvers", json!(["u-1", "u-2"])),
        )
        .with_obligation(ObligationV1::new(ObligationV1::REQUIRE_APPROVAL))
        .with_obligation(
            ObligationV1::new("notify")
                .with_param("channel", "#hr-audit")
                .with_param("level", 2),
        ),
    ]
}

#[test]
fn valid_decisions_pass_both_and_round_trip() {
    let schema = validator(DECISION_V1);
    for decision in valid_decisions() {
        decision.validate().unwrap();
        let json = serde_json::to_value(&decision).unwrap();
        assert!(
            schema.is_valid(&json),
            "{json}: {:?}",
            schema_errors(&schema, &json)
        );
        assert_eq!(DecisionV1::from_value(json).unwrap(), decision);
        let bytes = serde_json::to_vec(&decision).unwrap();
        assert_eq!(DecisionV1::from_json(&bytes).unwrap(), decision);
    }
}

#[test]
fn fail_closed_deny_has_one_reason() {
    let decision = DecisionV1::deny(reason_code::EVALUATION_TIMEOUT, "evaluation exceeded 5 ms");
    assert_eq!(
        serde_json::to_value(&decision).unwrap(),
        json!({
            "allow": false,
            "reasons": [{"code": "regent.evaluation_timeout", "message": "evaluation exceeded 5 ms"}],
            "obligations": []
        })
    );
}

#[test]
fn obligations_serialise_flat() {
    let json = serde_json::to_value(&valid_decisions()[3]).unwrap();
    assert_eq!(
        json["obligations"][0],
        json!({"kind": "require_approval", "action": "hr.get_employee_record", "approver_role": "hr_admin"})
    );
    assert_eq!(
        json["obligations"][3],
        json!({"kind": "notify", "channel": "#hr-audit", "level": 2})
    );
    let read = DecisionV1::from_value(
        json!({"allow": true, "obligations": [{"kind": "redact", "fields": ["salary"]}]}),
    )
    .unwrap();
    assert_eq!(read.obligations[0].kind, ObligationV1::REDACT);
    assert_eq!(read.obligations[0].params["fields"], json!(["salary"]));
    assert!(read.reasons.is_empty());
}

#[test]
fn schema_examples_are_valid_decisions() {
    let schema = validator(DECISION_V1);
    for example in examples(DECISION_V1) {
        assert!(
            schema.is_valid(&example),
            "{:?}",
            schema_errors(&schema, &example)
        );
        let decision = DecisionV1::from_value(example.clone()).unwrap();
        assert_eq!(Some(&json!(decision.allow)), example.get("allow"));
    }
}

fn check_rejected(name: &str, document: Value, expect: fn(&DecisionError) -> bool) {
    let schema = validator(DECISION_V1);
    assert!(
        !schema.is_valid(&document),
        "{name}: the schema accepted {document}"
    );
    let shown = document.to_string();
    match DecisionV1::from_value(document) {
        Ok(_) => panic!("{name}: from_value accepted {shown}"),
        Err(e) => assert!(expect(&e), "{name}: unexpected error `{e}`"),
    }
}

#[test]
fn invalid_decisions_are_rejected_by_both() {
    let malformed: fn(&DecisionError) -> bool = |e| matches!(e, DecisionError::Malformed(_));
    let bad_param: fn(&DecisionError) -> bool = |e| matches!(e, DecisionError::BadParam { .. });
    check_rejected("allow missing", json!({"reasons": []}), malformed);
    check_rejected("allow a string", json!({"allow": "yes"}), malformed);
    check_rejected("undefined-as-null", Value::Null, malformed);
    check_rejected("bare boolean", json!(true), malformed);
    check_rejected(
        "unknown key",
        json!({"allow": true, "obligation": []}),
        malformed,
    );
    check_rejected(
        "reason without message",
        json!({"allow": false, "reasons": [{"code": "x"}]}),
        malformed,
    );
    check_rejected(
        "reason as a string",
        json!({"allow": false, "reasons": ["no"]}),
        malformed,
    );
    check_rejected(
        "reason with extra key",
        json!({"allow": false, "reasons": [{"code": "x", "message": "m", "rule": "r"}]}),
        malformed,
    );
    check_rejected(
        "obligation without kind",
        json!({"allow": true, "obligations": [{"fields": []}]}),
        malformed,
    );
    check_rejected(
        "empty obligation kind",
        json!({"allow": true, "obligations": [{"kind": ""}]}),
        |e| matches!(e, DecisionError::EmptyObligationKind { index: 0 }),
    );
    check_rejected(
        "redact without fields",
        json!({"allow": true, "obligations": [{"kind": "redact"}]}),
        bad_param,
    );
    check_rejected(
        "redact fields not strings",
        json!({"allow": true, "obligations": [{"kind": "redact", "fields": ["a", 1]}]}),
        bad_param,
    );
    check_rejected(
        "require_approval with approvers not strings",
        json!({"allow": true, "obligations": [{"kind": "redact", "fields": []}, {"kind": "require_approval", "approvers": "u-1"}]}),
        |e| {
            matches!(
                e,
                DecisionError::BadParam {
                    index: 1,
                    param: "approvers",
                    ..
                }
            )
        },
    );
    check_rejected(
        "require_approval with a numeric action",
        json!({"allow": false, "obligations": [{"kind": "require_approval", "action": 7}]}),
        |e| {
            matches!(
                e,
                DecisionError::BadParam {
                    index: 0,
                    param: "action",
                    ..
                }
            )
        },
    );
    check_rejected(
        "require_approval with a role list",
        json!({"allow": false, "obligations": [{"kind": "require_approval", "approver_role": ["hr_admin"]}]}),
        |e| {
            matches!(
                e,
                DecisionError::BadParam {
                    index: 0,
                    param: "approver_role",
                    ..
                }
            )
        },
    );
}

#[test]
fn error_messages_name_the_field() {
    let error = DecisionV1::from_value(
        json!({"allow": true, "obligations": [{"kind": "redact", "fields": "salary"}]}),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "obligations[0].fields must be an array of strings when kind is `redact`"
    );
    let mut decision = DecisionV1::allow().with_obligation(ObligationV1::new("notify"));
    decision.obligations[0]
        .params
        .insert("kind".into(), json!("redact"));
    assert!(matches!(
        decision.validate(),
        Err(DecisionError::KindInParams { index: 0 })
    ));
}
