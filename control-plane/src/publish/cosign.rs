//! Cosign "simple signing" signatures, key-based, exactly where and how `cosign sign --key`
//! stores them: an image manifest at tag `sha256-<hex>.sig` in the same repository whose
//! layers (`application/vnd.dev.cosign.simplesigning.v1+json`) each hold a payload naming the
//! signed manifest digest, with the base64 ASN.1 signature in the
//! `dev.cosignproject.cosign/signature` annotation. `cosign verify --key` and sigstore-rs
//! verify it; no Fulcio or Rekor is involved.
//!
//! The payload type, signing and verification come from the sigstore crate; the `.sig`
//! manifest is written here because sigstore's `push_signature` replaces the tag, dropping
//! signatures others added, while cosign appends. Signing is idempotent: a layer already
//! signed by our key for this digest is kept and nothing is pushed (ECDSA signatures are
//! randomised, so blindly appending would add a layer on every retry).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use regent_bundle::{KeyAlgorithm, SigningKey};
use serde_json::Value;
use sigstore::cosign::simple_signing::{
    CRITICAL_TYPE_NAME, Critical, Identity, Image, Optional, SimpleSigning,
};
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};
use thiserror::Error;

use super::oci::{self, CONFIG_MEDIA_TYPE, EMPTY_CONFIG, OciError, RegistryClient};
use crate::config::RegistryConfig;

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Signature payloads are a few hundred bytes; a bigger layer under a `.sig` tag is not ours
/// and is not downloaded.
const MAX_PAYLOAD_BYTES: i64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum CosignError {
    #[error("`{digest}` is not a sha256 manifest digest")]
    Digest { digest: String },
    #[error("cosign key `{kid}`: {detail}")]
    Key { kid: String, detail: String },
    #[error("signing `{digest}` with key `{kid}` failed: {detail}")]
    Sign {
        kid: String,
        digest: String,
        detail: String,
    },
    #[error("`{reference}` has a malformed signature manifest: {detail}")]
    Malformed { reference: String, detail: String },
    #[error("cosign verification of `{reference}` failed: {detail}")]
    Verify { reference: String, detail: String },
    #[error(transparent)]
    Oci(#[from] OciError),
}

/// The control plane's signing key in sigstore's form, with its verification half.
pub struct CosignSigner {
    kid: String,
    signer: SigStoreSigner,
    verification: CosignVerificationKey,
}

impl std::fmt::Debug for CosignSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl CosignSigner {
    /// ES256 keys sign as cosign's default `ECDSA_P256_SHA256_ASN1`; RS256 keys as
    /// `RSA_PKCS1_SHA256`, which is what cosign uses for RSA keys.
    pub fn new(key: &SigningKey) -> Result<CosignSigner, CosignError> {
        let err = |detail: String| CosignError::Key {
            kid: key.kid().to_owned(),
            detail,
        };
        let scheme = match key.algorithm() {
            KeyAlgorithm::Es256 => SigningScheme::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::Rs256 => SigningScheme::RSA_PKCS1_SHA256(0),
        };
        let signer = SigStoreKeyPair::from_pem(key.to_pem().as_bytes())
            .and_then(|pair| pair.to_sigstore_signer(&scheme))
            .map_err(|e| err(e.to_string()))?;
        let verification = signer
            .to_verification_key()
            .map_err(|e| err(e.to_string()))?;
        Ok(CosignSigner {
            kid: key.kid().to_owned(),
            signer,
            verification,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// Whether [`sign_manifest`] pushed a new signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutcome {
    Signed,
    AlreadySigned,
}

/// `sha256:<hex>` → `sha256-<hex>.sig`, cosign's signature tag.
pub fn signature_tag(manifest_digest: &str) -> Result<String, CosignError> {
    match manifest_digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("sha256-{hex}.sig"))
        }
        _ => Err(CosignError::Digest {
            digest: manifest_digest.to_owned(),
        }),
    }
}

/// The simple-signing payload cosign writes: the identity is the repository without a tag
/// (what cosign puts there), `optional` carries our annotations.
pub fn payload(
    registry: &RegistryConfig,
    repository: &str,
    manifest_digest: &str,
    optional: BTreeMap<String, Value>,
) -> SimpleSigning {
    SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: format!("{}/{repository}", registry.host),
            },
            image: Image {
                docker_manifest_digest: manifest_digest.to_owned(),
            },
            type_name: CRITICAL_TYPE_NAME.to_owned(),
        },
        optional: Some(Optional {
            creator: None,
            timestamp: None,
            extra: optional,
        }),
    }
}

/// Makes sure `manifest_digest` in `repository` carries a cosign signature by `signer`,
/// keeping any other signature already there.
pub async fn sign_manifest(
    registry: &RegistryClient,
    repository: &str,
    manifest_digest: &str,
    signer: &CosignSigner,
    optional: BTreeMap<String, Value>,
) -> Result<SignOutcome, CosignError> {
    let sig_ref = registry.tag_reference(repository, &signature_tag(manifest_digest)?);
    let mut layers = Vec::new();
    if let Some(existing) = registry.pull_manifest(&sig_ref).await? {
        let manifest: OciImageManifest =
            serde_json::from_slice(&existing.bytes).map_err(|e| CosignError::Malformed {
                reference: sig_ref.whole(),
                detail: e.to_string(),
            })?;
        for layer in manifest.layers {
            if signed_by(
                registry,
                &sig_ref,
                &layer,
                manifest_digest,
                &signer.verification,
            )
            .await?
            {
                return Ok(SignOutcome::AlreadySigned);
            }
            layers.push(layer);
        }
    }
    let payload = serde_json::to_vec(&payload(
        registry.config(),
        repository,
        manifest_digest,
        optional,
    ))
    .map_err(|e| CosignError::Malformed {
        reference: sig_ref.whole(),
        detail: e.to_string(),
    })?;
    let signature = signer
        .signer
        .sign(&payload)
        .map_err(|e| CosignError::Sign {
            kid: signer.kid.clone(),
            digest: manifest_digest.to_owned(),
            detail: e.to_string(),
        })?;
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), BASE64.encode(signature))]);
    registry.ensure_blob(&sig_ref, EMPTY_CONFIG).await?;
    registry.ensure_blob(&sig_ref, &payload).await?;
    layers.push(oci::descriptor(
        SIMPLE_SIGNING_MEDIA_TYPE,
        &payload,
        Some(annotations),
    ));
    let manifest = oci::encode_image_manifest(
        oci::descriptor(CONFIG_MEDIA_TYPE, EMPTY_CONFIG, None),
        layers,
        None,
    )?;
    registry.put_manifest(&sig_ref, &manifest).await?;
    Ok(SignOutcome::Signed)
}

/// Whether `layer` is a simple-signing payload for `manifest_digest` signed by `key`.
async fn signed_by(
    registry: &RegistryClient,
    sig_ref: &oci_client::Reference,
    layer: &OciDescriptor,
    manifest_digest: &str,
    key: &CosignVerificationKey,
) -> Result<bool, CosignError> {
    let Some(signature) = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(SIGNATURE_ANNOTATION))
    else {
        return Ok(false);
    };
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE || layer.size > MAX_PAYLOAD_BYTES {
        return Ok(false);
    }
    let payload = registry.pull_blob(sig_ref, layer).await?;
    if key
        .verify_signature(Signature::Base64Encoded(signature.as_bytes()), &payload)
        .is_err()
    {
        return Ok(false);
    }
    Ok(serde_json::from_slice::<SimpleSigning>(&payload)
        .is_ok_and(|p| p.critical.image.docker_manifest_digest == manifest_digest))
}

/// A successful cosign verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCosign {
    /// The digest the verified signatures cover (what `reference` resolved to).
    pub manifest_digest: String,
    /// `critical.identity.docker-reference` of the first verified signature.
    pub docker_reference: String,
    /// How many signature layers verify with the key.
    pub signatures: usize,
}

/// Verifies `reference` (`<repository>:<tag>` or `<repository>@sha256:…` in `registry`) as
/// `cosign verify --key` does: resolve it to a digest, read `sha256-<hex>.sig`, and require at
/// least one layer for that digest whose signature verifies with `public_key_pem`.
pub async fn verify_cosign(
    registry: &RegistryConfig,
    reference: &str,
    public_key_pem: &str,
) -> Result<VerifiedCosign, CosignError> {
    let whole = format!("{}/{reference}", registry.host);
    let fail = |detail: String| CosignError::Verify {
        reference: whole.clone(),
        detail,
    };
    let auth = sigstore::registry::Auth::from(RegistryClient::new(registry)?.auth());
    let config = sigstore::registry::ClientConfig {
        protocol: if registry.insecure {
            sigstore::registry::ClientProtocol::Http
        } else {
            sigstore::registry::ClientProtocol::Https
        },
        ..Default::default()
    };
    let mut client = ClientBuilder::default()
        .with_oci_client_config(config)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let image: sigstore::registry::OciReference =
        whole.parse().map_err(|e| fail(format!("{e}")))?;
    let (_, manifest_digest) = client
        .triangulate(&image, &auth)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let layers = client
        .trusted_signature_layers(&auth, &image)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let verifier = PublicKeyVerifier::try_from(public_key_pem.as_bytes())
        .map_err(|e| fail(format!("public key: {e}")))?;
    let verified: Vec<_> = layers
        .iter()
        .filter(|layer| verifier.verify(layer).unwrap_or(false))
        .filter(|layer| {
            layer
                .simple_signing
                .satisfies_manifest_digest(&manifest_digest)
        })
        .collect();
    let first = verified.first().ok_or_else(|| {
        fail(format!(
            "none of the {} signature(s) of `{manifest_digest}` verifies with this key",
            layers.len()
        ))
    })?;
    Ok(VerifiedCosign {
        docker_reference: first
            .simple_signing
            .critical
            .identity
            .docker_reference
            .clone(),
        manifest_digest,
        signatures: verified.len(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signature_tags_follow_cosign() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&digest).unwrap(),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(signature_tag("sha256:xyz").is_err());
        assert!(signature_tag("sha512:00").is_err());
    }

    #[test]
    fn payload_signed_with_the_control_plane_key_verifies_with_its_public_key() {
        let key = SigningKey::generate("k1", KeyAlgorithm::Es256).unwrap();
        let signer = CosignSigner::new(&key).unwrap();
        let registry = RegistryConfig {
            name: "local".into(),
            host: "127.0.0.1:5000".into(),
            repository_prefix: "regent".into(),
            insecure: true,
            auth: crate::config::RegistryAuth::Anonymous,
        };
        let digest = format!("sha256:{}", "0f".repeat(32));
        let optional = BTreeMap::from([("dev.regent.persona".to_owned(), Value::from("hr-bot"))]);
        let bytes =
            serde_json::to_vec(&payload(&registry, "regent/hr-bot", &digest, optional)).unwrap();
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["critical"]["type"], "cosign container image signature");
        assert_eq!(
            json["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        assert_eq!(
            json["critical"]["identity"]["docker-reference"],
            "127.0.0.1:5000/regent/hr-bot"
        );
        assert_eq!(json["optional"]["dev.regent.persona"], "hr-bot");

        let signature = BASE64.encode(signer.signer.sign(&bytes).unwrap());
        let public =
            CosignVerificationKey::try_from_pem(key.public_key().to_pem().as_bytes()).unwrap();
        public
            .verify_signature(Signature::Base64Encoded(signature.as_bytes()), &bytes)
            .unwrap();
        // RS256 control-plane keys sign as cosign does with RSA keys (PKCS#1 v1.5, SHA-256).
        let rsa = SigningKey::generate("k3", KeyAlgorithm::Rs256).unwrap();
        let rsa_signature = CosignSigner::new(&rsa)
            .unwrap()
            .signer
            .sign(&bytes)
            .unwrap();
        CosignVerificationKey::try_from_pem(rsa.public_key().to_pem().as_bytes())
            .unwrap()
            .verify_signature(Signature::Raw(&rsa_signature), &bytes)
            .unwrap();

        let other = SigningKey::generate("k2", KeyAlgorithm::Es256).unwrap();
        let other =
            CosignVerificationKey::try_from_pem(other.public_key().to_pem().as_bytes()).unwrap();
        assert!(
            other
                .verify_signature(Signature::Base64Encoded(signature.as_bytes()), &bytes)
                .is_err()
        );
    }
}
