//! The hostile-archive catalogue: each attack is refused with its own error, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use common::{Entry, file, gzip, raw_tar, targz};
use proptest::prelude::*;
use regent_bundle::{Limits, ReadError, read_bundle};

fn read(archive: &[u8]) -> Result<regent_bundle::Bundle, ReadError> {
    read_bundle(archive, &Limits::DEFAULT)
}

fn entry(name: &[u8], kind: tar::EntryType, link: Option<&'static str>) -> Entry {
    Entry {
        name: name.to_vec(),
        kind,
        data: Vec::new(),
        link,
    }
}

const MODULE: &[u8] = b"package x\nallow := true\n";

#[test]
fn archive_over_the_size_limit() {
    let archive = targz(&[file("a.rego", MODULE)]);
    let limits = Limits {
        max_archive_bytes: 10,
        ..Limits::DEFAULT
    };
    let err = read_bundle(&archive, &limits).unwrap_err();
    assert!(
        matches!(err, ReadError::ArchiveTooLarge { limit: 10, .. }),
        "{err}"
    );
}

#[test]
fn not_gzip_at_all() {
    let err = read(b"PK\x03\x04 this is a zip").unwrap_err();
    assert!(matches!(err, ReadError::NotGzip { .. }), "{err}");
}

#[test]
fn corrupt_deflate_stream() {
    let mut archive = targz(&[file("a.rego", MODULE)]);
    let len = archive.len();
    for b in &mut archive[12..len - 8] {
        *b ^= 0x5a;
    }
    let err = read(&archive).unwrap_err();
    assert!(
        matches!(err, ReadError::NotGzip { .. } | ReadError::NotTar { .. }),
        "{err}"
    );
}

#[test]
fn gzip_of_something_that_is_not_tar() {
    let err = read(&gzip(&[0x41; 1024])).unwrap_err();
    assert!(matches!(err, ReadError::NotTar { .. }), "{err}");
}

#[test]
fn too_many_entries() {
    let entries: Vec<Entry> = (0..20)
        .map(|i| file(&format!("m{i}.rego"), MODULE))
        .collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::DEFAULT
    };
    let err = read_bundle(&targz(&entries), &limits).unwrap_err();
    assert_eq!(err, ReadError::TooManyEntries { limit: 10 });
}

#[test]
fn file_over_the_per_file_limit() {
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::DEFAULT
    };
    let err = read_bundle(&targz(&[file("big.rego", &[b'#'; 1001])]), &limits).unwrap_err();
    assert!(
        matches!(&err, ReadError::FileTooLarge { path, size: 1001, limit: 1000 } if path == "big.rego"),
        "{err}"
    );
}

#[test]
fn total_over_the_limit() {
    let limits = Limits {
        max_total_bytes: 1500,
        ..Limits::DEFAULT
    };
    let entries = [file("a.rego", &[b'#'; 1000]), file("b.rego", &[b'#'; 1000])];
    let err = read_bundle(&targz(&entries), &limits).unwrap_err();
    assert_eq!(err, ReadError::TotalTooLarge { limit: 1500 });
}

#[test]
fn gzip_bomb_is_caught_by_the_ratio_while_inflating() {
    // 64 MiB of zeros compresses to ~64 KiB: a ratio near 1000.
    let zeros = vec![0u8; 64 * 1024 * 1024];
    let archive = targz(&[file("data.json", &zeros)]);
    assert!(archive.len() < 200 * 1024);
    let err = read(&archive).unwrap_err();
    assert!(
        matches!(err, ReadError::CompressionRatio { limit: 200, .. }),
        "{err}"
    );
}

#[test]
fn non_utf8_entry_name() {
    let err = read(&targz(&[Entry {
        name: b"policy/\xff\xfe.rego".to_vec(),
        kind: tar::EntryType::Regular,
        data: MODULE.to_vec(),
        link: None,
    }]))
    .unwrap_err();
    assert!(matches!(err, ReadError::NonUtf8Path { .. }), "{err}");
}

#[test]
fn dot_dot_traversal() {
    for name in ["../evil.rego", "/policy/../../evil.rego", "a/../../b.rego"] {
        let err = read(&targz(&[file(name, MODULE)])).unwrap_err();
        assert!(
            matches!(err, ReadError::PathTraversal { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn absolute_paths_after_normalisation() {
    for name in ["//etc/passwd", "C:/windows/x.rego"] {
        let err = read(&targz(&[file(name, MODULE)])).unwrap_err();
        assert!(
            matches!(err, ReadError::AbsolutePath { .. }),
            "{name}: {err}"
        );
    }
}

#[test]
fn links_are_refused() {
    let err = read(&targz(&[entry(
        b"x.rego",
        tar::EntryType::Symlink,
        Some("/etc/passwd"),
    )]))
    .unwrap_err();
    assert_eq!(
        err,
        ReadError::LinkEntry {
            path: "x.rego".into(),
            kind: "symbolic link"
        }
    );
    let err = read(&targz(&[entry(
        b"y.rego",
        tar::EntryType::Link,
        Some("x.rego"),
    )]))
    .unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::LinkEntry {
                kind: "hard link",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn devices_are_refused() {
    for (kind, name) in [
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "named pipe"),
    ] {
        let err = read(&targz(&[entry(b"dev", kind, None)])).unwrap_err();
        assert!(
            matches!(&err, ReadError::DeviceEntry { kind, .. } if *kind == name),
            "{err}"
        );
    }
}

#[test]
fn duplicate_entries_including_opa_and_regent_spellings() {
    let err = read(&targz(&[file("/a.rego", MODULE), file("a.rego", MODULE)])).unwrap_err();
    assert!(
        matches!(&err, ReadError::DuplicateEntry { path, first, second } if path == "a.rego" && first == "/a.rego" && second == "a.rego"),
        "{err}"
    );
}

#[test]
fn over_long_path() {
    // Long names travel in GNU long-name entries; the limit applies to the decoded name.
    let name = format!("{}.rego", "a/".repeat(600));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(MODULE.len() as u64);
    builder.append_data(&mut header, &name, MODULE).unwrap();
    let err = read(&gzip(&builder.into_inner().unwrap())).unwrap_err();
    assert!(matches!(err, ReadError::PathTooLong { .. }), "{err}");
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let err = read(&targz(&[file("x/data.json", b"{\n  \"a\": [1, 2,]\n}")])).unwrap_err();
    assert!(
        matches!(&err, ReadError::MalformedJson { path, line: 2, .. } if path == "x/data.json"),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("`x/data.json` line 2 column"),
        "{err}"
    );
}

#[test]
fn malformed_yaml() {
    let err = read(&targz(&[file("x/data.yaml", b"a: [1, 2\nb: {")])).unwrap_err();
    assert!(
        matches!(&err, ReadError::MalformedYaml { path, .. } if path == "x/data.yaml"),
        "{err}"
    );
}

#[test]
fn root_data_must_be_an_object() {
    let err = read(&targz(&[file("data.json", b"[1, 2]")])).unwrap_err();
    assert!(matches!(err, ReadError::DataRootNotObject { .. }), "{err}");
}

#[test]
fn deeply_nested_data() {
    let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
    let limits = Limits {
        max_data_depth: 64,
        ..Limits::DEFAULT
    };
    let err = read_bundle(&targz(&[file("x/data.json", deep.as_bytes())]), &limits).unwrap_err();
    assert!(
        matches!(err, ReadError::DataTooDeep { limit: 64, .. }),
        "{err}"
    );
    // Beyond serde_json's own recursion limit it is still the same typed error.
    let deeper = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let err = read(&targz(&[file("x/data.json", deeper.as_bytes())])).unwrap_err();
    assert!(matches!(err, ReadError::DataTooDeep { .. }), "{err}");
}

#[test]
fn conflicting_data_files() {
    let err = read(&targz(&[
        file("data.json", br#"{"a": {"b": 1}}"#),
        file("a/b/data.json", br#"2"#),
    ]))
    .unwrap_err();
    assert!(matches!(err, ReadError::DataConflict { .. }), "{err}");
}

#[test]
fn data_outside_the_manifest_roots() {
    let manifest = br#"{"revision": "1", "roots": ["regent"]}"#;
    let err = read(&targz(&[
        file(".manifest", manifest),
        file("data.json", br#"{"regent": {"ok": 1}, "other": {"x": 1}}"#),
    ]))
    .unwrap_err();
    assert!(
        matches!(&err, ReadError::DataOutsideRoots { data_path, .. } if data_path == "other"),
        "{err}"
    );
    let err = read(&targz(&[
        file(".manifest", manifest),
        file("elsewhere/data.json", br#"{"x": 1}"#),
    ]))
    .unwrap_err();
    assert!(matches!(err, ReadError::DataOutsideRoots { .. }), "{err}");
}

#[test]
fn overlapping_roots() {
    let err = read(&targz(&[file(
        ".manifest",
        br#"{"roots": ["a/b", "a/b/c"]}"#,
    )]))
    .unwrap_err();
    assert_eq!(
        err,
        ReadError::OverlappingRoots {
            first: "a/b".into(),
            second: "a/b/c".into()
        }
    );
    // Segment-wise: `a/bc` does not overlap `a/b`.
    read(&targz(&[file(
        ".manifest",
        br#"{"roots": ["a/b", "a/bc"]}"#,
    )]))
    .unwrap();
}

#[test]
fn invalid_manifest() {
    for manifest in [
        &br#"{"rego_version": 7}"#[..],
        br#"{"revision": 12}"#,
        b"not json",
    ] {
        let err = read(&targz(&[file(".manifest", manifest)])).unwrap_err();
        assert!(matches!(err, ReadError::InvalidManifest { .. }), "{err}");
    }
}

#[test]
fn invalid_signatures_file() {
    let err = read(&targz(&[file(".signatures.json", b"{\"signatures\": 5}")])).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidSignaturesFile { .. }),
        "{err}"
    );
}

#[test]
fn non_utf8_module() {
    let err = read(&targz(&[file("a.rego", b"package a\n\xff\n")])).unwrap_err();
    assert!(matches!(err, ReadError::NonUtf8File { .. }), "{err}");
}

#[test]
fn wasm_and_delta_bundles_are_refused_explicitly() {
    let err = read(&targz(&[file("policy.wasm", b"\0asm")])).unwrap_err();
    assert!(matches!(err, ReadError::WasmUnsupported { .. }), "{err}");
    let err = read(&targz(&[file("patch.json", br#"{"data": []}"#)])).unwrap_err();
    assert_eq!(err, ReadError::DeltaUnsupported);
}

#[test]
fn directories_and_pax_headers_are_fine() {
    let mut tar = raw_tar(&[
        entry(b"policy/", tar::EntryType::Directory, None),
        file("policy/a.rego", MODULE),
    ]);
    // Append a PAX-named file through the tar crate's own long-name support.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(MODULE.len() as u64);
    header.set_mode(0o644);
    let long = format!("policy/{}/b.rego", "d".repeat(150));
    builder.append_data(&mut header, &long, MODULE).unwrap();
    let extra = builder.into_inner().unwrap();
    tar.truncate(tar.len() - 1024); // drop the end-of-archive blocks
    tar.extend_from_slice(&extra);
    let bundle = read(&gzip(&tar)).unwrap();
    assert_eq!(bundle.modules.len(), 2);
    assert_eq!(bundle.modules[1].path, long);
}

/// A valid signed-style bundle to mutate.
fn valid_archive() -> Vec<u8> {
    targz(&[
        file(
            "/.manifest",
            br#"{"revision":"r1","roots":["x"],"rego_version":1}"#,
        ),
        file("/data.json", br#"{"x":{"limits":{"max":3}}}"#),
        file(
            "/x/policy.rego",
            b"package x\n\ndefault allow := false\nallow if input.n < data.x.limits.max\n",
        ),
        file("/x/more/data.yaml", b"names:\n  - a\n  - b\n"),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read(&bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&bytes);
        let _ = read(&gz);
    }

    #[test]
    fn mutated_valid_archives_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut archive = valid_archive();
        for (at, byte) in &flips {
            let i = at.index(archive.len());
            archive[i] ^= byte | 1;
        }
        if let Some(at) = truncate {
            archive.truncate(at.index(archive.len()));
        }
        let _ = read(&archive);
    }

    #[test]
    fn mutated_tar_streams_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        // Mutate the tar inside a valid gzip, so the tar parser sees the damage.
        let mut tar = raw_tar(&[
            file("/.manifest", br#"{"revision":"r1","roots":["x"]}"#),
            file("/x/data.json", br#"{"a":[1,2,{"b":null}]}"#),
            file("/x/p.rego", b"package x\nallow := true\n"),
        ]);
        for (at, byte) in &flips {
            let i = at.index(tar.len());
            tar[i] ^= byte | 1;
        }
        let _ = read(&gzip(&tar));
    }
}

#[test]
fn the_unmutated_fuzz_seed_is_valid() {
    let bundle = read(&valid_archive()).unwrap();
    assert_eq!(bundle.modules.len(), 1);
    assert_eq!(
        bundle.data["x"]["more"]["names"],
        serde_json::json!(["a", "b"])
    );
}
