//! A parsed bundle: manifest, modules, merged data, signatures, and every file as stored.

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::archive::{self, RawFile};
use crate::manifest::{Manifest, RegoVersion};
use crate::{Limits, ReadError, path};

/// Normalised path of the manifest.
pub const MANIFEST: &str = ".manifest";
/// Normalised path of the signatures file.
pub const SIGNATURES: &str = ".signatures.json";

/// A Rego module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub source: String,
    pub rego_version: RegoVersion,
}

/// OPA's `.signatures.json`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct SignaturesFile {
    #[serde(default)]
    pub signatures: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

/// A bundle read from an archive or built from a folder.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    /// Every regular file, sorted by path, including `.manifest` and `.signatures.json`.
    pub files: Vec<RawFile>,
    pub modules: Vec<Module>,
    /// All data files merged at their directory paths (an object).
    pub data: Value,
    pub signatures: Option<SignaturesFile>,
}

/// Reads a bundle archive (OPA's tar.gz) under `limits`.
pub fn read_bundle(archive: &[u8], limits: &Limits) -> Result<Bundle, ReadError> {
    Bundle::from_files(archive::unpack(archive, limits)?, limits)
}

impl Bundle {
    /// Assembles a bundle from unpacked files, checking manifest, roots and data.
    pub fn from_files(mut files: Vec<RawFile>, limits: &Limits) -> Result<Bundle, ReadError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = match files.iter().find(|f| f.path == MANIFEST) {
            Some(f) => Manifest::parse(&f.bytes)?,
            None => Manifest::default(),
        };
        if !manifest.wasm.is_empty() {
            return Err(ReadError::WasmUnsupported {
                path: MANIFEST.into(),
            });
        }
        let mut modules = Vec::new();
        let mut data = Value::Object(Map::new());
        let mut signatures = None;
        for file in &files {
            let name = path::basename(&file.path);
            if file.path == SIGNATURES {
                signatures = Some(parse_signatures(&file.bytes)?);
            } else if name == "policy.wasm" {
                return Err(ReadError::WasmUnsupported {
                    path: file.path.clone(),
                });
            } else if name == "patch.json" {
                return Err(ReadError::DeltaUnsupported);
            } else if file.path.ends_with(".rego") {
                let source =
                    String::from_utf8(file.bytes.clone()).map_err(|e| ReadError::NonUtf8File {
                        path: file.path.clone(),
                        detail: e.utf8_error().to_string(),
                    })?;
                modules.push(Module {
                    rego_version: manifest.rego_version_for(&file.path),
                    path: file.path.clone(),
                    source,
                });
            } else if matches!(name, "data.json" | "data.yaml" | "data.yml") {
                let value = parse_data(file, limits)?;
                let dir = path::data_dir(&file.path);
                check_data_roots(&manifest, &file.path, dir, &value)?;
                insert_data(&mut data, &path::segments(dir), value, &file.path)?;
            }
        }
        Ok(Bundle {
            manifest,
            files,
            modules,
            data,
            signatures,
        })
    }

    /// The same files under `manifest`, read again so data and roots are checked against it.
    pub fn with_manifest(mut self, manifest: &Manifest) -> Result<Bundle, ReadError> {
        self.files.retain(|f| f.path != MANIFEST);
        self.files.push(RawFile {
            path: MANIFEST.into(),
            bytes: manifest.to_bytes(),
        });
        Bundle::from_files(self.files, &Limits::DEFAULT)
    }

    /// The file stored at normalised `path`.
    pub fn file(&self, path: &str) -> Option<&RawFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The identity of what this bundle does: SHA-256 (hex) over every file except `.manifest`
    /// and `.signatures.json` (path and raw bytes), plus the manifest fields that change
    /// evaluation (`roots`, `rego_version`, `file_rego_versions`). Revision strings, metadata
    /// and signatures do not change it, so re-stamping or re-signing keeps the same identity.
    pub fn content_digest(&self) -> String {
        let mut hasher = Sha256::new();
        for file in &self.files {
            if file.path == MANIFEST || file.path == SIGNATURES {
                continue;
            }
            let file_hash = Sha256::digest(&file.bytes);
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(hex(&file_hash).as_bytes());
            hasher.update(b"\n");
        }
        let semantic = serde_json::json!({
            "roots": self.manifest.effective_roots(),
            "rego_version": self.manifest.rego_version.unwrap_or(1),
            "file_rego_versions": self.manifest.file_rego_versions,
        });
        hasher.update(b"manifest\0");
        hasher.update(semantic.to_string().as_bytes());
        hex(&hasher.finalize())
    }

    /// Total uncompressed size of all files, in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn parse_signatures(bytes: &[u8]) -> Result<SignaturesFile, ReadError> {
    serde_json::from_slice(bytes).map_err(|e| ReadError::InvalidSignaturesFile {
        detail: format!("line {} column {}: {e}", e.line(), e.column()),
    })
}

fn parse_data(file: &RawFile, limits: &Limits) -> Result<Value, ReadError> {
    let bytes = file
        .bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&file.bytes);
    let value = if file.path.ends_with(".json") {
        serde_json::from_slice::<Value>(bytes).map_err(|e| {
            if e.to_string().contains("recursion limit") {
                ReadError::DataTooDeep {
                    path: file.path.clone(),
                    limit: limits.max_data_depth,
                }
            } else {
                ReadError::MalformedJson {
                    path: file.path.clone(),
                    line: e.line(),
                    column: e.column(),
                    detail: e.to_string(),
                }
            }
        })?
    } else {
        let json =
            crate::canonical::canonical_yaml(bytes).map_err(|e| ReadError::MalformedYaml {
                path: file.path.clone(),
                detail: e.to_string(),
            })?;
        serde_json::from_slice::<Value>(&json).map_err(|e| ReadError::MalformedYaml {
            path: file.path.clone(),
            detail: e.to_string(),
        })?
    };
    if depth(&value) > limits.max_data_depth {
        return Err(ReadError::DataTooDeep {
            path: file.path.clone(),
            limit: limits.max_data_depth,
        });
    }
    if path::data_dir(&file.path).is_empty() && !value.is_object() {
        return Err(ReadError::DataRootNotObject {
            path: file.path.clone(),
        });
    }
    Ok(value)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Refuses data that lands outside every manifest root. Data at a path that is a prefix of a
/// root (e.g. a root `data.json` holding `{"regent": …}` with root `regent`) is checked key by key.
fn check_data_roots(
    manifest: &Manifest,
    file: &str,
    dir: &str,
    value: &Value,
) -> Result<(), ReadError> {
    let roots = manifest.effective_roots();
    let mut pending = vec![(path::segments(dir).join("/"), value)];
    while let Some((at, value)) = pending.pop() {
        let segments = path::segments(&at);
        if manifest.permits(&segments) {
            continue;
        }
        let prefix_of_root = roots
            .iter()
            .any(|r| path::is_under(&path::segments(r), &segments));
        match value {
            Value::Object(map) if prefix_of_root => {
                for (key, child) in map {
                    let child_path = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}/{key}")
                    };
                    pending.push((child_path, child));
                }
            }
            _ => {
                return Err(ReadError::DataOutsideRoots {
                    path: file.to_owned(),
                    data_path: at,
                    roots,
                });
            }
        }
    }
    Ok(())
}

/// Deep-merges `value` into `data` at `at`; two non-object values at one path conflict.
fn insert_data(data: &mut Value, at: &[&str], value: Value, file: &str) -> Result<(), ReadError> {
    let conflict = || ReadError::DataConflict {
        path: file.to_owned(),
        data_path: at.join("/"),
    };
    let mut node = data;
    for segment in at {
        let Value::Object(map) = node else {
            return Err(conflict());
        };
        node = map
            .entry((*segment).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    merge(node, value).map_err(|()| conflict())
}

fn merge(into: &mut Value, value: Value) -> Result<(), ()> {
    match (into, value) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, child) in source {
                match target.get_mut(&key) {
                    Some(existing) => merge(existing, child)?,
                    None => {
                        target.insert(key, child);
                    }
                }
            }
            Ok(())
        }
        (slot @ Value::Object(_), value) if slot.as_object().is_some_and(Map::is_empty) => {
            // An empty object was only a placeholder created on the way down.
            *slot = value;
            Ok(())
        }
        _ => Err(()),
    }
}
