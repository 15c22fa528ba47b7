//! What the control plane tells an agent to run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The revision an agent should run, and where to fetch its bytes.
///
/// The agent checks the downloaded bundle against `digest` and refuses a `sequence` lower than the one it runs
/// (revisions only move forward; a rollback is issued as a new, higher sequence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleAssignmentV1 {
    /// The persona, e.g. `hr-bot`; also the signature `scope` the bundle must carry.
    pub persona: String,
    /// The channel the agent follows, e.g. `stable` or `canary`.
    pub channel: String,
    /// The revision id, as in the bundle's `.manifest` `revision`.
    pub revision: String,
    /// The revision's sequence number within the persona (strictly increasing).
    pub sequence: u64,
    /// SHA-256 of the bundle's tar.gz bytes.
    pub digest: Sha256Digest,
    /// Where to download the tar.gz, e.g. `https://regent.example/bundles/hr-bot`.
    pub download_url: String,
    /// The same bytes in an OCI registry, e.g. `registry.example/regent/hr-bot@sha256:…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_reference: Option<String>,
}

/// A SHA-256 digest: 64 lower-case hex digits, without the `sha256:` prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest(String);

/// Why an assignment value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssignmentError {
    /// Not 64 lower-case hex digits.
    #[error(
        "digest `{0}` is not a sha256 digest; expected 64 lower-case hex digits without a `sha256:` prefix"
    )]
    Digest(String),
}

impl Sha256Digest {
    /// The 64 hex digits.
    pub fn as_hex(&self) -> &str {
        &self.0
    }

    /// The OCI form, `sha256:<hex>`.
    pub fn to_oci(&self) -> String {
        format!("sha256:{}", self.0)
    }

    /// From raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl FromStr for Sha256Digest {
    type Err = AssignmentError;

    fn from_str(hex: &str) -> Result<Self, Self::Err> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(hex.to_owned()))
        } else {
            Err(AssignmentError::Digest(hex.to_owned()))
        }
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = AssignmentError;

    fn try_from(hex: String) -> Result<Self, Self::Error> {
        hex.parse()
    }
}

impl From<Sha256Digest> for String {
    fn from(digest: Sha256Digest) -> Self {
        digest.0
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
