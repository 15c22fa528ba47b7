//! Helpers shared by the bundle crate's integration tests: raw archive writers that can
//! produce anything an attacker could (the crate's own writer refuses most of it).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// One raw tar entry.
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<&'static str>,
}

pub fn file(name: &str, data: &[u8]) -> Entry {
    Entry {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

/// A tar (not gzipped) with headers written byte for byte, so `..`, absolute paths and odd
/// types survive.
pub fn raw_tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        {
            let bytes = header.as_mut_bytes();
            bytes[..100].fill(0);
            bytes[..entry.name.len()].copy_from_slice(&entry.name);
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o644);
        if let Some(link) = entry.link {
            header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, entry.data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn targz(entries: &[Entry]) -> Vec<u8> {
    gzip(&raw_tar(entries))
}

/// The repository's `bundles/` folder.
pub fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles")
}

pub const PERSONAS: [&str; 3] = ["hr-bot", "it-bot", "dev-bot"];

/// Writes `files` (path → contents) under a new temp dir.
pub fn source_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }
    dir
}

/// A small valid persona source folder.
pub fn tiny_persona() -> tempfile::TempDir {
    source_dir(&[
        (
            "regent.yaml",
            "persona: tiny-bot\nentrypoint: regent/persona/decision\nroots: [regent]\nmount: regent/persona\n",
        ),
        (
            "policy.rego",
            r#"package regent.persona

default decision := {"allow": false, "reasons": [{"code": "no_decision", "message": "denied"}], "obligations": []}

decision := {"allow": true, "reasons": [{"code": "ok", "message": "listed tool"}], "obligations": []} if {
	input.action.tool.name in data.regent.persona.tools
}
"#,
        ),
        (
            "policy_test.rego",
            r#"package regent.persona_test

import data.regent.persona

test_listed_tool_allowed if {
	persona.decision.allow with input as {"action": {"tool": {"name": "echo"}}}
}

test_other_tool_denied if {
	not persona.decision.allow with input as {"action": {"tool": {"name": "rm"}}}
}
"#,
        ),
        ("data.json", r#"{"tools": ["echo"]}"#),
    ])
}
