//! OPA's `.signatures.json`: verification (always built) and signing (feature `sign`).
//!
//! Verification is stricter than OPA's where OPA is unsafe: a signature is always required when
//! keys are configured (OPA #8531), the algorithm comes from the trusted key and never from the
//! token (no `none`, no HMAC keyed with a public key), and only SHA-2 file digests count.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use thiserror::Error;

use crate::bundle::{Bundle, SIGNATURES, hex};
use crate::canonical;
use crate::keys::{KeyAlgorithm, TrustedKeys};

/// Why a bundle's signature was refused. Each tampering mode has its own variant.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("no verification keys are configured; configure at least one trusted key")]
    NoTrustedKeys,
    #[error(
        "bundle missing .signatures.json file; a signature is required because verification keys are configured"
    )]
    MissingSignatures,
    #[error(".signatures.json: missing JWT (expected exactly one)")]
    MissingJwt,
    #[error(".signatures.json: multiple JWTs not supported (expected exactly one, found {count})")]
    MultipleJwts { count: usize },
    #[error(
        ".signatures.json names signing plugin `{plugin}`; only regent's built-in ES256/RS256 verification is supported"
    )]
    UnsupportedPlugin { plugin: String },
    #[error("signature is not a compact JWS: {detail}")]
    MalformedJws { detail: String },
    #[error("signature header has `alg: none`; unsigned tokens are never accepted")]
    AlgorithmNone,
    #[error(
        "signature uses symmetric algorithm `{alg}`; only asymmetric ES256/RS256 signatures are accepted"
    )]
    SymmetricAlgorithm { alg: String },
    #[error("signature uses unsupported algorithm `{alg}`; sign with ES256 or RS256")]
    UnsupportedAlgorithm { alg: String },
    #[error("signature has no key id (`kid` header or `keyid` claim); sign with a key id")]
    MissingKeyId,
    #[error("verification key corresponding to ID `{kid}` not found (trusted: {trusted:?})")]
    UnknownKeyId { kid: String, trusted: Vec<String> },
    #[error("signature header says `{header_alg}` but trusted key `{kid}` is {key_alg}")]
    AlgorithmMismatch {
        kid: String,
        header_alg: String,
        key_alg: KeyAlgorithm,
    },
    #[error("signature does not verify with trusted key `{kid}`: signed by another key or altered")]
    BadSignature { kid: String },
    #[error("signature payload is invalid: {detail}")]
    MalformedPayload { detail: String },
    #[error("scope mismatch: signed for {found:?} but `{expected}` is required")]
    ScopeMismatch {
        expected: String,
        found: Option<String>,
    },
    #[error("file `{path}` not included in bundle signature")]
    FileNotSigned { path: String },
    #[error("`{path}`: digest mismatch (want: {want}, got: {got})")]
    DigestMismatch {
        path: String,
        want: String,
        got: String,
    },
    #[error("file(s) {paths:?} specified in bundle signatures but not found in the target bundle")]
    FilesMissing { paths: Vec<String> },
    #[error("`{path}` is listed more than once in the bundle signature")]
    DuplicateSignedFile { path: String },
    #[error("no hashing algorithm provided for file `{path}`")]
    MissingHashAlgorithm { path: String },
    #[error(
        "file `{path}` is hashed with `{algorithm}`; only SHA-256, SHA-384 and SHA-512 are accepted"
    )]
    UnsupportedHashAlgorithm { path: String, algorithm: String },
    #[error("`{path}` cannot be hashed: {detail}")]
    Unhashable { path: String, detail: String },
}

/// One entry of the payload's `files` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub hash: String,
    #[serde(default)]
    pub algorithm: String,
}

/// The JWS payload of `.signatures.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignaturePayload {
    pub files: Vec<FileDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JwsHeader {
    #[serde(default)]
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub scope: Option<String>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    /// Number of files the signature covers.
    pub files: usize,
}

/// Verifies `bundle` against `keys`, requiring the signed scope to equal `expected_scope`
/// (OPA semantics: `None` requires a token without scope).
pub fn verify_bundle(
    bundle: &Bundle,
    keys: &TrustedKeys,
    expected_scope: Option<&str>,
) -> Result<VerifiedSignature, VerifyError> {
    if keys.is_empty() {
        return Err(VerifyError::NoTrustedKeys);
    }
    let signatures = bundle
        .signatures
        .as_ref()
        .ok_or(VerifyError::MissingSignatures)?;
    if let Some(plugin) = &signatures.plugin {
        return Err(VerifyError::UnsupportedPlugin {
            plugin: plugin.clone(),
        });
    }
    let token = match signatures.signatures.as_slice() {
        [] => return Err(VerifyError::MissingJwt),
        [token] => token,
        more => return Err(VerifyError::MultipleJwts { count: more.len() }),
    };
    let (header, payload, message, signature) = split_jws(token)?;
    let alg = header.alg.as_str();
    if alg.eq_ignore_ascii_case("none") || alg.is_empty() {
        return Err(VerifyError::AlgorithmNone);
    }
    if alg.to_ascii_uppercase().starts_with("HS") {
        return Err(VerifyError::SymmetricAlgorithm {
            alg: alg.to_owned(),
        });
    }
    let header_alg = KeyAlgorithm::parse(alg).ok_or_else(|| VerifyError::UnsupportedAlgorithm {
        alg: alg.to_owned(),
    })?;
    let payload: SignaturePayload =
        serde_json::from_slice(&payload).map_err(|e| VerifyError::MalformedPayload {
            detail: e.to_string(),
        })?;
    let kid = header
        .kid
        .clone()
        .or_else(|| payload.keyid.clone())
        .filter(|k| !k.is_empty())
        .ok_or(VerifyError::MissingKeyId)?;
    let key = keys.get(&kid).ok_or_else(|| VerifyError::UnknownKeyId {
        kid: kid.clone(),
        trusted: keys.iter().map(|k| k.kid().to_owned()).collect(),
    })?;
    // The trusted key decides the algorithm; the header must agree with it.
    if key.algorithm() != header_alg {
        return Err(VerifyError::AlgorithmMismatch {
            kid,
            header_alg: alg.to_owned(),
            key_alg: key.algorithm(),
        });
    }
    let valid = jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        key.decoding(),
        key.algorithm().jwt(),
    )
    .unwrap_or(false);
    if !valid {
        return Err(VerifyError::BadSignature { kid });
    }
    if payload.scope.as_deref() != expected_scope {
        return Err(VerifyError::ScopeMismatch {
            expected: expected_scope.unwrap_or_default().to_owned(),
            found: payload.scope,
        });
    }
    check_files(bundle, &payload.files)?;
    Ok(VerifiedSignature {
        kid,
        algorithm: key.algorithm(),
        scope: payload.scope,
        iat: payload.iat,
        iss: payload.iss,
        files: payload.files.len(),
    })
}

/// Splits a compact JWS into decoded header and payload, the signed message and the signature.
fn split_jws(token: &str) -> Result<(JwsHeader, Vec<u8>, &str, &str), VerifyError> {
    let malformed = |detail: &str| VerifyError::MalformedJws {
        detail: detail.to_owned(),
    };
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| malformed("expected three `.`-separated parts"))?;
    let (header_b64, payload_b64) = message
        .split_once('.')
        .ok_or_else(|| malformed("expected three `.`-separated parts"))?;
    if payload_b64.contains('.') {
        return Err(malformed("expected three `.`-separated parts"));
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| malformed("header is not base64url"))?;
    let header: JwsHeader = serde_json::from_slice(&header_bytes)
        .map_err(|e| malformed(&format!("header is not JSON: {e}")))?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| malformed("payload is not base64url"))?;
    Ok((header, payload, message, signature))
}

fn check_files(bundle: &Bundle, listed: &[FileDigest]) -> Result<(), VerifyError> {
    let mut by_name = std::collections::BTreeMap::new();
    for entry in listed {
        let name = entry.name.trim_start_matches('/').to_owned();
        if by_name.insert(name.clone(), entry).is_some() {
            return Err(VerifyError::DuplicateSignedFile { path: name });
        }
    }
    for file in &bundle.files {
        if file.path == SIGNATURES {
            continue;
        }
        let entry = by_name
            .remove(&file.path)
            .ok_or_else(|| VerifyError::FileNotSigned {
                path: file.path.clone(),
            })?;
        let got = digest(&file.path, &file.bytes, &entry.algorithm)?;
        if !got.eq_ignore_ascii_case(&entry.hash) {
            return Err(VerifyError::DigestMismatch {
                path: file.path.clone(),
                want: entry.hash.clone(),
                got,
            });
        }
    }
    if !by_name.is_empty() {
        return Err(VerifyError::FilesMissing {
            paths: by_name.into_keys().collect(),
        });
    }
    Ok(())
}

/// The hex digest OPA computes for a bundle file: canonical JSON for structured files, raw
/// bytes otherwise.
pub fn digest(path: &str, bytes: &[u8], algorithm: &str) -> Result<String, VerifyError> {
    let unhashable = |e: canonical::CanonicalError| VerifyError::Unhashable {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let content = canonical::canonical_bytes(path, bytes).map_err(unhashable)?;
    match algorithm {
        "" => Err(VerifyError::MissingHashAlgorithm {
            path: path.to_owned(),
        }),
        "SHA-256" => Ok(hex(&Sha256::digest(&content))),
        "SHA-384" => Ok(hex(&Sha384::digest(&content))),
        "SHA-512" => Ok(hex(&Sha512::digest(&content))),
        other => Err(VerifyError::UnsupportedHashAlgorithm {
            path: path.to_owned(),
            algorithm: other.to_owned(),
        }),
    }
}

#[cfg(feature = "sign")]
pub use signing::{SignError, SignOptions, sign_bundle};

#[cfg(feature = "sign")]
mod signing {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use thiserror::Error;

    use super::{FileDigest, JwsHeader, SignaturePayload, digest};
    use crate::archive::RawFile;
    use crate::bundle::{Bundle, SIGNATURES, SignaturesFile};
    use crate::keys::SigningKey;

    /// Claims added to the signature payload.
    #[derive(Debug, Clone, Default)]
    pub struct SignOptions {
        /// `scope`: the persona the bundle is for. Verifiers require it to match.
        pub scope: Option<String>,
        /// `iss`: who signed (e.g. `regent`).
        pub iss: Option<String>,
        /// `iat` in seconds since the epoch; the current time when `None`.
        pub iat: Option<i64>,
    }

    #[derive(Debug, Error)]
    #[non_exhaustive]
    pub enum SignError {
        #[error("cannot sign: {0}")]
        Hash(#[from] super::VerifyError),
        #[error("signing with key `{kid}` failed: {detail}")]
        Crypto { kid: String, detail: String },
    }

    /// Signs every file of `bundle` (all but `.signatures.json`) and stores the resulting
    /// `.signatures.json` in it, replacing any previous one.
    pub fn sign_bundle(
        bundle: &mut Bundle,
        key: &SigningKey,
        options: &SignOptions,
    ) -> Result<(), SignError> {
        bundle.files.retain(|f| f.path != SIGNATURES);
        let mut files = Vec::with_capacity(bundle.files.len());
        for file in &bundle.files {
            files.push(FileDigest {
                name: file.path.clone(),
                hash: digest(&file.path, &file.bytes, "SHA-256")?,
                algorithm: "SHA-256".into(),
            });
        }
        let iat = options.iat.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        let payload = SignaturePayload {
            files,
            keyid: Some(key.kid().to_owned()),
            scope: options.scope.clone(),
            iat: Some(iat),
            iss: options.iss.clone(),
        };
        let header = JwsHeader {
            alg: key.algorithm().as_str().to_owned(),
            kid: Some(key.kid().to_owned()),
        };
        let crypto = |detail: String| SignError::Crypto {
            kid: key.kid().to_owned(),
            detail,
        };
        let message = format!(
            "{}.{}",
            b64_json(&header).map_err(crypto)?,
            b64_json(&payload).map_err(crypto)?
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding(), key.algorithm().jwt())
                .map_err(|e| crypto(e.to_string()))?;
        let file = SignaturesFile {
            signatures: vec![format!("{message}.{signature}")],
            plugin: None,
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| crypto(e.to_string()))?;
        bundle.files.push(RawFile {
            path: SIGNATURES.into(),
            bytes,
        });
        bundle.files.sort_by(|a, b| a.path.cmp(&b.path));
        bundle.signatures = Some(file);
        Ok(())
    }

    fn b64_json<T: serde::Serialize>(value: &T) -> Result<String, String> {
        serde_json::to_vec(value)
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| e.to_string())
    }
}
