//! Serde helpers shared by the wire types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// For an optional field that may be absent but, when present, must not be `null`.
///
/// Use with `#[serde(default)]`: a missing field is `None`, an explicit `null` is rejected — the same verdict as
/// the JSON Schema, which types these fields as `"string"` (not `["string", "null"]`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Go encodes a nil map or slice as `null`; read that as empty.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Seconds from the Unix epoch to Go's zero `time.Time` (`0001-01-01T00:00:00Z`).
const GO_ZERO_TIME_UNIX_SECONDS: i64 = -62_135_596_800;

/// An OPA timestamp: Go marshals a `time.Time` that was never set as `0001-01-01T00:00:00Z`, which means "never";
/// read it (and `null`) as `None`.
pub(crate) fn go_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let time = Option::<DateTime<Utc>>::deserialize(deserializer)?;
    Ok(time.filter(|t| {
        !(t.timestamp() == GO_ZERO_TIME_UNIX_SECONDS && t.timestamp_subsec_nanos() == 0)
    }))
}
