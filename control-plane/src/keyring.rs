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
    pub fn new(
        signing: SigningKey,
        extra: Vec<PublicKey>,
    ) -> Result<KeyRing, regent_bundle::KeyError> {
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
        let keys_dir = config.data_dir.join("keys");
        let uses_key_dir = config.signing.key_pem.is_none() && config.signing.key_file.is_none();
        let kid = match &config.signing.kid {
            Some(kid) => kid.clone(),
            None if uses_key_dir => active_kid(&keys_dir).unwrap_or_else(|| DEFAULT_KID.into()),
            None => DEFAULT_KID.into(),
        };
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
        if uses_key_dir {
            // Keys rotated out with `regent keys rotate` stay trusted until retired.
            for (old_kid, path) in public_keys_in(&keys_dir) {
                if old_kid == kid {
                    continue;
                }
                let pem = std::fs::read_to_string(&path).map_err(|source| KeyRingError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                extra.push(
                    PublicKey::from_pem(&old_kid, &pem)
                        .map_err(key_err(path.display().to_string()))?,
                );
            }
        }
        for vk in &config.signing.verification_keys {
            let pem = std::fs::read_to_string(&vk.file).map_err(|source| KeyRingError::Read {
                path: vk.file.display().to_string(),
                source,
            })?;
            extra.push(
                PublicKey::from_pem(&vk.kid, &pem)
                    .map_err(key_err(vk.file.display().to_string()))?,
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
        let trusted: Vec<String> = self.trusted.iter().map(|k| k.kid().to_owned()).collect();
        sqlx::query!(
            "UPDATE signing_keys SET state = 'retired', retired_at = now()
             WHERE state <> 'retired' AND NOT (kid = ANY($1))",
            &trusted
        )
        .execute(&mut *tx)
        .await?;
        for key in self.trusted.iter() {
            let state = if key.kid() == self.signing.kid() {
                "active"
            } else {
                "verify_only"
            };
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

/// The file naming the active key id in a data-dir key folder (written by `regent keys rotate`).
pub const ACTIVE_KID_FILE: &str = "active-kid";

fn active_kid(keys_dir: &Path) -> Option<String> {
    std::fs::read_to_string(keys_dir.join(ACTIVE_KID_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `(kid, path)` of every `<kid>.pub.pem` directly in `keys_dir`, sorted.
pub fn public_keys_in(keys_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut keys: Vec<(String, PathBuf)> = std::fs::read_dir(keys_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let kid = name.strip_suffix(".pub.pem")?.to_owned();
            Some((kid, entry.path()))
        })
        .collect();
    keys.sort();
    keys
}

/// Generates a new active key in `keys_dir` (kid `regent-<n+1>` unless given) and makes it the
/// active one. The previous keys stay trusted for verification until retired.
pub fn rotate(keys_dir: &Path, kid: Option<&str>) -> Result<SigningKey, KeyRingError> {
    let kid = match kid {
        Some(kid) => kid.to_owned(),
        None => {
            let highest = public_keys_in(keys_dir)
                .iter()
                .filter_map(|(k, _)| k.strip_prefix("regent-")?.parse::<u32>().ok())
                .max()
                .unwrap_or(1);
            format!("regent-{}", highest + 1)
        }
    };
    let key = generate_key_file(
        &default_key_path(keys_dir.parent().unwrap_or(keys_dir), &kid),
        &kid,
    )?;
    std::fs::write(keys_dir.join(ACTIVE_KID_FILE), format!("{kid}\n")).map_err(|source| {
        KeyRingError::Write {
            path: keys_dir.join(ACTIVE_KID_FILE).display().to_string(),
            source,
        }
    })?;
    Ok(key)
}

/// Stops trusting `kid`: its files move to `keys_dir/retired/`. The active key cannot be retired.
pub fn retire(keys_dir: &Path, kid: &str) -> Result<(), KeyRingError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| KeyRingError::Write { path, source }
    };
    if active_kid(keys_dir).as_deref().unwrap_or(DEFAULT_KID) == kid {
        return Err(KeyRingError::Write {
            path: kid.to_owned(),
            source: std::io::Error::other("the active key cannot be retired; rotate first"),
        });
    }
    let retired = keys_dir.join("retired");
    std::fs::create_dir_all(&retired).map_err(io(&retired))?;
    let mut moved = 0;
    for suffix in ["key.pem", "pub.pem"] {
        let from = keys_dir.join(format!("{kid}.{suffix}"));
        if from.exists() {
            std::fs::rename(&from, retired.join(format!("{kid}.{suffix}"))).map_err(io(&from))?;
            moved += 1;
        }
    }
    if moved == 0 {
        return Err(KeyRingError::Read {
            path: keys_dir
                .join(format!("{kid}.pub.pem"))
                .display()
                .to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such key"),
        });
    }
    Ok(())
}

pub fn default_key_path(data_dir: &Path, kid: &str) -> PathBuf {
    data_dir.join("keys").join(format!("{kid}.key.pem"))
}

/// Generates an ES256 key at `path` (0600) and its `.pub.pem` beside it.
pub fn generate_key_file(path: &Path, kid: &str) -> Result<SigningKey, KeyRingError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key =
        SigningKey::generate(kid, KeyAlgorithm::Es256).map_err(|source| KeyRingError::Key {
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
    std::fs::write(
        path.with_extension("").with_extension("pub.pem"),
        key.public_key().to_pem(),
    )
    .map_err(write_err)?;
    tracing::info!(kid, path = %path.display(), "generated a new ES256 signing key");
    Ok(key)
}
