//! The tampering catalogue: each way of altering a signed bundle is refused with its own error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use regent_bundle::{
    BuildOptions, Bundle, KeyAlgorithm, Limits, RawFile, SignOptions, SigningKey, TrustedKeys,
    VerifyError, build_dir, read_bundle, sign_bundle, verify_bundle, write_archive,
};

const SCOPE: &str = "tiny-bot";

fn signed(key: &SigningKey) -> Bundle {
    let dir = common::tiny_persona();
    let mut bundle = build_dir(dir.path(), &BuildOptions::default()).unwrap();
    sign_bundle(
        &mut bundle,
        key,
        &SignOptions {
            scope: Some(SCOPE.into()),
            iss: Some("regent-test".into()),
            iat: Some(1_764_000_000),
        },
    )
    .unwrap();
    bundle
}

fn trust(keys: &[&SigningKey]) -> TrustedKeys {
    TrustedKeys::from_keys(keys.iter().map(|k| k.public_key().clone())).unwrap()
}

/// Re-archives `files` and reads them back, as an agent downloading them would.
fn reread(files: Vec<RawFile>) -> Bundle {
    read_bundle(&write_archive(&files).unwrap(), &Limits::DEFAULT).unwrap()
}

fn verify(bundle: &Bundle, keys: &TrustedKeys) -> Result<(), VerifyError> {
    verify_bundle(bundle, keys, Some(SCOPE)).map(|_| ())
}

/// Replaces the JWS in `.signatures.json` with one built from raw parts.
fn with_token(bundle: &Bundle, token: String) -> Bundle {
    let mut files = bundle.files.clone();
    let sig = files
        .iter_mut()
        .find(|f| f.path == ".signatures.json")
        .unwrap();
    sig.bytes = serde_json::to_vec(&serde_json::json!({ "signatures": [token] })).unwrap();
    reread(files)
}

fn token_parts(bundle: &Bundle) -> (serde_json::Value, String) {
    let token = &bundle.signatures.as_ref().unwrap().signatures[0];
    let mut parts = token.split('.');
    let _header = parts.next().unwrap();
    let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (serde_json::from_slice(&payload).unwrap(), token.clone())
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn untampered_bundle_verifies_through_an_archive_round_trip() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = reread(signed(&key).files);
    let verified = verify_bundle(&bundle, &trust(&[&key]), Some(SCOPE)).unwrap();
    assert_eq!(verified.kid, "k1");
    assert_eq!(verified.scope.as_deref(), Some(SCOPE));
    assert_eq!(verified.iss.as_deref(), Some("regent-test"));
    assert_eq!(verified.iat, Some(1_764_000_000));
    assert_eq!(verified.files, 4);
}

#[test]
fn rs256_signatures_verify_too() {
    let key = SigningKey::generate("rsa-1", KeyAlgorithm::Rs256).unwrap();
    let bundle = reread(signed(&key).files);
    verify(&bundle, &trust(&[&key])).unwrap();
}

#[test]
fn modified_file_is_a_digest_mismatch() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    let policy = files
        .iter_mut()
        .find(|f| f.path == "regent/persona/policy.rego")
        .unwrap();
    policy.bytes = String::from_utf8(policy.bytes.clone())
        .unwrap()
        .replace("in data.regent.persona.tools", "!= \"\"")
        .into_bytes();
    let err = verify(&reread(files), &trust(&[&key])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::DigestMismatch { path, .. } if path == "regent/persona/policy.rego"),
        "{err}"
    );
    assert!(
        err.to_string().contains("regent/persona/policy.rego"),
        "{err}"
    );
}

#[test]
fn modified_data_is_a_digest_mismatch() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    let data = files.iter_mut().find(|f| f.path == "data.json").unwrap();
    data.bytes = br#"{"regent":{"persona":{"tools":["echo","rm"]}}}"#.to_vec();
    let err = verify(&reread(files), &trust(&[&key])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::DigestMismatch { path, .. } if path == "data.json"),
        "{err}"
    );
}

#[test]
fn reformatted_data_still_verifies_because_structured_files_hash_canonically() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    let data = files.iter_mut().find(|f| f.path == "data.json").unwrap();
    data.bytes = b"{ \"regent\" : { \"persona\" : { \"tools\" : [ \"echo\" ] } } }\n".to_vec();
    verify(&reread(files), &trust(&[&key])).unwrap();
}

#[test]
fn added_file_is_not_signed() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    files.push(RawFile {
        path: "regent/persona/backdoor.rego".into(),
        bytes: b"package regent.persona.backdoor\nx := 1\n".to_vec(),
    });
    let err = verify(&reread(files), &trust(&[&key])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::FileNotSigned { path } if path == "regent/persona/backdoor.rego"),
        "{err}"
    );
}

#[test]
fn removed_file_is_missing() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    files.retain(|f| f.path != "regent/persona/policy_test.rego");
    let err = verify(&reread(files), &trust(&[&key])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::FilesMissing { paths } if paths == &["regent/persona/policy_test.rego"]),
        "{err}"
    );
}

#[test]
fn stripped_signatures_file_is_refused_when_keys_are_configured() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    files.retain(|f| f.path != ".signatures.json");
    let err = verify(&reread(files), &trust(&[&key])).unwrap_err();
    assert_eq!(err, VerifyError::MissingSignatures);
    // Several keys configured (rotation) does not weaken it (OPA #8531).
    let other = SigningKey::generate("k2", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    files.retain(|f| f.path != ".signatures.json");
    let err = verify(&reread(files), &trust(&[&key, &other])).unwrap_err();
    assert_eq!(err, VerifyError::MissingSignatures);
}

#[test]
fn wrong_key_with_the_same_kid_is_a_bad_signature() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let impostor = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = reread(signed(&impostor).files);
    let err = verify(&bundle, &trust(&[&key])).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature { kid: "k1".into() });
}

#[test]
fn unknown_kid_is_refused() {
    let signer = SigningKey::generate("k9", KeyAlgorithm::Es256).unwrap();
    let trusted = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let err = verify(&reread(signed(&signer).files), &trust(&[&trusted])).unwrap_err();
    assert!(
        matches!(&err, VerifyError::UnknownKeyId { kid, trusted } if kid == "k9" && trusted == &["k1"]),
        "{err}"
    );
}

#[test]
fn rotation_accepts_any_trusted_kid() {
    let old = SigningKey::generate("2026-01", KeyAlgorithm::Es256).unwrap();
    let new = SigningKey::generate("2026-07", KeyAlgorithm::Rs256).unwrap();
    let keys = trust(&[&old, &new]);
    verify(&reread(signed(&old).files), &keys).unwrap();
    verify(&reread(signed(&new).files), &keys).unwrap();
}

#[test]
fn wrong_scope_is_refused() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = reread(signed(&key).files);
    let err = verify_bundle(&bundle, &trust(&[&key]), Some("hr-bot")).unwrap_err();
    assert_eq!(
        err,
        VerifyError::ScopeMismatch {
            expected: "hr-bot".into(),
            found: Some(SCOPE.into())
        }
    );
    // A token with a scope does not satisfy a verifier expecting none (OPA semantics).
    let err = verify_bundle(&bundle, &trust(&[&key]), None).unwrap_err();
    assert!(matches!(err, VerifyError::ScopeMismatch { .. }), "{err}");
}

#[test]
fn alg_none_is_refused() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = signed(&key);
    let (payload, _) = token_parts(&bundle);
    let token = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "kid": "k1"})),
        b64(&payload)
    );
    let err = verify(&with_token(&bundle, token), &trust(&[&key])).unwrap_err();
    assert_eq!(err, VerifyError::AlgorithmNone);
}

#[test]
fn hs256_keyed_with_the_public_key_is_refused() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = signed(&key);
    let (payload, _) = token_parts(&bundle);
    let message = format!(
        "{}.{}",
        b64(&serde_json::json!({"alg": "HS256", "kid": "k1"})),
        b64(&payload)
    );
    // The classic confusion attack: HMAC keyed with the verifier's public key bytes.
    let secret = jsonwebtoken::EncodingKey::from_secret(key.public_key().to_pem().as_bytes());
    let mac =
        jsonwebtoken::crypto::sign(message.as_bytes(), &secret, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    let err = verify(
        &with_token(&bundle, format!("{message}.{mac}")),
        &trust(&[&key]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        VerifyError::SymmetricAlgorithm {
            alg: "HS256".into()
        }
    );
}

#[test]
fn header_algorithm_must_match_the_trusted_key() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = signed(&key);
    let (payload, token) = token_parts(&bundle);
    let signature = token.rsplit('.').next().unwrap();
    let forged = format!(
        "{}.{}.{signature}",
        b64(&serde_json::json!({"alg": "RS256", "kid": "k1"})),
        b64(&payload)
    );
    let err = verify(&with_token(&bundle, forged), &trust(&[&key])).unwrap_err();
    assert!(
        matches!(err, VerifyError::AlgorithmMismatch { .. }),
        "{err}"
    );
}

#[test]
fn resigned_payload_claiming_other_files_fails_the_signature() {
    // Editing the payload (e.g. to list a new digest) without the private key breaks the JWS.
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let bundle = signed(&key);
    let (mut payload, token) = token_parts(&bundle);
    payload["scope"] = "hr-bot".into();
    let mut parts: Vec<&str> = token.split('.').collect();
    let encoded = b64(&payload);
    parts[1] = &encoded;
    let err = verify(&with_token(&bundle, parts.join(".")), &trust(&[&key])).unwrap_err();
    assert_eq!(err, VerifyError::BadSignature { kid: "k1".into() });
}

#[test]
fn signatures_file_shape_is_checked() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let mut files = signed(&key).files;
    let sig = files
        .iter_mut()
        .find(|f| f.path == ".signatures.json")
        .unwrap();
    sig.bytes = br#"{"signatures": []}"#.to_vec();
    assert_eq!(
        verify(&reread(files.clone()), &trust(&[&key])),
        Err(VerifyError::MissingJwt)
    );
    let sig = files
        .iter_mut()
        .find(|f| f.path == ".signatures.json")
        .unwrap();
    sig.bytes = br#"{"signatures": ["a.b.c", "d.e.f"]}"#.to_vec();
    assert_eq!(
        verify(&reread(files.clone()), &trust(&[&key])),
        Err(VerifyError::MultipleJwts { count: 2 })
    );
    let sig = files
        .iter_mut()
        .find(|f| f.path == ".signatures.json")
        .unwrap();
    sig.bytes = br#"{"signatures": ["not-a-jws"]}"#.to_vec();
    assert!(matches!(
        verify(&reread(files), &trust(&[&key])),
        Err(VerifyError::MalformedJws { .. })
    ));
}

#[test]
fn no_trusted_keys_is_its_own_error() {
    let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
    let err = verify(&signed(&key), &TrustedKeys::new()).unwrap_err();
    assert_eq!(err, VerifyError::NoTrustedKeys);
}

#[test]
fn keys_round_trip_through_pem() {
    for alg in [KeyAlgorithm::Es256, KeyAlgorithm::Rs256] {
        let key = SigningKey::generate("k1", alg).unwrap();
        let reloaded = SigningKey::from_pem("k1", &key.to_pem()).unwrap();
        assert_eq!(
            reloaded.public_key().spki_der(),
            key.public_key().spki_der()
        );
        let public = regent_bundle::PublicKey::from_pem("k1", &key.public_key().to_pem()).unwrap();
        assert_eq!(public.algorithm(), alg);
        // A bundle signed by the reloaded key verifies with the PEM-loaded public key.
        let bundle = reread(signed(&reloaded).files);
        verify(&bundle, &TrustedKeys::from_keys([public]).unwrap()).unwrap();
    }
    assert!(regent_bundle::PublicKey::from_pem("k1", "garbage").is_err());
    assert!(regent_bundle::PublicKey::from_pem("bad kid!", "x").is_err());
}
