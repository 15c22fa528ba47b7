//! TEMPORARY stand-in until canonical.rs lands (not OPA-exact). Do not commit.
use std::borrow::Cow;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CanonicalError(String);
pub fn is_structured(path: &str) -> bool {
    matches!(
        crate::path::basename(path),
        "data.json" | "data.yaml" | ".manifest"
    ) || path.ends_with("signatures.json")
}
pub fn canonical_yaml(bytes: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    let v: serde_json::Value =
        yaml_serde::from_slice(bytes).map_err(|e| CanonicalError(e.to_string()))?;
    serde_json::to_vec(&v).map_err(|e| CanonicalError(e.to_string()))
}
pub fn canonical_bytes<'a>(path: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, CanonicalError> {
    if !is_structured(path) {
        return Ok(Cow::Borrowed(bytes));
    }
    if path.ends_with(".yaml") {
        return canonical_yaml(bytes).map(Cow::Owned);
    }
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError(e.to_string()))?;
    serde_json::to_vec(&v)
        .map(Cow::Owned)
        .map_err(|e| CanonicalError(e.to_string()))
}
