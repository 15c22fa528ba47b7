//! The last-known-good bundle on disk: `<state_dir>/<persona>/bundle.tar.gz` plus `bundle.json` (ETag,
//! sequence, revision, digest). Written atomically after every activation; at start it is read and put
//! through the full activation pipeline again (signature, scope, compile), so a tampered or corrupted copy is
//! refused and the agent denies until a good bundle arrives.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::logs::spool::write_synced;

pub const BUNDLE_FILE: &str = "bundle.tar.gz";
pub const META_FILE: &str = "bundle.json";

/// What is stored next to the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskMeta {
    /// SHA-256 hex of `bundle.tar.gz`.
    pub bundle_digest: String,
    /// The ETag to send as `If-None-Match` after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub sequence: u64,
    pub revision: String,
    /// Where it came from (`control_plane`, `oci`, `file`, `api`).
    pub origin: String,
    pub saved_at: chrono::DateTime<chrono::Utc>,
}

/// A persona's state folder.
pub fn persona_dir(state_dir: &Path, persona: &str) -> PathBuf {
    state_dir.join(persona)
}

/// Writes the bundle, then its metadata, each atomically (a crash between the two leaves a bundle whose
/// digest does not match the metadata; the loader then ignores the metadata, not the bundle).
pub fn save(dir: &Path, archive: &[u8], meta: &DiskMeta) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_synced(&dir.join(BUNDLE_FILE), archive)?;
    let json = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
    write_synced(&dir.join(META_FILE), &json)
}

/// The stored bundle and its metadata (`None` when the metadata is missing or does not describe these bytes).
pub fn load(dir: &Path) -> io::Result<Option<(Vec<u8>, Option<DiskMeta>)>> {
    let archive = match std::fs::read(dir.join(BUNDLE_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = std::fs::read(dir.join(META_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<DiskMeta>(&bytes).ok())
        .filter(|meta| meta.bundle_digest == crate::snapshot::sha256_hex(&archive));
    Ok(Some((archive, meta)))
}
