//! Valid agent-action inputs: built in Rust, serialised, checked by the schema, read back.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use regent_protocol::schema::AGENT_ACTION_V1;
use regent_protocol::{
    ActionKindV1, ActionV1, AgentActionV1, AgentV1, ApprovalV1, ContextV1, ResourceV1, Timestamp,
    ToolV1, UserV1,
};
use serde_json::{Value, json};

use crate::support::{examples, schema_errors, validator};

fn time(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn hr_bot() -> AgentV1 {
    AgentV1::new("hr-bot-7f9c", "hr-bot").with_label("env", "prod")
}

fn employee() -> UserV1 {
    UserV1::new("u-1001")
        .with_roles(["employee", "hr_admin"])
        .with_attribute("org", "emea")
        .with_attribute("clearance", json!({"level": 2, "scopes": ["hr"]}))
}

/// A variety of valid inputs covering every optional part.
fn valid_actions() -> Vec<AgentActionV1> {
    let full_tool_call = AgentActionV1::tool_call(
        hr_bot(),
        employee(),
        ToolV1::new("hr.get_employee_record")
            .with_server("hris-mcp")
            .with_arg("employee_id", "e-42")
            .with_arg("include", json!(["salary"])),
        ContextV1::new(time("2026-11-24T10:15:00Z"))
            .with_session_id("s-1")
            .with_environment("prod")
            .with_approval(
                ApprovalV1::new(
                    "ap-7",
                    "u-2002",
                    "hr.get_employee_record",
                    time("2026-11-24T10:00:00Z"),
                )
                .with_expires_at(time("2026-11-24T11:00:00Z")),
            )
            .with_approval(ApprovalV1::new(
                "ap-8",
                "u-2003",
                "hr.export",
                time("2026-11-24T09:00:00Z"),
            ))
            .with_usage(3, 41)
            .with_extra("ticket", json!({"id": "INC-1", "priority": 2})),
    );
    let mut resource = ResourceV1::new("employee_record", "e-42").with_fields(["name", "salary"]);
    resource.owner = Some("u-0042".into());
    resource.org = Some("emea".into());
    resource.classification = Some("confidential".into());
    resource.extra.insert("region".into(), json!("eu-west"));
    let data_access = AgentActionV1::data_access(
        AgentV1::new("it-bot-01", "it-bot"),
        UserV1::new("u-1002"),
        resource.clone(),
        ContextV1::new(Timestamp::parse("2026-11-24T11:15:00.250+01:00").unwrap()),
    );
    let bare_state_change = AgentActionV1::state_change(
        AgentV1::new("dev-bot-3", "dev-bot"),
        UserV1::new("ü-ß-λ"),
        ContextV1::new(Utc.timestamp_opt(0, 123_456_789).unwrap()),
    );
    let mut state_change_with_both = bare_state_change.clone();
    state_change_with_both.action = ActionV1::state_change()
        .with_tool(ToolV1::new("git.push"))
        .with_resource(ResourceV1::default());
    let mut tool_call_with_resource = full_tool_call.clone();
    tool_call_with_resource.action.resource = Some(resource.clone());
    let mut data_access_with_tool = data_access.clone();
    data_access_with_tool.action.tool = Some(ToolV1::new("sql.query"));
    vec![
        full_tool_call,
        data_access,
        bare_state_change,
        state_change_with_both,
        tool_call_with_resource,
        data_access_with_tool,
    ]
}

#[test]
fn valid_actions_pass_validate_and_the_schema_and_round_trip() {
    let schema = validator(AGENT_ACTION_V1);
    for action in valid_actions() {
        action.validate().unwrap();
        let json = serde_json::to_value(&action).unwrap();
        assert!(
            schema.is_valid(&json),
            "{json:#}\n{:?}",
            schema_errors(&schema, &json)
        );
        assert_eq!(AgentActionV1::from_value(json.clone()).unwrap(), action);
        let bytes = serde_json::to_vec(&action).unwrap();
        assert_eq!(AgentActionV1::from_json(&bytes).unwrap(), action);
    }
}

#[test]
fn serialises_the_documented_shape() {
    let action = &valid_actions()[0];
    let json = serde_json::to_value(action).unwrap();
    assert_eq!(
        json["agent"],
        json!({"id": "hr-bot-7f9c", "persona": "hr-bot", "labels": {"env": "prod"}})
    );
    assert_eq!(json["action"]["kind"], "tool_call");
    assert_eq!(json["action"]["tool"]["server"], "hris-mcp");
    assert_eq!(json["context"]["time"], "2026-11-24T10:15:00Z");
    assert_eq!(
        json["context"]["usage"],
        json!({"tool_calls_last_minute": 3, "tool_calls_last_hour": 41})
    );
    // Extra context keys sit beside the named ones, as the policy expects.
    assert_eq!(json["context"]["ticket"]["id"], "INC-1");
    assert!(json["context"]["approvals"][1].get("expires_at").is_none());
}

#[test]
fn empty_collections_are_serialised_and_absent_options_omitted() {
    let action = &valid_actions()[2];
    let json = serde_json::to_value(action).unwrap();
    assert_eq!(json["agent"]["labels"], json!({}));
    assert_eq!(json["user"]["roles"], json!([]));
    assert_eq!(json["user"]["attributes"], json!({}));
    assert_eq!(json["context"]["approvals"], json!([]));
    assert_eq!(json["action"], json!({"kind": "state_change"}));
    let context = json["context"].as_object().unwrap();
    assert_eq!(context.keys().collect::<Vec<_>>(), ["approvals", "time"]);
    assert_eq!(json["context"]["time"], "1970-01-01T00:00:00.123456789Z");
}

#[test]
fn omitted_collections_default_to_empty() {
    let action = AgentActionV1::from_value(json!({
        "agent": {"id": "a", "persona": "p"},
        "user": {"id": "u"},
        "action": {"kind": "tool_call", "tool": {"name": "t"}},
        "context": {"time": "2026-11-24T10:15:00Z"}
    }))
    .unwrap();
    assert!(action.agent.labels.is_empty());
    assert!(action.user.roles.is_empty());
    assert!(action.context.approvals.is_empty());
    assert_eq!(action.action.kind, ActionKindV1::ToolCall);
    assert!(
        action
            .action
            .tool
            .as_ref()
            .is_some_and(|t| t.args.is_empty() && t.server.is_none())
    );
}

#[test]
fn schema_examples_are_valid_inputs() {
    let schema = validator(AGENT_ACTION_V1);
    for example in examples(AGENT_ACTION_V1) {
        assert!(
            schema.is_valid(&example),
            "{:?}",
            schema_errors(&schema, &example)
        );
        let action = AgentActionV1::from_value(example.clone()).unwrap();
        let reserialised = serde_json::to_value(&action).unwrap();
        assert!(schema.is_valid(&reserialised));
        // Nothing is lost: every key of the example comes back with its value.
        assert_contains(&reserialised, &example, "");
    }
}

/// Every key/value of `expected` is in `actual` (which may add defaulted empty collections).
fn assert_contains(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (key, value) in e {
                let child = format!("{path}/{key}");
                assert_contains(a.get(key).unwrap_or(&Value::Null), value, &child);
            }
        }
        _ => assert_eq!(actual, expected, "at {path}"),
    }
}

/// The schema and `Timestamp`/`validate()` agree on what a time is.
fn both_verdicts(text: &str) -> (bool, bool) {
    thread_local! {
        static SCHEMA: jsonschema::Validator = validator(AGENT_ACTION_V1);
    }
    let mut document = serde_json::to_value(&valid_actions()[2]).unwrap();
    document["context"]["time"] = json!(text);
    let schema_ok = SCHEMA.with(|s| s.is_valid(&document));
    let rust_ok = AgentActionV1::from_value(document).is_ok();
    assert_eq!(rust_ok, Timestamp::parse(text).is_ok());
    (schema_ok, rust_ok)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn schema_and_validate_agree_on_near_valid_times(
        text in "[0-9]{4}-[0-3][0-9]-[0-3][0-9][Tt ][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?(Z|z|[+-][0-2][0-9]:[0-6][0-9]|[+-][0-9]{4})?"
    ) {
        let (schema_ok, rust_ok) = both_verdicts(&text);
        prop_assert_eq!(schema_ok, rust_ok, "{}", text);
    }

    #[test]
    fn times_made_from_chrono_are_accepted_by_both(
        // A day's margin keeps the local date within years 0-9999 whatever the offset.
        seconds in 0_i64..253_402_214_399, nanos in 0_u32..1_000_000_000, offset_minutes in -1439_i32..=1439
    ) {
        let utc = Utc.timestamp_opt(seconds, nanos).unwrap();
        let offset = chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap();
        for timestamp in [Timestamp::from(utc), Timestamp::from(utc.with_timezone(&offset))] {
            let (schema_ok, rust_ok) = both_verdicts(timestamp.as_str());
            prop_assert!(schema_ok && rust_ok, "{}", timestamp);
            prop_assert_eq!(timestamp.to_datetime().unwrap(), utc);
        }
    }
}
