//! Canonical bytes for hashing structured bundle files, checked against OPA's own algorithm.
//!
//! # How the expected values were produced
//!
//! `tests/fixtures/canonical/cases/` holds the inputs (JSON and YAML bodies, some with a BOM,
//! raw invalid UTF-8 or raw control bytes). A throwaway Go program (kept out of the repo) ran each
//! one through a copy of OPA's code path for structured files:
//!
//! - `util.Unmarshal` from `opa:v1/util/json.go@170e4a2c` without the extension hook: strip a
//!   UTF-8 BOM, then `json.Valid` ? `json.NewDecoder` + `UseNumber()` + trailing-token check :
//!   `sigs.k8s.io/yaml.YAMLToJSON` followed by the same decode;
//! - `walk` and `encodePrimitive` from `opa:v1/bundle/hash.go@170e4a2c`, copied verbatim
//!   (sorted keys, one `json.Encoder` with `SetEscapeHTML(false)` per scalar, newline trimmed).
//!
//! It wrote `expected/<case>.canon` (the canonical bytes) and one line per case to
//! `structured.txt` (`<sha256> <case> (json|yaml)` or `ERROR <case> (...): <Go error>`). A second
//! run in strict mode (BOM strip + the JSON decode only, no YAML fallback) over the `.json` cases
//! wrote `strict.txt`.
//!
//! Toolchain: Debian bookworm `golang-1.19` (go1.19.8), `golang-gopkg-yaml.v2-dev` 2.4.0 and
//! `golang-k8s-sigs-yaml-dev` 1.3.0 (OPA 1.x vendors `sigs.k8s.io/yaml` 1.4+, whose
//! `goyaml.v2` fork and `convertToJSONableObject` behave the same for these inputs). Go before
//! 1.22 encodes U+0008 and U+000C as `\u0008` and `\u000c`; OPA built with a current Go writes
//! `\b` and `\f`. The program therefore rewrote exactly those two escapes (escape-aware, so a
//! literal `\\u0008` in a string is untouched) before writing and hashing, and the fixtures show
//! what a current OPA computes.
//!
//! Inputs where Regent deliberately refuses what OPA accepts are listed in `REFUSED_BY_REGENT`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use proptest::prelude::*;
use regent_bundle::canonical::{
    CanonValue, CanonicalError, JsonNumber, JsonSyntax, MAX_DEPTH, canonical_bytes, canonical_json,
    canonical_yaml, file_sha256_hex, is_structured,
};
use serde_json::Value;

/// Cases OPA hashes but Regent refuses on purpose (see the module docs of `canonical`).
const REFUSED_BY_REGENT: &[(&str, &str)] = &[("yaml-local-tag.yaml", "local tag `!foo`")];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/canonical")
}

/// One line of `structured.txt` or `strict.txt`: the case and Go's SHA-256, or `None` when Go
/// failed.
fn expectations(list: &str) -> Vec<(String, Option<String>)> {
    let text = fs::read_to_string(fixtures().join(list)).expect("expectation list is readable");
    text.lines()
        .map(|line| {
            let mut words = line.split(' ');
            let first = words.next().expect("line has a hash or ERROR");
            let name = words.next().expect("line names a case").to_owned();
            let sha = (first != "ERROR").then(|| first.to_owned());
            (name, sha)
        })
        .collect()
}

fn case(name: &str) -> Vec<u8> {
    fs::read(fixtures().join("cases").join(name)).expect("case is readable")
}

fn sha256_hex(bytes: &[u8]) -> String {
    // A non-structured path hashes raw bytes.
    file_sha256_hex("raw.bin", bytes).expect("raw bytes always hash")
}

fn data_path(name: &str) -> &'static str {
    if name.ends_with(".yaml") {
        "bundle/x/data.yaml"
    } else {
        "bundle/x/data.json"
    }
}

#[test]
fn structured_files_hash_like_opa() {
    let cases = expectations("structured.txt");
    assert!(cases.len() > 90, "fixture list looks truncated");
    let mut failures = Vec::new();
    for (name, go_sha) in cases {
        let input = case(&name);
        let ours = canonical_yaml(&input);
        let via_path = canonical_bytes(data_path(&name), &input).map(Cow::into_owned);
        if REFUSED_BY_REGENT
            .iter()
            .any(|(refused, _)| *refused == name)
        {
            assert!(go_sha.is_some(), "{name}: Go accepts this case");
            if ours.is_ok() {
                failures.push(format!("{name}: expected a refusal, got {ours:?}"));
            }
            continue;
        }
        match (go_sha, ours) {
            (Some(sha), Ok(bytes)) => {
                let canon = fs::read(fixtures().join("expected").join(format!("{name}.canon")))
                    .expect("expected canonical bytes exist");
                if bytes != canon {
                    failures.push(format!(
                        "{name}: bytes differ\n  go:   {}\n  ours: {}",
                        String::from_utf8_lossy(&canon),
                        String::from_utf8_lossy(&bytes)
                    ));
                } else if sha256_hex(&bytes) != sha {
                    failures.push(format!("{name}: sha256 differs from Go's {sha}"));
                }
                if via_path.as_deref().ok() != Some(bytes.as_slice()) {
                    failures.push(format!("{name}: canonical_bytes disagrees: {via_path:?}"));
                }
                let path_sha = file_sha256_hex(data_path(&name), &input);
                if path_sha.as_deref().ok() != Some(sha.as_str()) {
                    failures.push(format!("{name}: file_sha256_hex gave {path_sha:?}"));
                }
            }
            (None, Err(_)) => {
                if via_path.is_ok() {
                    failures.push(format!("{name}: canonical_bytes accepted what Go refuses"));
                }
            }
            (None, Ok(bytes)) => failures.push(format!(
                "{name}: Go refuses, we produced {}",
                String::from_utf8_lossy(&bytes)
            )),
            (Some(_), Err(err)) => failures.push(format!("{name}: Go accepts, we failed: {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn strict_json_matches_go_decoder() {
    let mut failures = Vec::new();
    for (name, go_sha) in expectations("strict.txt") {
        let ours = canonical_json(&case(&name));
        match (go_sha, ours) {
            (Some(sha), Ok(bytes)) if sha256_hex(&bytes) == sha => {}
            (None, Err(CanonicalError::Json { .. })) => {}
            (go, ours) => failures.push(format!("{name}: go {go:?}, ours {ours:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn canon(json: &str) -> String {
    String::from_utf8(canonical_json(json.as_bytes()).expect("valid JSON")).expect("UTF-8 output")
}

#[test]
fn number_literals_are_kept_as_written() {
    assert_eq!(
        canon(r#"{"b": 1.0, "a": [1e3, -0, 1E+3, 0.1, 123456789012345678901234567890, -0.0]}"#),
        r#"{"a":[1e3,-0,1E+3,0.1,123456789012345678901234567890,-0.0],"b":1.0}"#
    );
}

#[test]
fn strings_are_escaped_like_go() {
    assert_eq!(
        canon(
            r#"["<>&", "\u2028\u2029", "\b\f\n\r\t\u0001\u001f\u007f", "\/\"\\", "\u00e9\ud83d\ude00"]"#
        ),
        "[\"<>&\",\"\\u2028\\u2029\",\"\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}\",\"/\\\"\\\\\",\"é😀\"]"
    );
    // Lone surrogates and invalid UTF-8 become U+FFFD, one per bad byte as Go's DecodeRune does.
    assert_eq!(canon(r#""\ud800\udc00\udc00x""#), "\"𐀀\u{FFFD}x\"");
    assert_eq!(
        String::from_utf8(canonical_json(b"\"\xe2\x82A\xff\"").expect("Go accepts raw bytes"))
            .expect("output is UTF-8"),
        "\"\u{FFFD}\u{FFFD}A\u{FFFD}\""
    );
}

#[test]
fn keys_sort_by_utf8_bytes_and_duplicates_keep_the_last() {
    assert_eq!(
        canon(r#"{"\uFB01": 1, "\uD83D\uDE00": 2, "a": {"x": 1}, "a": [2], "": 0}"#),
        "{\"\":0,\"a\":[2],\"\u{FB01}\":1,\"😀\":2}"
    );
}

#[test]
fn bom_is_stripped_and_errors_point_at_line_and_column() {
    assert_eq!(
        canonical_json(b"\xEF\xBB\xBF{\"a\": 1}").as_deref().ok(),
        Some(&b"{\"a\":1}"[..])
    );
    let err = canonical_json(b"{\n  \"a\": 1,\n  \"b\" 2\n}").expect_err("missing colon");
    assert_eq!(
        err.to_string(),
        "invalid JSON at line 3 column 7: expected `:` after the object key"
    );
    let err = canonical_json(b"\xEF\xBB\xBF[1,\n 2,]").expect_err("trailing comma");
    assert_eq!(
        err,
        CanonicalError::Json {
            kind: JsonSyntax::TrailingComma,
            offset: 10,
            line: 2,
            column: 4
        }
    );
    assert_eq!(
        canonical_json(b"{\"\xc3\xa9\": 01}")
            .expect_err("leading zero")
            .to_string(),
        "invalid JSON at line 1 column 8: leading zeros are not allowed in numbers"
    );
    assert!(matches!(
        canonical_json(b"[1, 2"),
        Err(CanonicalError::Json {
            kind: JsonSyntax::UnexpectedEnd,
            ..
        })
    ));
}

#[test]
fn rejects_what_go_rejects() {
    for bad in [
        "01",
        "+1",
        "NaN",
        "[1,]",
        "{\"a\":1,}",
        "{'a':1}",
        "{\"a\":1} x",
        "\"a\u{1}b\"",
        "1.",
        ".5",
        "1e",
        "-",
        "",
        " ",
        "tru",
        "\"\\x\"",
        "\"\\u12\"",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "0x1",
    ] {
        assert!(canonical_json(bad.as_bytes()).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn nesting_is_bounded_without_overflowing_the_stack() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(canonical_json(ok.as_bytes()).is_ok());
    let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(matches!(
        canonical_json(too_deep.as_bytes()),
        Err(CanonicalError::TooDeep {
            limit: MAX_DEPTH,
            offset: 512,
            ..
        })
    ));
    // Far deeper than any stack: refused, and not retried as YAML by the OPA-style entry points.
    let hostile = "[{\"a\":".repeat(200_000);
    for result in [
        canonical_json(hostile.as_bytes()),
        canonical_yaml(hostile.as_bytes()),
        canonical_bytes("data.json", hostile.as_bytes()).map(Cow::into_owned),
    ] {
        assert!(
            matches!(result, Err(CanonicalError::TooDeep { .. })),
            "{result:?}"
        );
    }
    let yaml_deep = format!("a: {}\n", "[".repeat(100_000));
    assert!(matches!(
        canonical_yaml(yaml_deep.as_bytes()),
        Err(CanonicalError::YamlTooDeep {
            line: 1,
            column: 260,
            ..
        })
    ));
}

/// libyaml spends time proportional to the flow depth on every token; closers hidden in strings,
/// comments, tags or block scalars must not let deep nesting past the pre-scan.
#[test]
fn yaml_flow_nesting_is_bounded_before_parsing() {
    let n = 20_000;
    for attack in [
        format!("a: {}\n", "{a: ".repeat(n)),
        format!("a: {}\n", "[\"]\", ".repeat(n)),
        format!("a: {}\n", "['x]', ".repeat(n)),
        format!("a: {}\n", "[ #]]\n".repeat(n)),
        format!("a: {}\n", "[!t] x, ".repeat(n)),
        format!("a: |\n  ]]]]\nb: {}\n", "[".repeat(n)),
        format!("a: {}\n", "[x - \"]\", ".repeat(n)),
    ] {
        let started = std::time::Instant::now();
        let result = canonical_yaml(attack.as_bytes());
        assert!(
            matches!(result, Err(CanonicalError::YamlTooDeep { .. })),
            "{result:?}"
        );
        assert!(
            started.elapsed().as_secs() < 2,
            "pre-scan took {:?}",
            started.elapsed()
        );
    }
    // Brackets inside strings, comments and block scalars are no trouble while they balance
    // within each string; unmatched openers there add up (the price of never undercounting).
    let legit: String = (0..2_000)
        .map(|i| format!("k{i}: [a, 'b]', {{c: \"}}\"}}, \"[a-z]+\"] # [x]\nt{i}: |\n  f([x])\n"))
        .collect();
    assert!(canonical_yaml(legit.as_bytes()).is_ok());
    let surplus: String = (0..300).map(|i| format!("k{i}: \"[\"\n")).collect();
    assert!(matches!(
        canonical_yaml(surplus.as_bytes()),
        Err(CanonicalError::YamlTooDeep { .. })
    ));
}

#[test]
fn structured_files_are_chosen_by_basename() {
    for path in [
        "data.json",
        "/data.json",
        "a/b/data.yaml",
        ".manifest",
        "/.manifest",
        "x/signatures.json",
    ] {
        assert!(is_structured(path), "{path}");
    }
    for path in [
        "data.yml",
        ".signatures.json",
        "x.manifest",
        "policy.rego",
        "data.json.bak",
        "",
        "/",
    ] {
        assert!(!is_structured(path), "{path}");
    }
}

#[test]
fn unstructured_files_hash_raw_bytes() {
    let rego = b"package x\n\nallow := true\n";
    assert!(matches!(
        canonical_bytes("/policy/x.rego", rego),
        Ok(Cow::Borrowed(_))
    ));
    assert_eq!(
        file_sha256_hex("empty.wasm", b"").expect("raw"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // `data.yml` is not structured for OPA, so even invalid YAML hashes.
    assert!(file_sha256_hex("data.yml", b": : [").is_ok());
    // The manifest hash is over `{"revision":"1","roots":[""]}`, whatever the spacing.
    let pretty = b"{\n  \"roots\": [\"\"],\n  \"revision\": \"1\"\n}\n";
    assert_eq!(
        file_sha256_hex(".manifest", pretty).expect("manifest"),
        file_sha256_hex("raw", br#"{"revision":"1","roots":[""]}"#).expect("raw")
    );
}

#[test]
fn errors_prefer_the_format_the_file_name_promises() {
    let broken = b"{\"a\": [1, }";
    assert!(matches!(
        canonical_bytes("data.json", broken),
        Err(CanonicalError::Json { .. })
    ));
    assert!(matches!(
        canonical_bytes(".manifest", broken),
        Err(CanonicalError::Json { .. })
    ));
    assert!(matches!(
        canonical_bytes("data.yaml", broken),
        Err(CanonicalError::Yaml { .. })
    ));
    // Valid YAML in a data.json is hashed as YAML, exactly like OPA's util.Unmarshal.
    assert_eq!(
        canonical_bytes("data.json", b"a: yes\n")
            .expect("YAML fallback")
            .as_ref(),
        b"{\"a\":true}"
    );
}

#[test]
fn yaml_refusals_are_typed() {
    type Check = fn(&CanonicalError) -> bool;
    let cases: &[(&[u8], Check)] = &[
        (b"~: x\n", |e| matches!(e, CanonicalError::YamlKey { .. })),
        (b"12345678901234567890: x\n", |e| {
            matches!(e, CanonicalError::YamlKey { .. })
        }),
        (b"? [1]\n: x\n", |e| {
            matches!(e, CanonicalError::YamlKey { .. })
        }),
        (
            b"a: .inf\n",
            |e| matches!(e, CanonicalError::YamlNonFinite { value } if value == ".inf"),
        ),
        (
            b"a: [-.Inf]\n",
            |e| matches!(e, CanonicalError::YamlNonFinite { value } if value == "-.inf"),
        ),
        (
            b"a: !foo bar\n",
            |e| matches!(e, CanonicalError::YamlTag { tag } if tag == "!foo"),
        ),
        (b"a: {<<: 1}\n", |e| matches!(e, CanonicalError::YamlMerge)),
        (b"a: \xff\n", |e| {
            matches!(e, CanonicalError::YamlNotUtf8 { offset: 3 })
        }),
        (b"a: [1\n", |e| matches!(e, CanonicalError::Yaml { .. })),
    ];
    for (input, expected) in cases {
        let err = canonical_yaml(input).expect_err("refused");
        assert!(
            expected(&err),
            "{}: {err:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            err.to_string().starts_with(char::is_lowercase) || err.to_string().starts_with("YAML")
        );
    }
}

#[test]
fn yaml_resolves_scalars_like_go_yaml_v2() {
    let got = canonical_yaml(
        b"a: yes\nb: 'yes'\nc: !!str off\nd: 017\ne: 1_000\nf: 0X1F\ng: 1.0\nh: 1e21\ni: [on, \"on\"]\nj: <<\n",
    )
    .expect("valid YAML");
    assert_eq!(
        String::from_utf8(got).expect("UTF-8"),
        r#"{"a":true,"b":"yes","c":"off","d":15,"e":1000,"f":31,"g":1,"h":1e+21,"i":[true,"on"],"j":"<<"}"#
    );
    // Valid JSON in a data.yaml keeps its literals, as OPA decodes it as JSON first.
    assert_eq!(
        canonical_yaml(b"{\"a\": 1.0}").expect("JSON").as_slice(),
        b"{\"a\":1.0}"
    );
}

#[test]
fn canon_value_builds_and_encodes_a_manifest() {
    let mut manifest = BTreeMap::new();
    manifest.insert(
        "rego_version".to_owned(),
        CanonValue::Number(JsonNumber::from(1_i64)),
    );
    manifest.insert("revision".to_owned(), CanonValue::String("r<1>".to_owned()));
    manifest.insert(
        "roots".to_owned(),
        CanonValue::Array(vec![CanonValue::String(String::new())]),
    );
    let value = CanonValue::Object(manifest);
    let bytes = value.to_canonical_bytes();
    assert_eq!(
        bytes,
        br#"{"rego_version":1,"revision":"r<1>","roots":[""]}"#
    );
    assert_eq!(CanonValue::parse_json(&bytes), Ok(value));
    assert_eq!(
        "-1.5e+3"
            .parse::<JsonNumber>()
            .map(|n| n.to_string())
            .ok()
            .as_deref(),
        Some("-1.5e+3")
    );
    for bad in ["", "01", "1.", "+1", "NaN", "1 ", "\u{feff}1"] {
        assert!(bad.parse::<JsonNumber>().is_err(), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\"\\\\/<>&\u{7f}\u{2028}\u{2029}\u{fffd}\u{fb01}😀é a-z]{0,12}",
    ]
}

fn json_value(floats: bool) -> impl Strategy<Value = Value> {
    let float = any::<f64>()
        .prop_filter("finite", |f| f.is_finite())
        .prop_map(Value::from);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        json_string().prop_map(Value::String),
        float.prop_map(move |f| if floats { f } else { Value::Null }),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_string(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn canonical_json_is_stable_idempotent_and_lossless(value in json_value(false)) {
        let pretty = serde_json::to_vec_pretty(&value).expect("serialises");
        let compact = serde_json::to_vec(&value).expect("serialises");
        let canonical = canonical_json(&pretty).expect("serde_json output is valid JSON");
        prop_assert_eq!(&canonical, &canonical_json(&pretty).expect("again"));
        prop_assert_eq!(&canonical, &canonical_json(&compact).expect("compact"));
        prop_assert_eq!(&canonical, &canonical_json(&canonical).expect("idempotent"));
        prop_assert_eq!(&canonical, &canonical_yaml(&pretty).expect("JSON wins over YAML"));
        let back: Value = serde_json::from_slice(&canonical).expect("canonical is JSON");
        prop_assert_eq!(back, value);
    }

    #[test]
    fn float_literals_survive_canonicalisation(value in json_value(true)) {
        let pretty = serde_json::to_vec_pretty(&value).expect("serialises");
        let canonical = canonical_json(&pretty).expect("valid JSON");
        prop_assert_eq!(&canonical, &canonical_json(&canonical).expect("idempotent"));
        // Compare against serde_json's own reading of the same literals: without its
        // `float_roundtrip` feature it does not promise that every f64 reads back exactly.
        let back: Value = serde_json::from_slice(&canonical).expect("canonical is JSON");
        let original: Value = serde_json::from_slice(&pretty).expect("serde_json reads itself");
        prop_assert_eq!(back, original);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = canonical_json(&bytes);
        let _ = canonical_yaml(&bytes);
        let _ = canonical_bytes(".manifest", &bytes);
    }

    #[test]
    fn json_like_bytes_never_panic(bytes in prop::collection::vec(
        prop::sample::select(b"{}[]\",:\\/ubfnrt0123456789aeE+-.lsx \n\t\r\xef\xbb\xbf\xff\xed\xa0\xc3".to_vec()),
        0..96,
    )) {
        if let Ok(canonical) = canonical_json(&bytes) {
            prop_assert_eq!(&canonical, &canonical_json(&canonical).expect("idempotent"));
            prop_assert!(serde_json::from_slice::<Value>(&canonical).is_ok());
        }
        let _ = canonical_yaml(&bytes);
    }

    #[test]
    fn yaml_like_bytes_never_panic(bytes in prop::collection::vec(
        prop::sample::select(b"- :{}[],'\"!&*<>|#?%@`yesnoYON01x_.e+\n \t~\\".to_vec()),
        0..96,
    )) {
        if let Ok(canonical) = canonical_yaml(&bytes) {
            prop_assert!(serde_json::from_slice::<Value>(&canonical).is_ok());
            prop_assert_eq!(&canonical, &canonical_json(&canonical).expect("canonical is JSON"));
        }
    }
}
