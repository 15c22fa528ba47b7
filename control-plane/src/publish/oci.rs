//! Pushing a revision as a plain OCI image manifest: a `{}` config, one tar+gzip layer holding
//! the signed bundle, annotations. Never an index: deployed OPAs cannot read one.
//!
//! The manifest is built from stored data only (the revision's own `created_at`, not the
//! clock), so publishing the same revision again yields the same bytes and digest: retries and
//! channel tags are idempotent.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::config::{RegistryAuth as AuthConfig, RegistryConfig};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The config blob: OPA and skopeo only need a valid JSON object.
pub const EMPTY_CONFIG: &[u8] = b"{}";

pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_PERSONA: &str = "dev.regent.persona";
pub const ANNOTATION_SEQUENCE: &str = "dev.regent.sequence";

#[derive(Debug, Error)]
pub enum OciError {
    #[error(
        "registry `{registry}`: environment variable `{var}` is not set; set it to the registry {what}"
    )]
    MissingSecret {
        registry: String,
        var: String,
        what: &'static str,
    },
    #[error("registry `{registry}`: {operation} `{reference}` failed: {detail}")]
    Registry {
        registry: String,
        operation: &'static str,
        reference: String,
        /// The error chain, with any secret of this registry redacted.
        detail: String,
    },
    #[error("registry `{registry}`: `{reference}` {detail}")]
    Unexpected {
        registry: String,
        reference: String,
        detail: String,
    },
    #[error("cannot encode the manifest: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What goes into one published artifact.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    pub persona: &'a str,
    pub revision: &'a str,
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    /// `org.opencontainers.image.source`, when the push recorded a source repository.
    pub source_url: Option<&'a str>,
    /// The signed bundle (tar.gz).
    pub bundle: &'a [u8],
}

/// An encoded manifest and its digest (`sha256:<hex>` of exactly these bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        regent_bundle::bundle::hex(&Sha256::digest(bytes))
    )
}

pub(crate) fn descriptor(
    media_type: &str,
    bytes: &[u8],
    annotations: Option<BTreeMap<String, String>>,
) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: sha256_digest(bytes),
        size: bytes.len() as i64,
        annotations,
        ..OciDescriptor::default()
    }
}

/// Encodes an image manifest with `mediaType` set (oci-client's `build` leaves it out, and
/// some clients then guess a Docker manifest).
pub fn encode_image_manifest(
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
) -> Result<EncodedManifest, OciError> {
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
        config,
        layers,
        subject: None,
        artifact_type: None,
        annotations,
    };
    let bytes = serde_json::to_vec(&manifest)?;
    Ok(EncodedManifest {
        digest: sha256_digest(&bytes),
        bytes,
    })
}

/// The manifest of a revision: deterministic for the same artifact.
pub fn revision_manifest(artifact: &Artifact<'_>) -> Result<EncodedManifest, OciError> {
    let mut annotations = BTreeMap::from([
        (ANNOTATION_REVISION.to_owned(), artifact.revision.to_owned()),
        (
            ANNOTATION_CREATED.to_owned(),
            artifact
                .created_at
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        (ANNOTATION_PERSONA.to_owned(), artifact.persona.to_owned()),
        (
            ANNOTATION_SEQUENCE.to_owned(),
            artifact.sequence.to_string(),
        ),
    ]);
    if let Some(url) = artifact.source_url {
        annotations.insert(ANNOTATION_SOURCE.to_owned(), url.to_owned());
    }
    let title = BTreeMap::from([(
        ANNOTATION_TITLE.to_owned(),
        format!("{}.tar.gz", artifact.revision),
    )]);
    encode_image_manifest(
        descriptor(CONFIG_MEDIA_TYPE, EMPTY_CONFIG, None),
        vec![descriptor(LAYER_MEDIA_TYPE, artifact.bundle, Some(title))],
        Some(annotations),
    )
}

/// One configured registry with its client and resolved credentials. Cheap to clone (the
/// oci-client is shared and caches tokens).
#[derive(Clone)]
pub struct RegistryClient {
    config: RegistryConfig,
    client: Client,
    auth: RegistryAuth,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // RegistryAuth's own Debug redacts the secret.
        f.debug_struct("RegistryClient")
            .field("name", &self.config.name)
            .field("host", &self.config.host)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `config`, with secrets read from the process environment.
    pub fn new(config: &RegistryConfig) -> Result<RegistryClient, OciError> {
        Self::with_env(config, |var| std::env::var(var).ok())
    }

    /// As [`RegistryClient::new`], reading secrets through `env`.
    pub fn with_env(
        config: &RegistryConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<RegistryClient, OciError> {
        let secret = |var: &str, what: &'static str| {
            env(var)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| OciError::MissingSecret {
                    registry: config.name.clone(),
                    var: var.to_owned(),
                    what,
                })
        };
        let auth = match &config.auth {
            AuthConfig::Anonymous => RegistryAuth::Anonymous,
            AuthConfig::Basic {
                username,
                password_env,
            } => RegistryAuth::Basic(username.clone(), secret(password_env, "password")?),
            AuthConfig::Bearer { token_env } => RegistryAuth::Bearer(secret(token_env, "token")?),
        };
        // Plain HTTP only where the config allows it (loopback registries; enforced by
        // `Config::validate`); the default https fails against them with an opaque error.
        let protocol = if config.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(5)),
            read_timeout: Some(std::time::Duration::from_secs(30)),
            ..ClientConfig::default()
        });
        Ok(RegistryClient {
            config: config.clone(),
            client,
            auth,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    pub fn tag_reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(
            self.config.host.clone(),
            repository.to_owned(),
            tag.to_owned(),
        )
    }

    pub fn digest_reference(&self, repository: &str, digest: &str) -> Reference {
        Reference::with_digest(
            self.config.host.clone(),
            repository.to_owned(),
            digest.to_owned(),
        )
    }

    /// Turns a client error into ours, with the whole cause chain (the interesting part of a
    /// connection error is at the bottom) and never a secret.
    pub(crate) fn error(
        &self,
        operation: &'static str,
        reference: &Reference,
        e: &OciDistributionError,
    ) -> OciError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = cause.source();
        }
        OciError::Registry {
            registry: self.config.name.clone(),
            operation,
            reference: reference.whole(),
            detail: self.redact(detail),
        }
    }

    fn redact(&self, mut text: String) -> String {
        let secret = match &self.auth {
            RegistryAuth::Anonymous => return text,
            RegistryAuth::Basic(_, password) => password,
            RegistryAuth::Bearer(token) => token,
        };
        if !secret.is_empty() {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        text
    }

    /// Uploads a blob unless the repository already has it.
    pub async fn ensure_blob(
        &self,
        reference: &Reference,
        bytes: &[u8],
    ) -> Result<String, OciError> {
        let digest = sha256_digest(bytes);
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        let exists = self
            .client
            .blob_exists(reference, &digest)
            .await
            .map_err(|e| self.error("checking blob", reference, &e))?;
        if !exists {
            self.client
                .push_blob(reference, bytes.to_vec(), &digest)
                .await
                .map_err(|e| self.error("pushing blob", reference, &e))?;
        }
        Ok(digest)
    }

    /// PUTs an already-encoded manifest under `reference`'s tag.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        manifest: &EncodedManifest,
    ) -> Result<(), OciError> {
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        let content_type = reqwest::header::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        self.client
            .push_manifest_raw(reference, manifest.bytes.clone(), content_type)
            .await
            .map_err(|e| self.error("pushing manifest", reference, &e))?;
        Ok(())
    }

    /// Publishes `artifact` in `repository` under `tag` and returns its manifest digest.
    /// Idempotent: blobs already present are not uploaded again, and the manifest is the same.
    pub async fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        artifact: &Artifact<'_>,
    ) -> Result<EncodedManifest, OciError> {
        let manifest = revision_manifest(artifact)?;
        let reference = self.tag_reference(repository, tag);
        self.ensure_blob(&reference, EMPTY_CONFIG).await?;
        self.ensure_blob(&reference, artifact.bundle).await?;
        self.put_manifest(&reference, &manifest).await?;
        Ok(manifest)
    }

    /// Points `tag` at the already-pushed manifest `digest` (moves a channel tag): the exact
    /// manifest bytes are fetched by digest and PUT again under the tag.
    pub async fn tag_manifest(
        &self,
        repository: &str,
        digest: &str,
        tag: &str,
    ) -> Result<(), OciError> {
        let source = self.digest_reference(repository, digest);
        let manifest = self
            .pull_manifest(&source)
            .await?
            .ok_or_else(|| OciError::Unexpected {
                registry: self.config.name.clone(),
                reference: source.whole(),
                detail: "does not exist; publish the revision before tagging it".into(),
            })?;
        self.put_manifest(&self.tag_reference(repository, tag), &manifest)
            .await
    }

    /// The raw image manifest at `reference`, or `None` when the registry does not have it.
    pub async fn pull_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<EncodedManifest>, OciError> {
        match self
            .client
            .pull_manifest_raw(reference, &self.auth, &[MANIFEST_MEDIA_TYPE])
            .await
        {
            Ok((bytes, _)) => {
                let bytes = bytes.to_vec();
                let digest = sha256_digest(&bytes);
                if reference.digest().is_some_and(|d| d != digest) {
                    return Err(OciError::Unexpected {
                        registry: self.config.name.clone(),
                        reference: reference.whole(),
                        detail: format!("was served with digest `{digest}`"),
                    });
                }
                Ok(Some(EncodedManifest { bytes, digest }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error("pulling manifest", reference, &e)),
        }
    }

    /// A blob's bytes (its digest is checked by the client).
    pub async fn pull_blob(
        &self,
        reference: &Reference,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let mut out = Vec::new();
        self.client
            .pull_blob(reference, descriptor, &mut out)
            .await
            .map_err(|e| self.error("pulling blob", reference, &e))?;
        Ok(out)
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// A URL-looking source repository recorded at push, for `org.opencontainers.image.source`.
pub fn source_url(source: &serde_json::Value) -> Option<&str> {
    ["url", "repository", "repository_url", "source"]
        .iter()
        .filter_map(|key| source.get(key)?.as_str())
        .find(|v| v.starts_with("https://") || v.starts_with("http://") || v.starts_with("git@"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn artifact(bundle: &[u8]) -> Artifact<'_> {
        Artifact {
            persona: "hr-bot",
            revision: "hr-bot-7",
            sequence: 7,
            created_at: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            source_url: Some("https://git.example/policies"),
            bundle,
        }
    }

    #[test]
    fn the_manifest_is_a_plain_image_manifest_and_deterministic() {
        let a = revision_manifest(&artifact(b"bundle")).unwrap();
        let b = revision_manifest(&artifact(b"bundle")).unwrap();
        assert_eq!(a, b);
        assert_ne!(
            a.digest,
            revision_manifest(&artifact(b"other")).unwrap().digest
        );
        let json: serde_json::Value = serde_json::from_slice(&a.bytes).unwrap();
        assert_eq!(json["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(json["schemaVersion"], 2);
        assert_eq!(json["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(json["config"]["size"], 2);
        assert_eq!(json["layers"].as_array().unwrap().len(), 1);
        assert_eq!(json["layers"][0]["mediaType"], LAYER_MEDIA_TYPE);
        assert_eq!(json["layers"][0]["digest"], sha256_digest(b"bundle"));
        let annotations = &json["annotations"];
        assert_eq!(annotations[ANNOTATION_REVISION], "hr-bot-7");
        assert_eq!(annotations[ANNOTATION_CREATED], "2025-11-24T16:00:00Z");
        assert_eq!(annotations[ANNOTATION_PERSONA], "hr-bot");
        assert_eq!(annotations[ANNOTATION_SEQUENCE], "7");
        assert_eq!(
            annotations[ANNOTATION_SOURCE],
            "https://git.example/policies"
        );
        assert_eq!(a.digest, sha256_digest(&a.bytes));
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_show() {
        let config = RegistryConfig {
            name: "ghcr".into(),
            host: "ghcr.io".into(),
            repository_prefix: "acme".into(),
            insecure: false,
            auth: AuthConfig::Basic {
                username: "bot".into(),
                password_env: "GHCR_PASSWORD".into(),
            },
        };
        let err = RegistryClient::with_env(&config, |_| None).unwrap_err();
        assert!(err.to_string().contains("`GHCR_PASSWORD`"), "{err}");
        let client = RegistryClient::with_env(&config, |_| Some("s3cret".into())).unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        assert_eq!(
            client.redact("denied for s3cret".into()),
            "denied for <redacted>"
        );
        assert_eq!(config.repository("hr-bot"), "acme/hr-bot");
    }

    #[test]
    fn source_url_takes_only_urls() {
        let source = serde_json::json!({"commit": "abc", "repository": "https://git.example/p"});
        assert_eq!(source_url(&source), Some("https://git.example/p"));
        assert_eq!(
            source_url(&serde_json::json!({"repository": "policies"})),
            None
        );
    }
}
