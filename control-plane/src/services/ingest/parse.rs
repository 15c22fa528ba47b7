//! Decoding and validating a `/logs` body: inflate with a hard cap, parse, check every event,
//! and lay the batch out as columns for the insert.

use std::collections::BTreeSet;
use std::io::Read as _;

use flate2::read::MultiGzDecoder;
use regent_protocol::DecisionEventV1;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::fields::{DocFields, Stored};
use super::{Encoding, IngestError};
use crate::store::logs::{DecisionLogColumns, LogMonth};

/// Inflates a gzip body, reading at most `max_inflated + 1` bytes, so a gzip bomb costs only
/// the cap, not its full expansion.
pub(super) fn decode(
    body: &[u8],
    encoding: Encoding,
    max_inflated: usize,
) -> Result<Vec<u8>, IngestError> {
    match encoding {
        Encoding::Identity => {
            if body.len() > max_inflated {
                return Err(IngestError::InflatedTooLarge {
                    limit: max_inflated,
                });
            }
            Ok(body.to_vec())
        }
        Encoding::Gzip => {
            let cap = u64::try_from(max_inflated)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let mut out = Vec::with_capacity(body.len().saturating_mul(8).min(max_inflated));
            MultiGzDecoder::new(body)
                .take(cap)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::BadGzip(e.to_string()))?;
            if out.len() > max_inflated {
                return Err(IngestError::InflatedTooLarge {
                    limit: max_inflated,
                });
            }
            Ok(out)
        }
    }
}

/// Parses and validates every event; the first invalid one refuses the whole batch.
pub(super) fn parse_events(
    json: &[u8],
    agent_persona: Option<&str>,
) -> Result<(DecisionLogColumns, BTreeSet<LogMonth>), IngestError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(json).map_err(|e| IngestError::Json {
        message: strip_position(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let mut rows = DecisionLogColumns::with_capacity(raw.len());
    let mut months = BTreeSet::new();
    for (index, raw) in raw.iter().enumerate() {
        let text = raw.get();
        let mut event = read_event(index, text)?;
        let decision_id =
            Uuid::parse_str(&event.decision_id).map_err(|_| IngestError::InvalidEvent {
                path: format!("events[{index}].decision_id"),
                detail: format!("`{}` is not a UUID", truncate(&event.decision_id, 80)),
            })?;
        if has_nul_escape(text) {
            return Err(IngestError::InvalidEvent {
                path: format!("events[{index}]"),
                detail: "contains `\\u0000`, which cannot be stored; remove NUL characters".into(),
            });
        }
        if let Some(allowed) = agent_persona {
            match &event.persona {
                Some(persona) if persona != allowed => {
                    return Err(IngestError::WrongPersona {
                        index,
                        persona: persona.clone(),
                        allowed: allowed.to_owned(),
                    });
                }
                Some(_) => {}
                None => event.persona = Some(allowed.to_owned()),
            }
        }
        months.insert(LogMonth::of(event.timestamp));
        push_row(&mut rows, decision_id, event, text);
    }
    Ok((rows, months))
}

/// Reads one event. Its documents are read with [`DocFields`] (no `Value` trees); an event that
/// reading refuses is read again as [`DecisionEventV1`], whose error is the one reported (and
/// which, should the two readings ever disagree, decides: an event it accepts is stored).
fn read_event(index: usize, text: &str) -> Result<Stored, IngestError> {
    if let Ok(event) = serde_json::from_str::<DecisionEventV1<DocFields>>(text) {
        return Ok(Stored::from_fields(event));
    }
    serde_json::from_str::<DecisionEventV1>(text)
        .map(Stored::from_values)
        .map_err(|e| diagnose(index, text, &e))
}

fn push_row(rows: &mut DecisionLogColumns, decision_id: Uuid, event: Stored, text: &str) {
    let revision = event.bundle_revision();
    let mut reasons = String::new();
    for reason in &event.reasons {
        for part in [&reason.code, &reason.message] {
            if !reasons.is_empty() {
                reasons.push(' ');
            }
            reasons.push_str(part);
        }
    }
    rows.decision_id.push(decision_id);
    rows.ts.push(event.timestamp);
    rows.persona.push(event.persona);
    rows.agent_id.push(event.agent_id);
    rows.user_id.push(event.user_id);
    rows.tool.push(event.tool);
    rows.allow.push(event.allow);
    rows.revision.push(revision);
    rows.sequence
        .push(event.revision_sequence.and_then(|s| i64::try_from(s).ok()));
    rows.path
        .push(event.path.map(|p| p.trim_start_matches('/').to_owned()));
    rows.reasons.push(reasons);
    rows.event.push(minify(text));
}

/// `text` (valid JSON) without the whitespace between tokens, so a stored event is one line —
/// what a JSON Lines export writes — and no bigger than it needs to be. Whitespace inside
/// strings is kept; everything else is copied byte for byte.
pub(crate) fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut copied_from = 0;
    for (at, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            // Whitespace is ASCII, so `at` is a char boundary.
            out.push_str(&text[copied_from..at]);
            copied_from = at + 1;
        }
    }
    out.push_str(&text[copied_from..]);
    out
}

/// Names the field when a required one is missing or malformed; serde alone cannot say where.
fn diagnose(index: usize, text: &str, error: &serde_json::Error) -> IngestError {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field_error = |field: &str, detail: String| IngestError::InvalidEvent {
        path: format!("events[{index}].{field}"),
        detail,
    };
    let Some(object) = value.as_object() else {
        return IngestError::InvalidEvent {
            path: format!("events[{index}]"),
            detail: "must be a JSON object".into(),
        };
    };
    match object.get("decision_id") {
        None | Some(serde_json::Value::Null) => {
            return field_error(
                "decision_id",
                "is missing; every event needs a UUID decision_id".into(),
            );
        }
        Some(v) if !v.is_string() => {
            return field_error("decision_id", "must be a UUID string".into());
        }
        _ => {}
    }
    match object.get("timestamp") {
        None | Some(serde_json::Value::Null) => {
            return field_error(
                "timestamp",
                "is missing; every event needs an RFC 3339 timestamp".into(),
            );
        }
        Some(serde_json::Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
            return field_error(
                "timestamp",
                format!("`{}` is not an RFC 3339 date-time", truncate(s, 80)),
            );
        }
        Some(v) if !v.is_string() => {
            return field_error("timestamp", "must be an RFC 3339 date-time string".into());
        }
        _ => {}
    }
    IngestError::InvalidEvent {
        path: format!("events[{index}]"),
        detail: strip_position(error),
    }
}

/// serde_json's message without its ` at line L column C` suffix (reported separately).
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Whether JSON text holds an escaped NUL (`\u0000`). The stored text would keep the escape,
/// but Postgres cannot turn it into `text` (`event::json ->> …`) or `jsonb` (text cannot hold
/// NUL), so such an event is refused at ingest. An escape is real only when preceded by an even
/// number of further backslashes.
pub(crate) fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("\\u0000") {
        let at = from + found;
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(has_nul_escape(r#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(r#"{"a":"\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"u0000"}"#));
    }

    #[test]
    fn minify_drops_whitespace_between_tokens_only() {
        let text = "{\n  \"a\" : [ 1 ,\t2 ],\r\n  \"b\": \" x \\\" y\\\\ \",\"c\":\"é ü\" }";
        let minified = minify(text);
        assert_eq!(minified, r#"{"a":[1,2],"b":" x \" y\\ ","c":"é ü"}"#);
        let before: serde_json::Value = serde_json::from_str(text).unwrap();
        let after: serde_json::Value = serde_json::from_str(&minified).unwrap();
        assert_eq!(before, after);
        assert_eq!(minify(r#"{"a":1}"#), r#"{"a":1}"#);
    }

    #[test]
    fn a_gzip_bomb_is_cut_at_the_cap() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write as _;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&vec![b' '; 4 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        let err = decode(&bomb, Encoding::Gzip, 1 << 20).unwrap_err();
        assert!(matches!(err, IngestError::InflatedTooLarge { limit } if limit == 1 << 20));
        assert_eq!(
            decode(&bomb, Encoding::Gzip, 4 << 20).unwrap().len(),
            4 << 20
        );
    }

    #[test]
    fn invalid_events_name_their_index_and_field() {
        let json = br#"[{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1","timestamp":"2026-11-24T10:15:00Z"},
                        {"decision_id":"nope","timestamp":"2026-11-24T10:15:00Z"}]"#;
        let err = parse_events(json, None).unwrap_err();
        assert!(
            err.to_string().starts_with("`events[1].decision_id`"),
            "{err}"
        );
        let json = br#"[{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1"}]"#;
        let err = parse_events(json, None).unwrap_err();
        assert!(
            err.to_string().starts_with("`events[0].timestamp`"),
            "{err}"
        );
        let err = parse_events(b"[1]", None).unwrap_err();
        assert!(err.to_string().starts_with("`events[0]`"), "{err}");
    }

    #[test]
    fn the_revision_is_the_bundle_of_the_persona_an_agent_token_names() {
        // No persona in the event, two bundles: the token's persona picks the bundle.
        let json = br#"[{"decision_id":"4ca636c1-55e4-417a-b1d8-4aceb67960d1","timestamp":"2026-11-24T10:15:00Z",
                         "bundles":{"hr-bot":{"revision":"hr-7"},"it-bot":{"revision":"it-3"}}}]"#;
        let (rows, _) = parse_events(json, Some("it-bot")).unwrap();
        assert_eq!(rows.persona, vec![Some("it-bot".to_owned())]);
        assert_eq!(rows.revision, vec![Some("it-3".to_owned())]);
        // Without a token persona it cannot choose.
        let (rows, _) = parse_events(json, None).unwrap();
        assert_eq!(rows.revision, vec![None]);
    }
}
