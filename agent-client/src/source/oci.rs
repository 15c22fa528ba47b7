//! An OCI registry: resolve the tag to a manifest digest, fetch that manifest by digest, check its cosign
//! signature, pull the bundle layer (`application/vnd.oci.image.layer.v1.tar+gzip`, or the
//! `application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip` some tools push) with a size cap, then activate it
//! with the layer digest as the expected bundle digest — so both signatures (cosign over the manifest, OPA's
//! over the files) are checked. OCI has no long polling: periodic polls, backoff on errors.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use regent_bundle::TrustedKeys;
use sha2::{Digest as _, Sha256};

use super::cosign::{self, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SignatureLayer};
use super::{activate_download, request_done, request_failed};
use crate::agent::{Agent, PersonaRuntime};
use crate::backoff;
use crate::config::seconds;
use crate::shutdown::Shutdown;
use crate::snapshot::Origin;

/// Bundle layer media types accepted, in preference order.
pub const LAYER_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip",
];
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Signature payloads are a few hundred bytes; anything bigger under a `.sig` tag is not read.
const MAX_PAYLOAD_BYTES: i64 = 64 * 1024;
/// Manifests are small; a registry sending more is refused.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// One persona's registry poller.
pub struct OciSource {
    pub agent: Agent,
    pub rt: Arc<PersonaRuntime>,
    pub reference: Reference,
    pub client: Client,
    pub auth: RegistryAuth,
    /// Keys for the cosign signature; `None` = no cosign check (only with `insecure_skip_verify`).
    pub cosign_keys: Option<TrustedKeys>,
}

impl std::fmt::Debug for OciSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciSource")
            .field("reference", &self.reference.whole())
            .finish_non_exhaustive()
    }
}

/// A registry client: plain HTTP for `insecure` (loopback registries), HTTPS otherwise.
pub fn client(insecure: bool) -> Client {
    Client::new(ClientConfig {
        protocol: if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        ..ClientConfig::default()
    })
}

impl OciSource {
    pub async fn run(self, mut shutdown: Shutdown) {
        let polling = self.agent.config().polling.clone();
        let mut retries = 0u32;
        // The manifest digest last handled (activated, unchanged or refused): not fetched again.
        let mut handled: Option<String> = None;
        loop {
            let result = tokio::select! {
                () = shutdown.wait() => return,
                result = self.poll(&mut handled) => result,
            };
            let delay = match result {
                Ok(()) => {
                    retries = 0;
                    backoff::uniform(
                        seconds(polling.min_delay_seconds),
                        seconds(polling.max_delay_seconds),
                    )
                }
                Err(()) => {
                    retries = retries.saturating_add(1);
                    backoff::delay(seconds(polling.max_delay_seconds), retries)
                }
            };
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn poll(&self, handled: &mut Option<String>) -> Result<(), ()> {
        let fail = |message: String| {
            request_done(&self.rt, false);
            request_failed(&self.rt, message, None);
        };
        let digest = match self
            .client
            .fetch_manifest_digest(&self.reference, &self.auth)
            .await
        {
            Ok(digest) => digest,
            Err(e) => {
                fail(format!("cannot resolve `{}`: {e}", self.reference.whole()));
                return Err(());
            }
        };
        if handled.as_deref() == Some(digest.as_str()) {
            request_done(&self.rt, true);
            return if self.rt.bundle_state().rejected_digest.is_some() {
                Err(())
            } else {
                Ok(())
            };
        }
        match self.fetch(&digest).await {
            Ok((archive, layer_digest)) => {
                request_done(&self.rt, true);
                let origin = Origin::Oci {
                    reference: self.reference.whole(),
                    manifest_digest: digest.clone(),
                };
                let result =
                    activate_download(&self.agent, &self.rt, archive, Some(layer_digest), origin)
                        .await;
                *handled = Some(digest);
                result.map(|_| ()).map_err(|_| ())
            }
            Err(message) => {
                fail(message);
                // Not remembered as handled: the next poll (after the error backoff) tries this digest
                // again, so a network failure heals by itself. A tampered manifest, layer or signature
                // fails the same way every time — refused again, never activated, the error kept in
                // status — until the tag points at good content.
                Err(())
            }
        }
    }

    /// The bundle bytes of manifest `digest` and the layer's hex digest, after the cosign check.
    async fn fetch(&self, digest: &str) -> Result<(Vec<u8>, String), String> {
        let by_digest = self.reference.clone_with_digest(digest.to_owned());
        let (bytes, _) = self
            .client
            .pull_manifest_raw(
                &by_digest,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, DOCKER_MANIFEST],
            )
            .await
            .map_err(|e| format!("cannot fetch manifest `{digest}`: {e}"))?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(format!(
                "manifest `{digest}` is larger than {MAX_MANIFEST_BYTES} bytes"
            ));
        }
        let actual = format!(
            "sha256:{}",
            regent_bundle::bundle::hex(&Sha256::digest(&bytes))
        );
        if actual != digest {
            return Err(format!(
                "manifest digest mismatch: resolved `{digest}`, content hashes to `{actual}`"
            ));
        }
        let manifest: OciImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| format!("manifest `{digest}` is not an image manifest: {e}"))?;
        if let Some(keys) = &self.cosign_keys {
            self.check_cosign(digest, keys).await?;
        }
        let layer = LAYER_MEDIA_TYPES
            .iter()
            .find_map(|t| manifest.layers.iter().find(|l| l.media_type == *t))
            .ok_or_else(|| {
                format!(
                    "no tarball descriptor found in the layers of `{digest}` (accepted: {})",
                    LAYER_MEDIA_TYPES.join(", ")
                )
            })?;
        let limit = self.agent.config().bundle_limits.max_archive_bytes;
        let archive = self.pull_capped(&by_digest, layer, limit).await?;
        let layer_hex = layer
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&layer.digest)
            .to_ascii_lowercase();
        Ok((archive, layer_hex))
    }

    async fn check_cosign(&self, digest: &str, keys: &TrustedKeys) -> Result<(), String> {
        let tag = cosign::signature_tag(digest).map_err(|e| e.to_string())?;
        let sig_ref = Reference::with_tag(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            tag.clone(),
        );
        let bytes = match self
            .client
            .pull_manifest_raw(
                &sig_ref,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, DOCKER_MANIFEST],
            )
            .await
        {
            Ok((bytes, _)) => bytes,
            Err(e) if is_not_found(&e) => {
                return Err(cosign::CosignError::Missing { tag }.to_string());
            }
            Err(e) => return Err(format!("cannot fetch the cosign signature `{tag}`: {e}")),
        };
        let manifest: OciImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            cosign::CosignError::Malformed {
                tag: tag.clone(),
                detail: e.to_string(),
            }
            .to_string()
        })?;
        let mut layers = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        {
            if layer.size > MAX_PAYLOAD_BYTES {
                continue;
            }
            let payload = self
                .pull_capped(&sig_ref, layer, MAX_PAYLOAD_BYTES as u64)
                .await?;
            layers.push(SignatureLayer {
                payload,
                signature_b64: layer
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(SIGNATURE_ANNOTATION).cloned()),
            });
        }
        cosign::verify(&tag, &layers, keys, digest).map_err(|e| e.to_string())
    }

    /// Pulls a blob, refusing more than `limit` bytes and checking its digest.
    async fn pull_capped(
        &self,
        image: &Reference,
        layer: &OciDescriptor,
        limit: u64,
    ) -> Result<Vec<u8>, String> {
        if layer.size < 0 || layer.size as u64 > limit {
            return Err(format!(
                "layer `{}` is {} bytes, over the {limit}-byte limit",
                layer.digest, layer.size
            ));
        }
        let mut stream = self
            .client
            .pull_blob_stream(image, layer)
            .await
            .map_err(|e| format!("cannot fetch layer `{}`: {e}", layer.digest))?;
        let mut out = Vec::with_capacity(layer.size as usize);
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), stream.stream.next())
            .await
            .map_err(|_| format!("layer `{}` stalled", layer.digest))?
        {
            let chunk =
                chunk.map_err(|e| format!("reading layer `{}` failed: {e}", layer.digest))?;
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(format!(
                    "layer `{}` is larger than {limit} bytes",
                    layer.digest
                ));
            }
            out.extend_from_slice(&chunk);
        }
        let actual = format!(
            "sha256:{}",
            regent_bundle::bundle::hex(&Sha256::digest(&out))
        );
        if actual != layer.digest {
            return Err(format!(
                "layer digest mismatch: manifest says `{}`, content hashes to `{actual}`",
                layer.digest
            ));
        }
        Ok(out)
    }
}

/// Whether a registry error means "no such manifest" (registries answer 404 with `MANIFEST_UNKNOWN`).
fn is_not_found(error: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match error {
        E::ImageManifestNotFoundError(_) => true,
        other => {
            let text = other.to_string();
            text.contains("MANIFEST_UNKNOWN")
                || text.contains("manifest unknown")
                || text.contains("404")
        }
    }
}
