//! The shipped persona bundles as fixtures: a copy of `bundles/` a test may edit, and their
//! `cases.yaml` inputs and expectations.

use std::path::{Path, PathBuf};

use regent_bundle::cases::Case;
use serde_json::Value;

use crate::bins::workspace_root;

pub const PERSONAS: [&str; 3] = ["hr-bot", "it-bot", "dev-bot"];

/// Copies the repository's `bundles/` (personas, `lib/`, `tools/`: persona folders include
/// their siblings by relative path) into `dest`; returns `dest`.
pub fn copy_bundles(dest: &Path) -> PathBuf {
    copy_dir(&workspace_root().join("bundles"), dest);
    dest.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The cases of `<bundles>/<persona>/cases.yaml` (input → expected decision).
pub fn cases(bundles: &Path, persona: &str) -> Vec<Case> {
    regent_bundle::cases::load(&bundles.join(persona).join(regent_bundle::cases::CASES_FILE))
        .unwrap()
        .cases
}

/// Differences between a decision and a case's expectation (empty: as expected).
pub fn mismatches(decision: &Value, case: &Case) -> Vec<String> {
    regent_bundle::cases::compare(decision, &case.expect)
}

/// The reason codes of a decision.
pub fn reason_codes(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
