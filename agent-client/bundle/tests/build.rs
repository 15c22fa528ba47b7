//! Deterministic builds: the same folder gives byte-identical archives, whatever the files' mtimes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use regent_bundle::{BuildOptions, Limits, build_dir, read_bundle};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    regent_bundle::bundle::hex(&Sha256::digest(bytes))
}

fn build(dir: &Path) -> Vec<u8> {
    build_dir(dir, &BuildOptions::default())
        .unwrap()
        .to_archive()
        .unwrap()
}

/// Copies `from` to `to` recursively, stamping every file with `mtime`.
fn copy_tree(from: &Path, to: &Path, mtime: SystemTime) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target, mtime);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let file = std::fs::File::options().write(true).open(&target).unwrap();
            file.set_modified(mtime).unwrap();
        }
    }
}

#[test]
fn every_persona_builds_identically_twice_and_from_a_copy_with_other_mtimes() {
    let copy = tempfile::tempdir().unwrap();
    // Includes reach `../lib` and `../tools`, so copy the whole bundles folder.
    let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    copy_tree(&common::bundles_dir(), copy.path(), past);
    for persona in common::PERSONAS {
        let first = build(&common::bundles_dir().join(persona));
        let second = build(&common::bundles_dir().join(persona));
        let copied = build(&copy.path().join(persona));
        assert_eq!(
            sha256(&first),
            sha256(&second),
            "{persona}: two builds differ"
        );
        assert_eq!(
            sha256(&first),
            sha256(&copied),
            "{persona}: copy with other mtimes differs"
        );
        let bundle = read_bundle(&first, &Limits::DEFAULT).unwrap();
        assert_eq!(bundle.manifest.persona(), Some(persona));
        assert!(bundle.modules.len() >= 3, "{persona}: too few modules");
    }
}

#[test]
fn archive_has_fixed_headers_and_relative_sorted_entries() {
    let dir = common::tiny_persona();
    let archive = build(dir.path());
    // gzip header: magic, deflate, no flags, mtime 0, OS 255 (unknown).
    assert_eq!(&archive[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&archive[4..8], &[0, 0, 0, 0]);
    assert_eq!(archive[9], 255);

    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(archive.as_slice())
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut tar = tar::Archive::new(tar_bytes.as_slice());
    let mut names = Vec::new();
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mtime().unwrap(), 0);
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.mode().unwrap(), 0o644);
        assert_eq!(header.entry_type(), tar::EntryType::Regular);
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().all(|n| !n.starts_with('/')), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(
        names,
        [
            ".manifest",
            "data.json",
            "regent/persona/policy.rego",
            "regent/persona/policy_test.rego"
        ]
    );
}

#[test]
fn data_is_merged_into_one_root_data_json_and_manifest_is_stamped() {
    let dir = common::tiny_persona();
    let bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    let data = bundle.file("data.json").unwrap();
    assert_eq!(
        std::str::from_utf8(&data.bytes).unwrap(),
        r#"{"regent":{"persona":{"tools":["echo"]}}}"#
    );
    let manifest = &bundle.manifest;
    assert_eq!(manifest.revision, bundle.content_digest());
    assert_eq!(manifest.roots.as_deref(), Some(&["regent".to_owned()][..]));
    assert_eq!(manifest.rego_version, Some(1));
    assert_eq!(manifest.persona(), Some("tiny-bot"));
    assert_eq!(manifest.entrypoint(), Some("regent/persona/decision"));
    // Written canonically: sorted keys, no whitespace.
    let text = String::from_utf8(bundle.file(".manifest").unwrap().bytes.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"metadata":{"regent":{"content_digest":""#),
        "{text}"
    );
}

#[test]
fn content_digest_ignores_revision_and_metadata_but_not_policy() {
    let dir = common::tiny_persona();
    let plain = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    let stamped = build_dir(
        dir.path(),
        &BuildOptions {
            revision: Some("hr-bot-42".into()),
            regent_metadata: serde_json::json!({"sequence": 42, "source": {"commit": "abc"}})
                .as_object()
                .unwrap()
                .clone(),
        },
    )
    .unwrap();
    assert_eq!(stamped.manifest.revision, "hr-bot-42");
    assert_eq!(stamped.manifest.sequence(), Some(42));
    assert_eq!(plain.content_digest(), stamped.content_digest());

    std::fs::write(dir.path().join("data.json"), r#"{"tools": ["echo", "ls"]}"#).unwrap();
    let changed = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    assert_ne!(plain.content_digest(), changed.content_digest());
}

#[test]
fn hidden_files_and_non_bundle_files_are_left_out() {
    let dir = common::tiny_persona();
    std::fs::write(dir.path().join("README.md"), "# docs").unwrap();
    std::fs::write(dir.path().join("cases.yaml"), "cases: []").unwrap();
    std::fs::write(dir.path().join("._policy.rego"), "junk").unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/x.rego"), "junk").unwrap();
    let bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    let paths: Vec<_> = bundle.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
}

#[test]
fn bad_sources_are_refused_with_their_own_error() {
    use regent_bundle::BuildError;

    let dir = common::tiny_persona();
    std::fs::write(dir.path().join("regent.yaml"), "persona: [unclosed").unwrap();
    let err = build_dir(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, BuildError::Config { .. }), "{err}");
    assert!(err.to_string().contains("regent.yaml"), "{err}");

    let dir = common::tiny_persona();
    std::fs::write(
        dir.path().join("regent.yaml"),
        "persona: x\nunknown_key: 1\n",
    )
    .unwrap();
    let err = build_dir(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("unknown_key"), "{err}");

    let dir = common::tiny_persona();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("evil.rego")).unwrap();
    let err = build_dir(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(matches!(err, BuildError::Symlink { .. }), "{err}");

    let dir = common::tiny_persona();
    std::fs::write(dir.path().join("data.json"), r#"{"tools": ["echo"],}"#).unwrap();
    let err = build_dir(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Invalid(regent_bundle::ReadError::MalformedJson { .. })
        ),
        "{err}"
    );

    // Data outside the roots.
    let dir = common::tiny_persona();
    std::fs::create_dir(dir.path().join("other")).unwrap();
    std::fs::write(
        dir.path().join("regent.yaml"),
        "persona: tiny-bot\nroots: [regent]\nmount: elsewhere\n",
    )
    .unwrap();
    let err = build_dir(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Invalid(regent_bundle::ReadError::DataOutsideRoots { .. })
        ),
        "{err}"
    );
}
