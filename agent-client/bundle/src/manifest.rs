//! The `.manifest` file: OPA's fields, plus Regent's metadata under `metadata.regent`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ReadError, path};

/// OPA's bundle manifest. Unknown fields are ignored, as OPA does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_version: Option<i64>,
    /// Glob (absolute bundle path, e.g. `/legacy/*.rego`) → rego version. First match in key
    /// order wins (OPA leaves overlapping patterns undefined; we make them deterministic).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub file_rego_versions: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wasm: Vec<Value>,
}

/// Rego syntax version of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RegoVersion {
    V0,
    V1,
}

impl RegoVersion {
    fn from_int(v: i64, field: &str) -> Result<Self, ReadError> {
        match v {
            0 => Ok(RegoVersion::V0),
            1 => Ok(RegoVersion::V1),
            other => Err(ReadError::InvalidManifest {
                detail: format!("`{field}` is {other}; it must be 0 or 1"),
            }),
        }
    }

    pub fn as_int(self) -> i64 {
        match self {
            RegoVersion::V0 => 0,
            RegoVersion::V1 => 1,
        }
    }
}

/// The key under `metadata` where Regent keeps its own fields.
pub const REGENT_METADATA: &str = "regent";

impl Manifest {
    /// Parses `.manifest` bytes (a UTF-8 BOM is tolerated, as OPA does).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ReadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| ReadError::InvalidManifest {
                detail: format!("line {} column {}: {e}", e.line(), e.column()),
            })?;
        if let Some(v) = manifest.rego_version {
            RegoVersion::from_int(v, "rego_version")?;
        }
        for (glob, v) in &manifest.file_rego_versions {
            RegoVersion::from_int(*v, &format!("file_rego_versions[{glob}]"))?;
            globset::Glob::new(glob).map_err(|e| ReadError::InvalidManifest {
                detail: format!("`file_rego_versions` pattern `{glob}`: {e}"),
            })?;
        }
        manifest.check_roots()?;
        Ok(manifest)
    }

    /// The roots with OPA's defaults applied: `[""]` when absent; leading/trailing `/` trimmed.
    pub fn effective_roots(&self) -> Vec<String> {
        match &self.roots {
            None => vec![String::new()],
            Some(roots) => roots
                .iter()
                .map(|r| r.trim_matches('/').to_owned())
                .collect(),
        }
    }

    fn check_roots(&self) -> Result<(), ReadError> {
        let roots = self.effective_roots();
        for (i, a) in roots.iter().enumerate() {
            for b in &roots[i + 1..] {
                let (sa, sb) = (path::segments(a), path::segments(b));
                if path::is_under(&sa, &sb) || path::is_under(&sb, &sa) {
                    return Err(ReadError::OverlappingRoots {
                        first: a.clone(),
                        second: b.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether `data_path` (segments) is owned by one of the roots.
    pub fn permits(&self, data_path: &[&str]) -> bool {
        self.effective_roots()
            .iter()
            .any(|root| path::is_under(data_path, &path::segments(root)))
    }

    /// The rego version for the module at normalised `file_path`, honouring `file_rego_versions`
    /// (matched against the absolute form `/path`, as OPA does) and then `rego_version`.
    /// OPA 1.x assumes v1 when neither says.
    pub fn rego_version_for(&self, file_path: &str) -> RegoVersion {
        let absolute = format!("/{file_path}");
        for (glob, v) in &self.file_rego_versions {
            let matcher = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher());
            if let Ok(m) = matcher
                && (m.is_match(&absolute) || m.is_match(file_path))
            {
                return if *v == 0 {
                    RegoVersion::V0
                } else {
                    RegoVersion::V1
                };
            }
        }
        match self.rego_version {
            Some(0) => RegoVersion::V0,
            _ => RegoVersion::V1,
        }
    }

    fn regent(&self) -> Option<&Map<String, Value>> {
        self.metadata.get(REGENT_METADATA)?.as_object()
    }

    /// The persona this bundle is for (`metadata.regent.persona`), if it is a Regent persona bundle.
    pub fn persona(&self) -> Option<&str> {
        self.regent()?.get("persona")?.as_str()
    }

    /// The decision entrypoint (`metadata.regent.entrypoint`, e.g. `regent/persona/decision`).
    pub fn entrypoint(&self) -> Option<&str> {
        self.regent()?.get("entrypoint")?.as_str()
    }

    /// The strictly increasing revision sequence the control plane stamps (`metadata.regent.sequence`).
    pub fn sequence(&self) -> Option<u64> {
        self.regent()?.get("sequence")?.as_u64()
    }

    /// Sets `metadata.regent.<key>`, creating `metadata.regent` when missing.
    pub fn set_regent_field(&mut self, key: &str, value: Value) {
        let mut map = match self.metadata.remove(REGENT_METADATA) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.insert(key.to_owned(), value);
        self.metadata
            .insert(REGENT_METADATA.to_owned(), Value::Object(map));
    }

    /// Compact JSON with sorted keys; what Regent writes as `.manifest`.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Through `Value`: serde_json's Map is a BTreeMap (no `preserve_order` in this
        // workspace), so every object's keys come out sorted, the manifest's own included.
        serde_json::to_value(self)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_default()
    }
}
