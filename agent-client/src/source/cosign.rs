//! Cosign "simple signing" verification, key-based (what `cosign verify --key` checks, without Rekor): the
//! signature manifest at tag `sha256-<hex>.sig` has layers `application/vnd.dev.cosign.simplesigning.v1+json`
//! whose payload names the signed manifest digest and whose `dev.cosignproject.cosign/signature`
//! annotation holds the base64 ASN.1 signature over the payload bytes. One valid layer suffices.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regent_bundle::{KeyAlgorithm, TrustedKeys};
use serde::Deserialize;
use thiserror::Error;

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignError {
    #[error("`{0}` is not a sha256 manifest digest")]
    Digest(String),
    #[error(
        "no cosign signature found at `{tag}`; sign the artifact (`cosign sign --key`) or let the control plane publish it"
    )]
    Missing { tag: String },
    #[error("cosign signature at `{tag}` is malformed: {detail}")]
    Malformed { tag: String, detail: String },
    #[error("no cosign signature at `{tag}` verifies with a trusted key for `{digest}` ({detail})")]
    Invalid {
        tag: String,
        digest: String,
        detail: String,
    },
}

#[derive(Debug, Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Debug, Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: Image,
}

#[derive(Debug, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// `sha256:<hex>` → `sha256-<hex>.sig`.
pub fn signature_tag(manifest_digest: &str) -> Result<String, CosignError> {
    match manifest_digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256-{hex}.sig"))
        }
        _ => Err(CosignError::Digest(manifest_digest.to_owned())),
    }
}

/// One signature layer: its payload bytes and its signature annotation.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    pub payload: Vec<u8>,
    pub signature_b64: Option<String>,
}

/// Checks that at least one layer is a valid signature by one of `keys` over a payload naming
/// `manifest_digest`.
pub fn verify(
    tag: &str,
    layers: &[SignatureLayer],
    keys: &TrustedKeys,
    manifest_digest: &str,
) -> Result<(), CosignError> {
    if layers.is_empty() {
        return Err(CosignError::Missing {
            tag: tag.to_owned(),
        });
    }
    let mut why = Vec::new();
    for layer in layers {
        let Some(b64) = &layer.signature_b64 else {
            why.push("a layer has no signature annotation".to_owned());
            continue;
        };
        let Ok(signature) = STANDARD.decode(b64.trim()) else {
            why.push("a signature is not base64".to_owned());
            continue;
        };
        let signed_by = keys.iter().find(|key| {
            let algorithm: &'static dyn VerificationAlgorithm = match key.algorithm() {
                KeyAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_ASN1,
                KeyAlgorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            };
            UnparsedPublicKey::new(algorithm, key.spki_der())
                .verify(&layer.payload, &signature)
                .is_ok()
        });
        if signed_by.is_none() {
            why.push("a signature matches no trusted key".to_owned());
            continue;
        }
        let payload: Payload = match serde_json::from_slice(&layer.payload) {
            Ok(p) => p,
            Err(e) => {
                why.push(format!("a signed payload is not simple-signing JSON: {e}"));
                continue;
            }
        };
        if payload.critical.kind != PAYLOAD_TYPE {
            why.push(format!(
                "a signed payload has type `{}`",
                payload.critical.kind
            ));
            continue;
        }
        if payload.critical.image.digest != manifest_digest {
            why.push(format!(
                "a valid signature is for `{}`, not this manifest",
                payload.critical.image.digest
            ));
            continue;
        }
        return Ok(());
    }
    Err(CosignError::Invalid {
        tag: tag.to_owned(),
        digest: manifest_digest.to_owned(),
        detail: why.join("; "),
    })
}
