//! The audit browser's query language, shared by the JSON API, the export and the console: query
//! parameters → a validated [`AuditQuery`], then keyset pages of decisions.
//!
//! Parameters: `persona`, `agent`, `user`, `tool`, `allow` (`true|false|allow|deny`),
//! `revision`, `from` (inclusive) and `to` (exclusive) as RFC 3339 with an offset — or without
//! one when `tz` (`Z`, `+02:00`, `-05:30`) says which offset they are in, which is what an HTML
//! `datetime-local` field sends — `q` (case-insensitive substring of the reasons), `cursor`
//! (opaque, from a previous page) and `limit` (1–[`MAX_LIMIT`]). Empty values count as absent,
//! so a submitted form with blank fields means "any". Anything else is refused with the
//! parameter's name, so a typo never silently widens an auditor's result.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset as _, TimeZone as _, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::store::audit::{DecisionFilter, DecisionSummary, Direction, Keyset};
use crate::store::{Store, StoreResult};

pub mod export;

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page; bigger sets are for the export.
pub const MAX_LIMIT: i64 = 500;
/// Longest accepted filter value (ids, names, search text), in characters.
pub const MAX_VALUE_CHARS: usize = 200;

/// The parameters every audit route understands.
pub const PARAMETERS: [&str; 12] = [
    "persona", "agent", "user", "tool", "allow", "revision", "from", "to", "tz", "q", "cursor",
    "limit",
];

/// Why a query was refused; [`AuditQueryError::parameter`] names the culprit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuditQueryError {
    #[error("unknown parameter `{name}`; the filters are {}", PARAMETERS.join(", "))]
    Unknown { name: String },
    #[error("parameter `{name}` is given twice; give it once")]
    Repeated { name: String },
    #[error(
        "`{name}` = `{value}` is not a date-time: use RFC 3339 with an offset (`2026-11-24T09:30:00+01:00`, `…Z`), or a local date-time (`2026-11-24T09:30`) together with `tz`"
    )]
    BadTime { name: &'static str, value: String },
    #[error(
        "`{name}` = `{value}` has no time zone: add an offset (`Z`, `+01:00`) or set `tz` to the offset it is in"
    )]
    NoTimeZone { name: &'static str, value: String },
    #[error("`tz` = `{value}` is not a UTC offset: use `Z`, `+01:00` or `-05:30`")]
    BadTimeZone { value: String },
    #[error("`allow` = `{value}` must be `true`, `false`, `allow` or `deny`")]
    BadAllow { value: String },
    #[error("`limit` = `{value}` must be a whole number from 1 to {MAX_LIMIT}")]
    BadLimit { value: String },
    #[error(
        "`cursor` is not a cursor this server issued; follow the `next`/`previous` links of a page, or drop it to start from the newest"
    )]
    BadCursor,
    #[error("`{name}` is over {MAX_VALUE_CHARS} characters; shorten it")]
    TooLong { name: String },
    #[error("the time range is empty: `from` ({from}) must be before `to` ({to})")]
    EmptyRange { from: String, to: String },
}

impl AuditQueryError {
    /// The parameter at fault.
    pub fn parameter(&self) -> &str {
        match self {
            AuditQueryError::Unknown { name }
            | AuditQueryError::Repeated { name }
            | AuditQueryError::TooLong { name } => name,
            AuditQueryError::BadTime { name, .. } | AuditQueryError::NoTimeZone { name, .. } => {
                name
            }
            AuditQueryError::BadTimeZone { .. } => "tz",
            AuditQueryError::BadAllow { .. } => "allow",
            AuditQueryError::BadLimit { .. } => "limit",
            AuditQueryError::BadCursor => "cursor",
            AuditQueryError::EmptyRange { .. } => "to",
        }
    }

    /// Malformed input is a 400; a well-formed but impossible request (an empty range) a 422.
    pub fn is_unprocessable(&self) -> bool {
        matches!(self, AuditQueryError::EmptyRange { .. })
    }

    /// A stable code for problem bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AuditQueryError::Unknown { .. } => "unknown_filter",
            AuditQueryError::Repeated { .. } => "repeated_filter",
            AuditQueryError::BadTime { .. }
            | AuditQueryError::NoTimeZone { .. }
            | AuditQueryError::BadTimeZone { .. } => "invalid_time",
            AuditQueryError::BadAllow { .. } | AuditQueryError::TooLong { .. } => "invalid_filter",
            AuditQueryError::BadLimit { .. } => "invalid_limit",
            AuditQueryError::BadCursor => "invalid_cursor",
            AuditQueryError::EmptyRange { .. } => "empty_time_range",
        }
    }
}

/// Where a page starts: an opaque, URL-safe token for a [`Keyset`] and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub keyset: Keyset,
    pub direction: Direction,
}

impl Cursor {
    /// `o` or `n`, the microseconds since the epoch (Postgres' precision) and the id, as
    /// unpadded base64url. Opaque to clients; only [`Cursor::decode`] reads it.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let tag = match self.direction {
            Direction::Older => 'o',
            Direction::Newer => 'n',
        };
        let text = format!(
            "{tag}{}.{}",
            self.keyset.ts.timestamp_micros(),
            self.keyset.decision_id.simple()
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(token: &str) -> Result<Cursor, AuditQueryError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| AuditQueryError::BadCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| AuditQueryError::BadCursor)?;
        let direction = match text.chars().next() {
            Some('o') => Direction::Older,
            Some('n') => Direction::Newer,
            _ => return Err(AuditQueryError::BadCursor),
        };
        let (micros, id) = text[1..]
            .split_once('.')
            .ok_or(AuditQueryError::BadCursor)?;
        let micros: i64 = micros.parse().map_err(|_| AuditQueryError::BadCursor)?;
        let ts = DateTime::from_timestamp_micros(micros).ok_or(AuditQueryError::BadCursor)?;
        let decision_id = Uuid::try_parse(id).map_err(|_| AuditQueryError::BadCursor)?;
        Ok(Cursor {
            keyset: Keyset { ts, decision_id },
            direction,
        })
    }
}

/// A validated audit query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: DecisionFilter,
    pub cursor: Option<Cursor>,
    pub limit: i64,
    /// The offset the caller reads times in (`tz`); UTC unless given.
    pub tz: FixedOffset,
    /// `tz` as given, so links can carry it on.
    pub tz_param: Option<String>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            filter: DecisionFilter::default(),
            cursor: None,
            limit: DEFAULT_LIMIT,
            tz: Utc.fix(),
            tz_param: None,
        }
    }
}

/// Parses `Z`, `+hh:mm`, `-hh:mm` (also `+hhmm`, `+hh`).
pub fn parse_offset(value: &str) -> Option<FixedOffset> {
    if value.eq_ignore_ascii_case("z") || value.eq_ignore_ascii_case("utc") {
        return Some(Utc.fix());
    }
    let sign = match value.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = value[1..].chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn parse_time(
    name: &'static str,
    value: &str,
    tz: Option<FixedOffset>,
) -> Result<DateTime<Utc>, AuditQueryError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok());
    match (local, tz) {
        (Some(local), Some(tz)) => tz
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| AuditQueryError::BadTime {
                name,
                value: value.to_owned(),
            }),
        (Some(_), None) => Err(AuditQueryError::NoTimeZone {
            name,
            value: value.to_owned(),
        }),
        (None, _) => Err(AuditQueryError::BadTime {
            name,
            value: truncate(value),
        }),
    }
}

fn truncate(value: &str) -> String {
    match value.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

impl AuditQuery {
    /// Validates query-string pairs. Names in `extra` (e.g. an export's `format`) are allowed
    /// and handed back untouched.
    pub fn parse(
        pairs: &[(String, String)],
        extra: &[&str],
    ) -> Result<(AuditQuery, Vec<(String, String)>), AuditQueryError> {
        let mut seen: Vec<&str> = Vec::new();
        let mut others = Vec::new();
        let mut get = std::collections::HashMap::new();
        for (name, value) in pairs {
            if seen.contains(&name.as_str()) {
                return Err(AuditQueryError::Repeated { name: name.clone() });
            }
            seen.push(name);
            if extra.contains(&name.as_str()) {
                others.push((name.clone(), value.clone()));
            } else if PARAMETERS.contains(&name.as_str()) {
                if value.chars().count() > MAX_VALUE_CHARS {
                    return Err(AuditQueryError::TooLong { name: name.clone() });
                }
                let value = value.trim();
                if !value.is_empty() {
                    get.insert(name.as_str(), value);
                }
            } else {
                return Err(AuditQueryError::Unknown {
                    name: truncate(name),
                });
            }
        }
        let text = |name: &str| get.get(name).map(|v| (*v).to_owned());
        let tz = match get.get("tz") {
            Some(v) => Some(
                parse_offset(v)
                    .ok_or_else(|| AuditQueryError::BadTimeZone { value: truncate(v) })?,
            ),
            None => None,
        };
        let time = |name: &'static str| get.get(name).map(|v| parse_time(name, v, tz)).transpose();
        let allow = match get.get("allow").map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "true" || v == "allow" => Some(true),
            Some(v) if v == "false" || v == "deny" => Some(false),
            Some(v) => {
                return Err(AuditQueryError::BadAllow {
                    value: truncate(&v),
                });
            }
        };
        let limit = match get.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| AuditQueryError::BadLimit { value: truncate(v) })?,
        };
        let filter = DecisionFilter {
            persona: text("persona"),
            agent_id: text("agent"),
            user_id: text("user"),
            tool: text("tool"),
            allow,
            revision: text("revision"),
            from: time("from")?,
            to: time("to")?,
            reasons_contain: text("q"),
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err(AuditQueryError::EmptyRange {
                from: from.to_rfc3339(),
                to: to.to_rfc3339(),
            });
        }
        let cursor = get.get("cursor").map(|c| Cursor::decode(c)).transpose()?;
        let query = AuditQuery {
            filter,
            cursor,
            limit,
            tz: tz.unwrap_or(Utc.fix()),
            tz_param: text("tz"),
        };
        Ok((query, others))
    }

    /// The filter (and `tz`) as query pairs, without cursor or limit: what a link to another
    /// page or an export of the same set carries.
    pub fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        let f = &self.filter;
        let mut pairs = Vec::new();
        let mut add = |name: &'static str, value: Option<String>| {
            if let Some(v) = value {
                pairs.push((name, v));
            }
        };
        add("persona", f.persona.clone());
        add("agent", f.agent_id.clone());
        add("user", f.user_id.clone());
        add("tool", f.tool.clone());
        add(
            "allow",
            f.allow.map(|a| if a { "allow" } else { "deny" }.to_owned()),
        );
        add("revision", f.revision.clone());
        add(
            "from",
            f.from.map(|t| t.with_timezone(&self.tz).to_rfc3339()),
        );
        add("to", f.to.map(|t| t.with_timezone(&self.tz).to_rfc3339()));
        add("q", f.reasons_contain.clone());
        add("tz", self.tz_param.clone());
        pairs
    }
}

/// One page of decisions, newest first, and the cursors of its neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionPage {
    pub rows: Vec<DecisionSummary>,
    /// Older rows exist: the cursor of the next page.
    pub next: Option<String>,
    /// Newer rows exist: the cursor of the previous page.
    pub previous: Option<String>,
}

/// Reads the page `query` asks for. One extra row is read to learn whether the page in the
/// reading direction has a neighbour; the other side has one whenever we came from it.
pub async fn page(store: &Store, query: &AuditQuery) -> StoreResult<DecisionPage> {
    let after = query.cursor.map(|c| (c.keyset, c.direction));
    let mut rows = store
        .decision_page(&query.filter, after, query.limit + 1)
        .await?;
    let direction = query.cursor.map_or(Direction::Older, |c| c.direction);
    let more = rows.len() as i64 > query.limit;
    if more {
        // Rows are newest first: the extra one is the oldest when reading older, the newest
        // when reading newer.
        match direction {
            Direction::Older => {
                rows.pop();
            }
            Direction::Newer => {
                rows.remove(0);
            }
        }
    }
    let cursor = |row: Option<&DecisionSummary>, direction| {
        row.map(|r| {
            Cursor {
                keyset: r.keyset(),
                direction,
            }
            .encode()
        })
    };
    let (has_older, has_newer) = match direction {
        Direction::Older => (more, query.cursor.is_some()),
        Direction::Newer => (true, more),
    };
    Ok(DecisionPage {
        next: has_older
            .then(|| cursor(rows.last(), Direction::Older))
            .flatten(),
        previous: has_newer
            .then(|| cursor(rows.first(), Direction::Newer))
            .flatten(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = Cursor {
            keyset: Keyset {
                ts: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
                decision_id: Uuid::new_v4(),
            },
            direction: Direction::Newer,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "!!", "eDEyMw", "bzEyMy5ub3QtYS11dWlk"] {
            assert_eq!(
                Cursor::decode(bad),
                Err(AuditQueryError::BadCursor),
                "{bad}"
            );
        }
    }

    #[test]
    fn local_times_need_a_zone_and_use_it() {
        let (q, _) = AuditQuery::parse(
            &pairs(&[("from", "2026-11-24T09:30"), ("tz", "+01:00")]),
            &[],
        )
        .unwrap();
        assert_eq!(
            q.filter.from.unwrap().to_rfc3339(),
            "2026-11-24T08:30:00+00:00"
        );
        let err = AuditQuery::parse(&pairs(&[("to", "2026-11-24T09:30")]), &[]).unwrap_err();
        assert_eq!(err.code(), "invalid_time");
        assert_eq!(err.parameter(), "to");
    }

    #[test]
    fn blank_values_mean_any_and_unknown_names_are_refused() {
        let (q, _) = AuditQuery::parse(&pairs(&[("persona", ""), ("q", "  ")]), &[]).unwrap();
        assert_eq!(q, AuditQuery::default());
        let err = AuditQuery::parse(&pairs(&[("persnoa", "hr-bot")]), &[]).unwrap_err();
        assert_eq!(err.code(), "unknown_filter");
        let (_, extra) = AuditQuery::parse(&pairs(&[("format", "csv")]), &["format"]).unwrap();
        assert_eq!(extra, pairs(&[("format", "csv")]));
    }

    #[test]
    fn offsets_parse_strictly() {
        assert_eq!(parse_offset("+05:30").unwrap().local_minus_utc(), 19_800);
        assert_eq!(parse_offset("-0800").unwrap().local_minus_utc(), -28_800);
        assert_eq!(parse_offset("Z").unwrap().local_minus_utc(), 0);
        for bad in ["", "+", "+24:00", "Europe/Paris", "+1:00", "+01:60"] {
            assert!(parse_offset(bad).is_none(), "{bad}");
        }
    }
}
