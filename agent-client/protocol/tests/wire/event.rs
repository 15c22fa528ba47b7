//! Decision events: stock OPA events parse and gain Regent's fields; Regent's events round-trip and match the schema.

use chrono::{DateTime, Utc};
use regent_protocol::schema::DECISION_EVENT_V1;
use regent_protocol::{DecisionEventV1, ReasonV1};
use serde_json::json;

use crate::support::{examples, fixture, schema_errors, validator};

fn stock_events() -> Vec<DecisionEventV1> {
    serde_json::from_value(fixture("opa-decision-events.json")).unwrap()
}

#[test]
fn stock_opa_events_parse_and_match_the_schema() {
    let schema = validator(DECISION_EVENT_V1);
    let raw = fixture("opa-decision-events.json");
    for event in raw.as_array().unwrap() {
        assert!(
            schema.is_valid(event),
            "{:?}",
            schema_errors(&schema, event)
        );
    }
    let events = stock_events();
    assert_eq!(events.len(), 5);

    let first = &events[0];
    assert_eq!(first.decision_id, "4ca636c1-55e4-417a-b1d8-4aceb67960d1");
    assert_eq!(
        first.bundles["hr-bot"].revision.as_deref(),
        Some("hr-bot-42")
    );
    assert_eq!(first.req_id, Some(7));
    assert_eq!(
        first.timestamp.to_rfc3339(),
        "2026-11-24T10:15:00.123456789+00:00"
    );
    assert!(
        first.persona.is_none() && first.allow.is_none(),
        "stock OPA sends no Regent fields"
    );

    let offset = &events[1];
    assert_eq!(
        offset.timestamp,
        "2026-11-24T10:16:00.5Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert!(offset.result.is_none());

    let failed = &events[2];
    assert!(failed.labels.is_empty(), "labels: null reads as empty");
    assert_eq!(
        failed.error.as_ref().unwrap()["code"],
        "eval_conflict_error"
    );
    assert_eq!(failed.erased, ["/input/user/attributes"]);
    assert_eq!(failed.revision.as_deref(), Some("legacy-rev-1"));
    let headers = &failed
        .request_context
        .as_ref()
        .unwrap()
        .http
        .as_ref()
        .unwrap()
        .headers;
    assert_eq!(headers["X-Request-Id"], ["r-1"]);
    assert_eq!(failed.timestamp.timestamp_subsec_nanos(), 1);
}

#[test]
fn regent_fields_are_derived_from_input_and_result() {
    let events: Vec<_> = stock_events()
        .into_iter()
        .map(DecisionEventV1::with_derived_fields)
        .collect();

    let denied = &events[0];
    assert_eq!(denied.persona.as_deref(), Some("hr-bot"));
    assert_eq!(denied.agent_id.as_deref(), Some("hr-bot-7f9c"));
    assert_eq!(denied.user_id.as_deref(), Some("u-1001"));
    assert_eq!(denied.tool.as_deref(), Some("hr.get_employee_record"));
    assert_eq!(denied.allow, Some(false));
    // Well-formed reasons are kept; a plain-string reason is not a ReasonV1.
    assert_eq!(
        denied.reasons,
        [ReasonV1::new(
            "salary_requires_hr_admin",
            "reading salary needs the hr_admin role"
        )]
    );

    let undefined = &events[1];
    assert_eq!(
        (undefined.user_id.as_deref(), undefined.tool.as_deref()),
        (Some("u-1002"), None)
    );
    assert_eq!(
        undefined.allow, None,
        "an undefined result is not recorded as a verdict"
    );

    let failed = &events[2];
    assert_eq!(
        (failed.tool.as_deref(), failed.allow),
        (Some("hr.update_salary"), None)
    );

    let boolean = &events[3];
    assert_eq!((boolean.allow, boolean.tool.as_deref()), (Some(true), None));

    let foreign = &events[4];
    assert_eq!(
        (
            &foreign.persona,
            &foreign.agent_id,
            &foreign.user_id,
            &foreign.tool,
            foreign.allow
        ),
        (&None, &None, &None, &None, None),
        "a non-Regent input yields no Regent fields"
    );
}

#[test]
fn derived_fields_never_override_what_the_agent_set() {
    let mut event = stock_events().remove(0);
    event.persona = Some("set-by-agent".into());
    event.allow = Some(true);
    event.reasons = vec![ReasonV1::new("regent.override", "kept")];
    event.derive_missing_fields();
    assert_eq!(event.persona.as_deref(), Some("set-by-agent"));
    assert_eq!(event.allow, Some(true));
    assert_eq!(event.reasons[0].code, "regent.override");
    assert_eq!(
        event.agent_id.as_deref(),
        Some("hr-bot-7f9c"),
        "missing ones are still filled"
    );
}

fn regent_event() -> DecisionEventV1 {
    let mut event = DecisionEventV1::new(
        "6b1f7c5e-2f64-4a55-9d1a-3c8e0f2b9a11",
        "2026-11-24T10:15:00.000183412Z".parse().unwrap(),
    );
    event.labels.insert("id".into(), "hr-bot-7f9c".into());
    event.revision = Some("hr-bot-42".into());
    event.path = Some("regent/hr_bot/decision".into());
    event.input = Some(json!({"agent": {"id": "hr-bot-7f9c", "persona": "hr-bot"}}));
    event.result = Some(json!({"allow": false, "reasons": [], "obligations": []}));
    event.persona = Some("hr-bot".into());
    event.agent_id = Some("hr-bot-7f9c".into());
    event.user_id = Some("u-1001".into());
    event.tool = Some("hr.get_employee_record".into());
    event.allow = Some(false);
    event.reasons = vec![ReasonV1::new("regent.undefined", "no decision")];
    event.revision_sequence = Some(42);
    event
}

#[test]
fn regent_events_round_trip_and_match_the_schema() {
    let schema = validator(DECISION_EVENT_V1);
    let event = regent_event();
    let json = serde_json::to_value(&event).unwrap();
    assert!(
        schema.is_valid(&json),
        "{:?}",
        schema_errors(&schema, &json)
    );
    assert_eq!(
        json["timestamp"], "2026-11-24T10:15:00.000183412Z",
        "nanoseconds are kept"
    );
    assert_eq!(json["revision_sequence"], 42);
    assert!(
        json.get("trace_id").is_none() && json.get("erased").is_none(),
        "absent fields are omitted"
    );
    let again: DecisionEventV1 = serde_json::from_value(json).unwrap();
    assert_eq!(again, event);

    for event in stock_events() {
        let json = serde_json::to_value(&event).unwrap();
        assert!(
            schema.is_valid(&json),
            "{:?}",
            schema_errors(&schema, &json)
        );
        assert_eq!(
            serde_json::from_value::<DecisionEventV1>(json).unwrap(),
            event
        );
    }
}

#[test]
fn schema_examples_are_valid_events() {
    let schema = validator(DECISION_EVENT_V1);
    for example in examples(DECISION_EVENT_V1) {
        assert!(schema.is_valid(&example));
        let event: DecisionEventV1 = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(
            Some(&json!(event.revision_sequence)),
            example.get("revision_sequence")
        );
    }
}

#[test]
fn events_without_id_or_time_are_rejected_by_both() {
    let schema = validator(DECISION_EVENT_V1);
    for missing in ["decision_id", "timestamp"] {
        let mut event = serde_json::to_value(regent_event()).unwrap();
        event.as_object_mut().unwrap().remove(missing);
        assert!(
            !schema.is_valid(&event),
            "schema accepted an event without {missing}"
        );
        assert!(
            serde_json::from_value::<DecisionEventV1>(event).is_err(),
            "serde accepted one without {missing}"
        );
    }
    let bad_time = json!({"decision_id": "x", "timestamp": "yesterday"});
    assert!(!schema.is_valid(&bad_time));
    assert!(serde_json::from_value::<DecisionEventV1>(bad_time).is_err());
}
