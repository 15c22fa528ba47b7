//! Exports of a filtered decision set as CSV or JSON Lines, streamed: the rows are read in keyset
//! batches of [`BATCH`] and each batch is encoded and sent before the next is read, so memory
//! stays flat for any number of rows.
//!
//! The walk goes strictly older from the newest match, so decisions arriving during an export
//! (newer by construction) are not in it; an export is the set as of its start, plus any late
//! events whose own timestamps fall behind the walk.
//!
//! CSV is opened by spreadsheets, which execute cells starting with `=`, `+`, `-`, `@`, tab or
//! CR as formulas (CSV injection): such cells get a leading `'`, which spreadsheets show as text.
//! JSON Lines carries the stored event untouched, as valid JSON.

use axum::body::Bytes;
use futures::Stream;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::store::Store;
use crate::store::audit::{DecisionFilter, ExportRow, Keyset};

/// Rows per database round trip.
pub const BATCH: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
}

impl ExportFormat {
    pub fn parse(value: &str) -> Option<ExportFormat> {
        match value {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "ndjson" => Some(ExportFormat::JsonLines),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::JsonLines => "application/jsonl; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
        }
    }
}

pub const CSV_HEADER: &str = "decision_id,timestamp,persona,agent_id,user_id,tool,allow,revision,revision_sequence,path,reasons,input,result\r\n";

/// One CSV cell: neutralised against formula execution, quoted when it holds a delimiter,
/// quote or line break (RFC 4180: quotes doubled).
pub fn csv_cell(out: &mut String, value: &str) {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = risky || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if risky {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn csv_row(out: &mut String, row: &ExportRow) {
    let s = &row.summary;
    let event: Value = serde_json::from_str(&row.event).unwrap_or(Value::Null);
    let json = |key: &str| event.get(key).map(Value::to_string).unwrap_or_default();
    let cells = [
        s.decision_id.to_string(),
        s.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        s.persona.clone().unwrap_or_default(),
        s.agent_id.clone().unwrap_or_default(),
        s.user_id.clone().unwrap_or_default(),
        s.tool.clone().unwrap_or_default(),
        match s.allow {
            Some(true) => "allow".to_owned(),
            Some(false) => "deny".to_owned(),
            None => String::new(),
        },
        s.revision.clone().unwrap_or_default(),
        s.sequence.map(|n| n.to_string()).unwrap_or_default(),
        s.path.clone().unwrap_or_default(),
        s.reasons.clone(),
        json("input"),
        json("result"),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, cell);
    }
    out.push_str("\r\n");
}

#[derive(Serialize)]
struct JsonLine<'a> {
    decision_id: uuid::Uuid,
    timestamp: String,
    persona: &'a Option<String>,
    agent_id: &'a Option<String>,
    user_id: &'a Option<String>,
    tool: &'a Option<String>,
    allow: Option<bool>,
    revision: &'a Option<String>,
    revision_sequence: Option<i64>,
    path: &'a Option<String>,
    reasons: &'a str,
    event: &'a RawValue,
}

fn json_line(out: &mut String, row: &ExportRow) -> Result<(), serde_json::Error> {
    let s = &row.summary;
    let event: &RawValue = serde_json::from_str(&row.event)?;
    let line = JsonLine {
        decision_id: s.decision_id,
        timestamp: s.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        persona: &s.persona,
        agent_id: &s.agent_id,
        user_id: &s.user_id,
        tool: &s.tool,
        allow: s.allow,
        revision: &s.revision,
        revision_sequence: s.sequence,
        path: &s.path,
        reasons: &s.reasons,
        event,
    };
    out.push_str(&serde_json::to_string(&line)?);
    out.push('\n');
    Ok(())
}

/// Encodes one batch.
pub fn encode(format: ExportFormat, rows: &[ExportRow]) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(rows.len() * 512);
    for row in rows {
        match format {
            ExportFormat::Csv => csv_row(&mut out, row),
            ExportFormat::JsonLines => json_line(&mut out, row)?,
        }
    }
    Ok(out)
}

struct Walk {
    store: Store,
    filter: DecisionFilter,
    format: ExportFormat,
    after: Option<Keyset>,
    header_sent: bool,
    done: bool,
}

/// The export body. A database error mid-way ends the stream with an error, which aborts the
/// chunked response, so a client never mistakes a truncated export for a complete one.
pub fn stream(
    store: Store,
    filter: DecisionFilter,
    format: ExportFormat,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let walk = Walk {
        store,
        filter,
        format,
        after: None,
        header_sent: false,
        done: false,
    };
    futures::stream::unfold(walk, |mut walk| async move {
        if walk.done {
            return None;
        }
        if !walk.header_sent && walk.format == ExportFormat::Csv {
            walk.header_sent = true;
            return Some((Ok(Bytes::from_static(CSV_HEADER.as_bytes())), walk));
        }
        let batch = match walk
            .store
            .decision_export_batch(&walk.filter, walk.after, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "decision export failed mid-way");
                walk.done = true;
                return Some((Err(std::io::Error::other("export failed")), walk));
            }
        };
        if (batch.len() as i64) < BATCH {
            walk.done = true;
        }
        let last = batch.last()?;
        walk.after = Some(last.summary.keyset());
        match encode(walk.format, &batch) {
            Ok(text) => Some((Ok(Bytes::from(text)), walk)),
            Err(e) => {
                tracing::error!(error = %e, "decision export could not encode a stored event");
                walk.done = true;
                Some((Err(std::io::Error::other("export failed")), walk))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: &str) -> String {
        let mut out = String::new();
        csv_cell(&mut out, value);
        out
    }

    #[test]
    fn formula_cells_are_neutralised_and_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("\tx"), "\"'\tx\"");
        assert_eq!(cell("\rx"), "\"'\rx\"");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell(""), "");
    }
}
