//! The signing keys the control plane uses: one active private key that signs every new
//! revision, plus public keys agents should trust (the active one and any kept for rotation).
//! Private keys come from a file or the environment and never enter the database; the public
//! halves are recorded in `signing_keys` so every revision names the key that signed it.

use std::path::{Path, PathBuf};

use regent_bundle::{KeyAlgorithm, PublicKey, SigningKey, TrustedKeys};
use thiserror::Error;

use crate::config::Config;
use crate::store::{Store, StoreResult};

#[derive(Debug, Error)]
pub enum KeyRingError {
    #[error("cannot read signing key `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("signing key `{origin}`: {source}")]
    Key {
        origin: String,
        #[source]
        source: regent_bundle::KeyError,
    },
    #[error("cannot write generated key to `{path}`: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The active signing key and the trusted verification keys.
#[derive(Debug)]
pub struct KeyRing {
    signing: SigningKey,
    trusted: TrustedKeys,
}

/// The default key id.
pub const DEFAULT_KID: &str = "regent-1";

impl KeyRing {
    pub fn new(signing: SigningKey, extra: Vec<PublicKey>) -> Result<KeyRing, regent_bundle::KeyError> {
        let mut trusted = TrustedKeys::new();
        trusted.add(signing.public_key().clone())?;
        for key in extra {
            if key.kid() != signing.kid() {
                trusted.add(key)?;
            }
        }
        Ok(KeyRing { signing, trusted })
    }

    /// Loads the key from `REGENT_SIGNING_KEY`, then `signing.key_file`, then
    /// `<data_dir>/keys/<kid>.key.pem`, generating that file (ES256, mode 0600) when nothing is
    /// configured, so a first start works out of the box.
    pub fn load(config: &Config) -> Result<KeyRing, KeyRingError> {
        let kid = config.signing.kid.clone().unwrap_or_else(|| DEFAULT_KID.into());
        let key_err = |origin: String| move |source| KeyRingError::Key { origin, source };
        let signing = if let Some(pem) = &config.signing.key_pem {
            SigningKey::from_pem(&kid, pem).map_err(key_err("REGENT_SIGNING_KEY".into()))?
        } else {
            let path = config
                .signing
                .key_file
                .clone()
                .unwrap_or_else(|| default_key_path(&config.data_dir, &kid));
            if !path.exists() && config.signing.key_file.is_none() {
                generate_key_file(&path, &kid)?
            } else {
                let pem = std::fs::read_to_string(&path).map_err(|source| KeyRingError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                SigningKey::from_pem(&kid, &pem).map_err(key_err(path.display().to_string()))?
            }
        };
        let mut extra = Vec::new();
        for vk in &config.signing.verification_keys {
            let pem = std::fs::read_to_string(&vk.file).map_err(|source| KeyRingError::Read {
                path: vk.file.display().to_string(),
                source,
            })?;
            extra.push(
                PublicKey::from_pem(&vk.kid, &pem).map_err(key_err(vk.file.display().to_string()))?,
            );
        }
        KeyRing::new(signing, extra).map_err(key_err("verification keys".into()))
    }

    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    pub fn trusted(&self) -> &TrustedKeys {
        &self.trusted
    }

    /// Records the public keys in the database: the signing key `active`, the others
    /// `verify_only`. A previously active key that is no longer the signer becomes `verify_only`.
    pub async fn register(&self, store: &Store) -> StoreResult<()> {
        let mut tx = store.pool.begin().await?;
        sqlx::query!(
            "UPDATE signing_keys SET state = 'verify_only' WHERE state = 'active' AND kid <> $1",
            self.signing.kid()
        )
        .execute(&mut *tx)
        .await?;
        for key in self.trusted.iter() {
            let state = if key.kid() == self.signing.kid() { "active" } else { "verify_only" };
            sqlx::query!(
                "INSERT INTO signing_keys (kid, algorithm, public_key_pem, fingerprint, state)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (kid) DO UPDATE SET state = EXCLUDED.state
                 WHERE signing_keys.fingerprint = EXCLUDED.fingerprint",
                key.kid(),
                key.algorithm().as_str(),
                key.to_pem(),
                key.fingerprint(),
                state
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub fn default_key_path(data_dir: &Path, kid: &str) -> PathBuf {
    data_dir.join("keys").join(format!("{kid}.key.pem"))
}

/// Generates an ES256 key at `path` (0600) and its `.pub.pem` beside it.
pub fn generate_key_file(path: &Path, kid: &str) -> Result<SigningKey, KeyRingError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key = SigningKey::generate(kid, KeyAlgorithm::Es256).map_err(|source| KeyRingError::Key {
        origin: "generated key".into(),
        source,
    })?;
    let write_err = |source| KeyRingError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_err)?;
    file.write_all(key.to_pem().as_bytes()).map_err(write_err)?;
    std::fs::write(path.with_extension("").with_extension("pub.pem"), key.public_key().to_pem())
        .map_err(write_err)?;
    tracing::info!(kid, path = %path.display(), "generated a new ES256 signing key");
    Ok(key)
}
