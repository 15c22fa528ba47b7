//! What ingest reads from an event's free-form documents (`input`, `result`, …), gathered in one
//! pass over their JSON that accepts and refuses exactly what parsing them into a
//! `serde_json::Value` would (syntax, string escapes, number range, nesting depth), without
//! building the `Value` tree: ingest stores the event's text as received and needs only the few
//! fields [`DecisionEventV1::derive_missing_fields`] reads. Building and dropping the trees was
//! ~40 % of the control plane's CPU per stored event.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use regent_protocol::{BundleInfoV1, DecisionEventV1, ReasonV1};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The fields [`DecisionEventV1::derive_missing_fields`] takes from a document, by JSON pointer.
/// A field is `Some` exactly when `Value::pointer(…)` and `as_str`/`as_bool` would give a value:
/// for duplicate keys the last one counts, as in a `Value` object.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct DocFields {
    /// The document itself is a boolean (a `result` may be).
    boolean: Option<bool>,
    /// `/agent/persona`
    agent_persona: Option<String>,
    /// `/agent/id`
    agent_id: Option<String>,
    /// `/user/id`
    user_id: Option<String>,
    /// `/action/tool/name`
    tool_name: Option<String>,
    /// `/allow`
    allow: Option<bool>,
    /// `/reasons` when it is an array: its entries that are reasons.
    reasons: Option<Vec<ReasonV1>>,
}

/// What ingest stores of an event besides its text (the id as sent: ingest checks it is a UUID).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stored {
    pub decision_id: String,
    pub timestamp: DateTime<Utc>,
    pub persona: Option<String>,
    pub agent_id: Option<String>,
    pub user_id: Option<String>,
    pub tool: Option<String>,
    pub allow: Option<bool>,
    pub reasons: Vec<ReasonV1>,
    /// The deprecated top-level revision.
    pub revision: Option<String>,
    pub bundles: BTreeMap<String, BundleInfoV1>,
    pub revision_sequence: Option<u64>,
    pub path: Option<String>,
}

impl Stored {
    /// The bundle revision: the deprecated top-level field, else the persona's bundle, else the
    /// only bundle. (Read after the persona is final: an agent token names it when the event
    /// does not.)
    pub fn bundle_revision(&self) -> Option<String> {
        self.revision.clone().or_else(|| {
            let by_persona = self.persona.as_ref().and_then(|p| self.bundles.get(p));
            let only = (self.bundles.len() == 1)
                .then(|| self.bundles.values().next())
                .flatten();
            by_persona.or(only).and_then(|b| b.revision.clone())
        })
    }

    fn new<D>(event: DecisionEventV1<D>) -> Stored {
        Stored {
            decision_id: event.decision_id,
            timestamp: event.timestamp,
            persona: event.persona,
            agent_id: event.agent_id,
            user_id: event.user_id,
            tool: event.tool,
            allow: event.allow,
            reasons: event.reasons,
            revision: event.revision,
            bundles: event.bundles,
            revision_sequence: event.revision_sequence,
            path: event.path,
        }
    }

    /// An event read with [`DocFields`], its missing Regent fields filled as
    /// [`DecisionEventV1::derive_missing_fields`] fills them.
    pub fn from_fields(mut event: DecisionEventV1<DocFields>) -> Stored {
        let input = event.input.take().unwrap_or_default();
        let result = event.result.take();
        fill(&mut event.persona, input.agent_persona);
        fill(&mut event.agent_id, input.agent_id);
        fill(&mut event.user_id, input.user_id);
        fill(&mut event.tool, input.tool_name);
        if let Some(result) = result {
            fill(&mut event.allow, result.boolean.or(result.allow));
            if let (true, Some(reasons)) = (event.reasons.is_empty(), result.reasons) {
                event.reasons = reasons;
            }
        }
        Stored::new(event)
    }

    /// An event read with `Value` documents (the reading whose errors ingest reports).
    pub fn from_values(mut event: DecisionEventV1) -> Stored {
        event.derive_missing_fields();
        Stored::new(event)
    }
}

fn fill<T>(field: &mut Option<T>, derived: Option<T>) {
    if field.is_none() {
        *field = derived;
    }
}

impl<'de> Deserialize<'de> for DocFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = DocFields::default();
        Walk {
            fields: &mut fields,
            at: At::Root,
        }
        .deserialize(deserializer)?;
        Ok(fields)
    }
}

/// Where the walk is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Root,
    Agent,
    User,
    Action,
    Tool,
    AgentPersona,
    AgentId,
    UserId,
    ToolName,
    Allow,
    Reasons,
    /// Nothing below is read; it is only validated.
    Elsewhere,
}

impl At {
    /// Where a key of an object at `self` leads, clearing what that key's value defines (the last
    /// of duplicate keys counts, as in a `Value` object).
    fn enter(self, key: &str, fields: &mut DocFields) -> At {
        match (self, key) {
            (At::Root, "agent") => {
                fields.agent_persona = None;
                fields.agent_id = None;
                At::Agent
            }
            (At::Root, "user") => {
                fields.user_id = None;
                At::User
            }
            (At::Root, "action") => {
                fields.tool_name = None;
                At::Action
            }
            (At::Action, "tool") => {
                fields.tool_name = None;
                At::Tool
            }
            (At::Root, "allow") => {
                fields.allow = None;
                At::Allow
            }
            (At::Root, "reasons") => {
                fields.reasons = None;
                At::Reasons
            }
            (At::Agent, "persona") => {
                fields.agent_persona = None;
                At::AgentPersona
            }
            (At::Agent, "id") => {
                fields.agent_id = None;
                At::AgentId
            }
            (At::User, "id") => {
                fields.user_id = None;
                At::UserId
            }
            (At::Tool, "name") => {
                fields.tool_name = None;
                At::ToolName
            }
            _ => At::Elsewhere,
        }
    }
}

/// Validates one JSON value as `Value` would and records what `at` says to record.
struct Walk<'f> {
    fields: &'f mut DocFields,
    at: At,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // `deserialize_any`, as `Value` does: the same number parsing and depth limit.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.at {
            At::Root => self.fields.boolean = Some(v),
            At::Allow => self.fields.allow = Some(v),
            _ => {}
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let slot = match self.at {
            At::AgentPersona => &mut self.fields.agent_persona,
            At::AgentId => &mut self.fields.agent_id,
            At::UserId => &mut self.fields.user_id,
            At::ToolName => &mut self.fields.tool_name,
            _ => return Ok(()),
        };
        *slot = Some(v.to_owned());
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.at == At::Reasons {
            // As `derive_missing_fields`: every entry that is a `{code, message}` object.
            let mut reasons = Vec::new();
            while let Some(entry) = seq.next_element::<Value>()? {
                if let Ok(reason) = ReasonV1::deserialize(&entry) {
                    reasons.push(reason);
                }
            }
            self.fields.reasons = Some(reasons);
            return Ok(());
        }
        while seq
            .next_element_seed(Walk {
                fields: &mut *self.fields,
                at: At::Elsewhere,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(at) = map.next_key_seed(Key {
            from: self.at,
            fields: &mut *self.fields,
        })? {
            map.next_value_seed(Walk {
                fields: &mut *self.fields,
                at,
            })?;
        }
        Ok(())
    }
}

/// An object key of an object at `from`, parsed (and validated) as `Value` parses keys: where its
/// value leads ([`At::enter`]).
struct Key<'f> {
    from: At,
    fields: &'f mut DocFields,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = At;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<At, D::Error> {
        // `String`'s path, as `Value`'s keys take.
        deserializer.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = At;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<At, E> {
        Ok(self.from.enter(v, self.fields))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Reads `text` both ways; they must agree on acceptance and on every stored field.
    fn both(text: &str) -> Option<Stored> {
        let lean =
            serde_json::from_str::<DecisionEventV1<DocFields>>(text).map(Stored::from_fields);
        let full = serde_json::from_str::<DecisionEventV1>(text).map(Stored::from_values);
        match (lean, full) {
            (Ok(lean), Ok(full)) => {
                assert_eq!(lean, full, "{text}");
                Some(lean)
            }
            (Err(_), Err(_)) => None,
            (lean, full) => panic!("the readings disagree on {text}: lean {lean:?}, full {full:?}"),
        }
    }

    fn event(body: &str) -> String {
        format!(
            r#"{{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1","timestamp":"2026-12-07T10:00:00Z"{body}}}"#
        )
    }

    #[test]
    fn documents_read_lean_give_what_value_documents_give() {
        let agents = [
            "",
            r#""agent":{"persona":"hr-bot","id":"hr-1"}"#,
            r#""agent":{"persona":7,"id":null}"#,
            r#""agent":{"persona":"a"},"agent":{"id":"x"}"#,
            r#""agent":{"persona":"a","persona":{"x":1}}"#,
            r#""agent":["hr-bot"]"#,
            r#""a\u0067ent":{"p\u0065rsona":"esc\"aped \u00e9"}"#,
        ];
        let users = [
            "",
            r#""user":{"id":"u-1","roles":["employee"]}"#,
            r#""user":{"id":["u-1"]}"#,
            r#""user":"u-1""#,
        ];
        let actions = [
            "",
            r#""action":{"kind":"tool_call","tool":{"name":"hr.get","args":{"name":"not this"}}}"#,
            r#""action":{"tool":{"name":"a"},"tool":{"server":"s"}}"#,
            r#""action":{"tool":{"name":"a"}},"action":{"tool":{"name":"b"}}"#,
            r#""name":"top","tool":{"name":"not under action"}"#,
        ];
        let results = [
            "",
            r#","result":true"#,
            r#","result":false"#,
            r#","result":null"#,
            r#","result":{"allow":true,"reasons":[{"code":"c","message":"m"}]}"#,
            r#","result":{"allow":"yes","reasons":"not an array"}"#,
            r#","result":{"allow":true,"allow":1}"#,
            r#","result":{"allow":false,"reasons":[{"code":"a","message":"b"},{"code":"x"},{"code":"a","message":"b","extra":1},7,{"code":"d","code":"e","message":"f"}]}"#,
            r#","result":{"reasons":[{"code":"a","message":"b"}],"reasons":[]}"#,
            r#","result":[true,{"allow":true}]"#,
        ];
        let tops = [
            "",
            r#","labels":{"id":"a","version":"v"},"persona":"dev-bot","allow":false,"reasons":[{"code":"top","message":"level"}]"#,
            r#","bundles":{"hr-bot":{"revision":"r1"},"it-bot":{"revision":"r2"}},"persona":"it-bot""#,
            r#","mapped_result":{"x":[1,2.5,-3,1e300]},"error":"e","nd_builtin_cache":null"#,
        ];
        let mut read = 0;
        for agent in agents {
            for user in users {
                for action in actions {
                    let parts: Vec<&str> = [agent, user, action]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect();
                    let input = format!(r#","input":{{{}}}"#, parts.join(","));
                    for result in results {
                        for top in tops {
                            if both(&event(&format!("{input}{result}{top}"))).is_some() {
                                read += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(
            read,
            agents.len() * users.len() * actions.len() * results.len() * tops.len()
        );
        // What a stock OPA event yields, spelled out once.
        let stored = both(&event(
            r#","input":{"agent":{"persona":"hr-bot","id":"hr-1"},"user":{"id":"u-1"},"action":{"tool":{"name":"hr.get"}}},"result":{"allow":false,"reasons":[{"code":"c","message":"m"}]}"#,
        ))
        .unwrap();
        assert_eq!(stored.persona.as_deref(), Some("hr-bot"));
        assert_eq!(stored.agent_id.as_deref(), Some("hr-1"));
        assert_eq!(stored.user_id.as_deref(), Some("u-1"));
        assert_eq!(stored.tool.as_deref(), Some("hr.get"));
        assert_eq!(stored.allow, Some(false));
        assert_eq!(stored.reasons.len(), 1);
    }

    #[test]
    fn documents_either_reading_refuses_are_refused_by_both() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        for input in [
            r#"{"x":1e400}"#.to_owned(),
            r#"{"x":"\uD800"}"#.to_owned(),
            r#"{"\uDC00":1}"#.to_owned(),
            r#"{"x":"bad \q escape"}"#.to_owned(),
            format!(r#"{{"agent":{}}}"#, deep(200)),
        ] {
            assert!(
                both(&event(&format!(r#","input":{input}"#))).is_none(),
                "{input}"
            );
            assert!(
                both(&event(&format!(r#","result":{input}"#))).is_none(),
                "{input}"
            );
        }
        // Nesting well inside serde_json's limit is read; around it, both readings agree.
        assert!(both(&event(&format!(r#","input":{}"#, deep(100)))).is_some());
        for n in 120..=130 {
            both(&event(&format!(r#","input":{}"#, deep(n))));
            both(&event(&format!(r#","result":{{"reasons":{}}}"#, deep(n))));
        }
        // The other fields are checked as the protocol type checks them.
        assert!(both(&event(r#","labels":{"id":1}"#)).is_none());
        assert!(both(&event(r#","revision_sequence":-1"#)).is_none());
        assert!(both(r#"{"decision_id":"x","input":{}}"#).is_none());
    }
}
