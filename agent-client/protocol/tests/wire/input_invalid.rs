//! Invalid and borderline agent-action documents: the schema and `from_value` (serde + `validate()`) give the same
//! verdict, and Rust's error names the problem.

use regent_protocol::schema::AGENT_ACTION_V1;
use regent_protocol::{AgentActionV1, InputError};
use serde_json::{Value, json};

use crate::support::{schema_errors, validator};

fn base() -> Value {
    json!({
        "agent": {"id": "hr-bot-7f9c", "persona": "hr-bot", "labels": {"env": "prod"}},
        "user": {"id": "u-1001", "roles": ["employee"], "attributes": {"org": "emea"}},
        "action": {
            "kind": "tool_call",
            "tool": {"name": "hr.get_employee_record", "server": "hris-mcp", "args": {"employee_id": "e-42"}},
            "resource": {"type": "employee_record", "id": "e-42", "fields": ["salary"]}
        },
        "context": {
            "time": "2026-11-24T10:15:00Z",
            "session_id": "s-1",
            "approvals": [{"id": "ap-1", "approver": "u-2", "action": "hr.get_employee_record",
                           "granted_at": "2026-11-24T10:00:00Z"}],
            "usage": {"tool_calls_last_minute": 1, "tool_calls_last_hour": 2}
        }
    })
}

fn remove(pointer: &str) -> impl Fn(&mut Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let (parent, key) = (parent.to_owned(), key.to_owned());
    move |doc| {
        doc.pointer_mut(&parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(&key)
            .unwrap();
    }
}

fn set(pointer: &str, value: Value) -> impl Fn(&mut Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let (parent, key) = (parent.to_owned(), key.to_owned());
    move |doc| {
        doc.pointer_mut(&parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.clone(), value.clone());
    }
}

type Expect = fn(&InputError) -> bool;
type Mutation = Box<dyn Fn(&mut Value)>;

fn malformed(e: &InputError) -> bool {
    matches!(e, InputError::Malformed(_))
}

fn bad_time(field: &'static str) -> impl Fn(&InputError) -> bool {
    move |e| matches!(e, InputError::InvalidTime { field: f, .. } if f == field)
}

fn check_rejected(name: &str, mutate: impl Fn(&mut Value), expect: impl Fn(&InputError) -> bool) {
    let schema = validator(AGENT_ACTION_V1);
    let mut doc = base();
    assert!(
        schema.is_valid(&doc) && AgentActionV1::from_value(doc.clone()).is_ok(),
        "base must be valid"
    );
    mutate(&mut doc);
    assert!(
        !schema.is_valid(&doc),
        "{name}: the schema accepted {doc:#}"
    );
    match AgentActionV1::from_value(doc.clone()) {
        Ok(_) => panic!(
            "{name}: from_value accepted {doc:#} (schema said {:?})",
            schema_errors(&schema, &doc)
        ),
        Err(e) => assert!(expect(&e), "{name}: unexpected error `{e}`"),
    }
    let bytes = serde_json::to_vec(&doc).unwrap();
    assert!(
        AgentActionV1::from_json(&bytes).is_err(),
        "{name}: from_json accepted it"
    );
}

#[test]
fn missing_agent_id() {
    check_rejected("missing agent.id", remove("/agent/id"), malformed);
}

#[test]
fn empty_ids_and_names() {
    let empty =
        |field| move |e: &InputError| matches!(e, InputError::Empty { field: f } if *f == field);
    check_rejected(
        "empty agent.id",
        set("/agent/id", json!("")),
        empty("agent.id"),
    );
    check_rejected(
        "empty agent.persona",
        set("/agent/persona", json!("")),
        empty("agent.persona"),
    );
    check_rejected(
        "empty user.id",
        set("/user/id", json!("")),
        empty("user.id"),
    );
    check_rejected(
        "empty tool name",
        set("/action/tool/name", json!("")),
        empty("action.tool.name"),
    );
}

#[test]
fn bad_kind() {
    check_rejected(
        "kind tool-call",
        set("/action/kind", json!("tool-call")),
        malformed,
    );
    check_rejected("kind missing", remove("/action/kind"), malformed);
    check_rejected("kind null", set("/action/kind", Value::Null), malformed);
}

#[test]
fn tool_call_without_tool() {
    let expect: Expect = |e| matches!(e, InputError::ToolRequired);
    check_rejected("tool_call without tool", remove("/action/tool"), expect);
    let message = AgentActionV1::from_value({
        let mut doc = base();
        remove("/action/tool")(&mut doc);
        doc
    })
    .unwrap_err()
    .to_string();
    assert_eq!(
        message,
        "action.tool is required when action.kind is `tool_call`"
    );
}

#[test]
fn data_access_without_resource() {
    let mutate = |doc: &mut Value| {
        set("/action/kind", json!("data_access"))(doc);
        remove("/action/resource")(doc);
    };
    check_rejected("data_access without resource", mutate, |e| {
        matches!(e, InputError::ResourceRequired)
    });
    let mut doc = base();
    mutate(&mut doc);
    let error = AgentActionV1::from_value(doc).unwrap_err();
    assert_eq!(
        error.to_string(),
        "action.resource is required when action.kind is `data_access`"
    );
}

#[test]
fn unknown_keys_where_closed() {
    check_rejected("extra top-level key", set("/extra", json!(1)), malformed);
    check_rejected(
        "extra agent key",
        set("/agent/team", json!("hr")),
        malformed,
    );
    check_rejected(
        "extra user key",
        set("/user/email", json!("a@b")),
        malformed,
    );
    check_rejected(
        "extra action key",
        set("/action/tools", json!([])),
        malformed,
    );
    check_rejected(
        "extra tool key",
        set("/action/tool/version", json!("1")),
        malformed,
    );
    check_rejected(
        "extra usage key",
        set("/context/usage/tokens", json!(5)),
        malformed,
    );
    check_rejected(
        "extra approval key",
        set("/context/approvals/0/note", json!("x")),
        malformed,
    );
}

#[test]
fn bad_times() {
    for bad in [
        "yesterday",
        "2026-11-24",
        "2026-11-24 10:15:00Z",
        "2026-11-24t10:15:00Z",
        "2026-11-24T10:15:00",
        "2026-02-30T10:15:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T10:15:00+01",
    ] {
        check_rejected(
            bad,
            set("/context/time", json!(bad)),
            bad_time("context.time"),
        );
    }
    check_rejected("time missing", remove("/context/time"), malformed);
    check_rejected(
        "time a number",
        set("/context/time", json!(1_764_000_000)),
        malformed,
    );
    check_rejected(
        "bad granted_at",
        set("/context/approvals/0/granted_at", json!("soon")),
        bad_time("context.approvals[0].granted_at"),
    );
    check_rejected(
        "bad expires_at",
        set(
            "/context/approvals/0/expires_at",
            json!("2026-13-01T00:00:00Z"),
        ),
        bad_time("context.approvals[0].expires_at"),
    );
    let message = AgentActionV1::from_value({
        let mut doc = base();
        set("/context/time", json!("yesterday"))(&mut doc);
        doc
    })
    .unwrap_err()
    .to_string();
    assert!(
        message.starts_with("context.time `yesterday` is not an RFC 3339 date-time"),
        "{message}"
    );
}

#[test]
fn wrong_types() {
    check_rejected(
        "roles not an array",
        set("/user/roles", json!("employee")),
        malformed,
    );
    check_rejected(
        "label not a string",
        set("/agent/labels/env", json!(1)),
        malformed,
    );
    check_rejected(
        "attributes not an object",
        set("/user/attributes", json!([])),
        malformed,
    );
    check_rejected(
        "args not an object",
        set("/action/tool/args", json!("x")),
        malformed,
    );
    check_rejected(
        "fields not strings",
        set("/action/resource/fields", json!([1])),
        malformed,
    );
    check_rejected(
        "resource owner a number",
        set("/action/resource/owner", json!(7)),
        malformed,
    );
    check_rejected(
        "resource not an object",
        set("/action/resource", json!("e-42")),
        malformed,
    );
    check_rejected(
        "negative usage",
        set("/context/usage/tool_calls_last_minute", json!(-1)),
        malformed,
    );
    check_rejected(
        "fractional usage",
        set("/context/usage/tool_calls_last_hour", json!(1.5)),
        malformed,
    );
    check_rejected(
        "usage half given",
        remove("/context/usage/tool_calls_last_hour"),
        malformed,
    );
    check_rejected(
        "null session_id",
        set("/context/session_id", Value::Null),
        malformed,
    );
    check_rejected("null tool", set("/action/tool", Value::Null), malformed);
    check_rejected(
        "approvals not an array",
        set("/context/approvals", json!({})),
        malformed,
    );
    check_rejected(
        "approval without approver",
        remove("/context/approvals/0/approver"),
        malformed,
    );
}

#[test]
fn open_places_accept_unknown_keys_in_both() {
    let schema = validator(AGENT_ACTION_V1);
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "extra context key",
            Box::new(set("/context/ticket", json!({"id": "INC-1"}))),
        ),
        (
            "extra resource key",
            Box::new(set("/action/resource/region", json!("eu"))),
        ),
        (
            "nested attributes",
            Box::new(set("/user/attributes/clearance", json!({"level": 3}))),
        ),
        (
            "state_change without tool or resource",
            Box::new(|doc: &mut Value| {
                set("/action", json!({"kind": "state_change"}))(doc);
            }),
        ),
        (
            "data_access with a tool",
            Box::new(set("/action/kind", json!("data_access"))),
        ),
        (
            "no optional parts",
            Box::new(|doc: &mut Value| {
                set("/context", json!({"time": "2026-11-24T10:15:00.5-05:00"}))(doc);
            }),
        ),
    ];
    for (name, mutate) in cases {
        let mut doc = base();
        mutate(&mut doc);
        assert!(
            schema.is_valid(&doc),
            "{name}: {:?}",
            schema_errors(&schema, &doc)
        );
        let action =
            AgentActionV1::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            serde_json::to_value(&action)
                .unwrap()
                .pointer("/action/kind"),
            doc.pointer("/action/kind")
        );
    }
    let mut doc = base();
    set("/context/ticket", json!({"id": "INC-1"}))(&mut doc);
    let action = AgentActionV1::from_value(doc).unwrap();
    assert_eq!(action.context.extra["ticket"], json!({"id": "INC-1"}));
}

#[test]
fn extra_maps_cannot_shadow_named_keys() {
    let mut action = AgentActionV1::from_value(base()).unwrap();
    action
        .context
        .extra
        .insert("time".into(), json!("2020-01-01T00:00:00Z"));
    assert!(matches!(
        action.validate(),
        Err(InputError::ReservedKey { field: "context", ref key }) if key == "time"
    ));
}
