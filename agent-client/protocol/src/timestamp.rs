//! RFC 3339 timestamps as they appear in the policy input.

use std::fmt;

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeZone};
use serde::{Deserialize, Serialize};

/// An RFC 3339 date-time as written on the wire, e.g. `2026-11-24T10:15:00Z`.
///
/// The text is kept exactly as given, so the policy sees what the agent sent. Accepted form (the same as the
/// schema's `pattern` in `agent-action.v1.json`, and what OPA's `time.parse_rfc3339_ns` reads):
/// `YYYY-MM-DDTHH:MM:SS[.f]` then `Z` or `±HH:MM`, with an upper-case `T` and `Z`, 1–9 fraction digits, no leap
/// second, and a real calendar date.
///
/// Deserialising does **not** check the text, so that [`AgentActionV1::validate`](crate::AgentActionV1::validate)
/// can name the field that is wrong; [`Timestamp::parse`] checks, and a timestamp made from a
/// [`chrono::DateTime`] in years 0–9999 is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

/// A string that is not an RFC 3339 date-time in the form Regent accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}` is not an RFC 3339 date-time; use the form `2026-11-24T10:15:00Z` or `2026-11-24T11:15:00.5+01:00`"
)]
pub struct TimestampError {
    /// The rejected text.
    pub value: String,
}

impl Timestamp {
    /// Checks `text` and wraps it.
    pub fn parse(text: impl Into<String>) -> Result<Self, TimestampError> {
        let timestamp = Self(text.into());
        timestamp.to_datetime()?;
        Ok(timestamp)
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instant, with the offset as written. Fails if the text is not in the accepted form.
    pub fn to_datetime(&self) -> Result<DateTime<FixedOffset>, TimestampError> {
        let error = || TimestampError {
            value: self.0.clone(),
        };
        if !has_accepted_shape(self.0.as_bytes()) {
            return Err(error());
        }
        // The shape check leaves only calendar validity (e.g. `02-30`) to chrono.
        DateTime::parse_from_rfc3339(&self.0).map_err(|_| error())
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Timestamp {
    /// Formats with `Z` for UTC and 0, 3, 6 or 9 fraction digits, e.g. `2026-11-24T10:15:00.250Z`.
    fn from(time: DateTime<Tz>) -> Self {
        Self(time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads `len` ASCII digits at `at`.
fn number(bytes: &[u8], at: usize, len: usize) -> Option<u32> {
    bytes.get(at..at + len)?.iter().try_fold(0, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn in_range(bytes: &[u8], at: usize, min: u32, max: u32) -> bool {
    number(bytes, at, 2).is_some_and(|n| (min..=max).contains(&n))
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`; keep in step with the `pattern` of `$defs/timestamp` in
/// `bundles/schema/agent-action.v1.json`.
fn has_accepted_shape(b: &[u8]) -> bool {
    let date_time = number(b, 0, 4).is_some()
        && b.get(4) == Some(&b'-')
        && in_range(b, 5, 1, 12)
        && b.get(7) == Some(&b'-')
        && in_range(b, 8, 1, 31)
        && b.get(10) == Some(&b'T')
        && in_range(b, 11, 0, 23)
        && b.get(13) == Some(&b':')
        && in_range(b, 14, 0, 59)
        && b.get(16) == Some(&b':')
        && in_range(b, 17, 0, 59);
    if !date_time {
        return false;
    }
    let mut rest = b.get(19..).unwrap_or_default();
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return false;
        }
        rest = fraction.get(digits..).unwrap_or_default();
    }
    match rest {
        b"Z" => true,
        [b'+' | b'-', offset @ ..] => {
            offset.len() == 5
                && in_range(offset, 0, 0, 23)
                && offset.get(2) == Some(&b':')
                && in_range(offset, 3, 0, 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        for ok in [
            "2026-11-24T10:15:00Z",
            "2026-11-24T10:15:00.5Z",
            "2026-11-24T10:15:00.123456789+01:00",
            "2024-02-29T23:59:59-23:59",
        ] {
            assert_eq!(
                Timestamp::parse(ok).map(|t| t.to_string()),
                Ok(ok.to_owned())
            );
        }
    }

    #[test]
    fn rejects_what_opa_cannot_read() {
        for bad in [
            "2026-11-24t10:15:00Z",
            "2026-11-24T10:15:00z",
            "2026-11-24 10:15:00Z",
            "2026-11-24T10:15:00",
            "2026-11-24T10:15:60Z",
            "2026-11-24T10:15:00.Z",
            "2026-11-24T10:15:00.1234567890Z",
            "2025-02-29T10:15:00Z",
            "2026-11-24T10:15:00+0100",
            "2026-11-24T10:15:00Z ",
            "yesterday",
            "",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn from_datetime_is_valid_and_uses_z() {
        let time = DateTime::parse_from_rfc3339("2026-11-24T11:15:00.25+01:00")
            .map(|t| t.with_timezone(&chrono::Utc));
        let timestamp = time.map(Timestamp::from);
        assert_eq!(
            timestamp.as_ref().map(Timestamp::as_str),
            Ok("2026-11-24T10:15:00.250Z")
        );
        assert!(timestamp.is_ok_and(|t| t.to_datetime().is_ok()));
    }
}
