//! File-level and line-level differences between two revisions' bundles.

use std::collections::BTreeMap;

use regent_bundle::{Bundle, SIGNATURES};
use serde::Serialize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Removed,
    Modified,
}

/// One changed file; `unified` is a unified diff for text files.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    pub path: String,
    pub status: FileStatus,
    pub lines_added: usize,
    pub lines_removed: usize,
    pub unified: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleDiff {
    pub from: String,
    pub to: String,
    pub files: Vec<FileDiff>,
    pub unchanged: usize,
}

/// Text for diffing: pretty-printed JSON for data and manifest (so one changed key is one
/// changed line), the bytes as UTF-8 otherwise; `None` for binary.
fn text(path: &str, bytes: &[u8]) -> Option<String> {
    if (path.ends_with(".json") || path == regent_bundle::MANIFEST)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        return serde_json::to_string_pretty(&value).ok().map(|s| s + "\n");
    }
    String::from_utf8(bytes.to_vec()).ok()
}

/// Compares every file except `.signatures.json` (signatures always differ).
pub fn diff(from_name: &str, from: &Bundle, to_name: &str, to: &Bundle) -> BundleDiff {
    let index = |b: &Bundle| -> BTreeMap<String, Vec<u8>> {
        b.files
            .iter()
            .filter(|f| f.path != SIGNATURES)
            .map(|f| (f.path.clone(), f.bytes.clone()))
            .collect()
    };
    let (old, new) = (index(from), index(to));
    let mut files = Vec::new();
    let mut unchanged = 0;
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for path in paths {
        let (a, b) = (old.get(path), new.get(path));
        let status = match (a, b) {
            (Some(a), Some(b)) if a == b => {
                unchanged += 1;
                continue;
            }
            (Some(_), Some(_)) => FileStatus::Modified,
            (None, Some(_)) => FileStatus::Added,
            (Some(_), None) => FileStatus::Removed,
            (None, None) => continue,
        };
        let a_text = a.map_or(Some(String::new()), |a| text(path, a));
        let b_text = b.map_or(Some(String::new()), |b| text(path, b));
        let (unified, lines_added, lines_removed) = match (a_text, b_text) {
            (Some(a), Some(b)) => {
                let diff = TextDiff::from_lines(&a, &b);
                let mut added = 0;
                let mut removed = 0;
                for change in diff.iter_all_changes() {
                    match change.tag() {
                        ChangeTag::Insert => added += 1,
                        ChangeTag::Delete => removed += 1,
                        ChangeTag::Equal => {}
                    }
                }
                let unified = diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{from_name}/{path}"), &format!("{to_name}/{path}"))
                    .to_string();
                (Some(unified), added, removed)
            }
            _ => (None, 0, 0),
        };
        files.push(FileDiff {
            path: path.clone(),
            status,
            lines_added,
            lines_removed,
            unified,
        });
    }
    BundleDiff {
        from: from_name.to_owned(),
        to: to_name.to_owned(),
        files,
        unchanged,
    }
}
