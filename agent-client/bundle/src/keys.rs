//! Verification keys (always available) and signing keys (feature `sign`).

use std::collections::BTreeMap;
use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::bundle::hex;

/// The JWS algorithms Regent signs and verifies bundles with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl KeyAlgorithm {
    /// The JWS `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Es256 => "ES256",
            KeyAlgorithm::Rs256 => "RS256",
        }
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
        }
    }

    /// Parses `ES256`/`RS256` (case-insensitive).
    pub fn parse(s: &str) -> Option<KeyAlgorithm> {
        match s.to_ascii_uppercase().as_str() {
            "ES256" => Some(KeyAlgorithm::Es256),
            "RS256" => Some(KeyAlgorithm::Rs256),
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key could not be loaded or made.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    #[error("key is not PEM: {detail}")]
    NotPem { detail: String },
    #[error(
        "PEM block `{tag}` is not a supported key; use a `PUBLIC KEY` (SPKI) for verification or a `PRIVATE KEY` (PKCS#8) for signing"
    )]
    UnsupportedPem { tag: String },
    #[error("unsupported key type; regent signs with ES256 (EC P-256) or RS256 (RSA ≥ 2048 bits)")]
    UnsupportedKeyType,
    #[error("EC key is not on curve P-256; ES256 needs a P-256 key")]
    UnsupportedCurve,
    #[error("invalid {algorithm} key: {detail}")]
    InvalidKey {
        algorithm: KeyAlgorithm,
        detail: String,
    },
    #[error("key id must be 1–128 characters of `A-Za-z0-9._:-`, got `{kid}`")]
    InvalidKeyId { kid: String },
    #[error("duplicate key id `{kid}` among trusted keys")]
    DuplicateKeyId { kid: String },
    #[error("could not generate a key: {detail}")]
    Generate { detail: String },
}

// DER encodings of the object identifiers that tell key types apart inside SPKI/PKCS#8.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Which algorithm the DER of an SPKI or PKCS#8 structure is for.
fn algorithm_of(der: &[u8]) -> Result<KeyAlgorithm, KeyError> {
    if contains(der, OID_EC_PUBLIC_KEY) {
        if contains(der, OID_P256) {
            Ok(KeyAlgorithm::Es256)
        } else {
            Err(KeyError::UnsupportedCurve)
        }
    } else if contains(der, OID_RSA) {
        Ok(KeyAlgorithm::Rs256)
    } else {
        Err(KeyError::UnsupportedKeyType)
    }
}

/// Checks a key id: printable, short, safe in headers, logs and file names.
pub fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKeyId {
            kid: kid.chars().take(64).collect(),
        })
    }
}

/// A public key trusted to verify bundle signatures.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    decoding: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PublicKey {
    /// Loads a `PUBLIC KEY` (SPKI) PEM. The algorithm follows from the key: EC P-256 → ES256,
    /// RSA → RS256.
    pub fn from_pem(kid: &str, pem_text: &str) -> Result<PublicKey, KeyError> {
        check_kid(kid)?;
        let block = pem::parse(pem_text).map_err(|e| KeyError::NotPem {
            detail: e.to_string(),
        })?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::UnsupportedPem {
                tag: block.tag().to_owned(),
            });
        }
        Self::from_spki_der(kid, block.contents())
    }

    /// Loads a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(kid: &str, der: &[u8]) -> Result<PublicKey, KeyError> {
        check_kid(kid)?;
        let algorithm = algorithm_of(der)?;
        let pem_text = pem::encode(&pem::Pem::new("PUBLIC KEY", der.to_vec()));
        let invalid = |e: jsonwebtoken::errors::Error| KeyError::InvalidKey {
            algorithm,
            detail: e.to_string(),
        };
        let decoding = match algorithm {
            KeyAlgorithm::Es256 => {
                DecodingKey::from_ec_pem(pem_text.as_bytes()).map_err(invalid)?
            }
            KeyAlgorithm::Rs256 => {
                DecodingKey::from_rsa_pem(pem_text.as_bytes()).map_err(invalid)?
            }
        };
        Ok(PublicKey {
            kid: kid.to_owned(),
            algorithm,
            spki_der: der.to_vec(),
            decoding,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM `PUBLIC KEY`.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }

    /// `sha256:<hex>` of the DER public key; a stable name for the key material.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(&self.spki_der)))
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The key as a JWK (`kty`, `crv`/`x`/`y` or `n`/`e`, `kid`, `alg`, `use: sig`).
    pub fn to_jwk(&self) -> Result<serde_json::Value, KeyError> {
        let jwk =
            jsonwebtoken::jwk::Jwk::from_decoding_key(&self.decoding, Some(self.algorithm.jwt()))
                .map_err(|e| KeyError::InvalidKey {
                algorithm: self.algorithm,
                detail: e.to_string(),
            })?;
        let mut value = serde_json::to_value(jwk).map_err(|e| KeyError::InvalidKey {
            algorithm: self.algorithm,
            detail: e.to_string(),
        })?;
        if let Some(map) = value.as_object_mut() {
            map.insert("kid".into(), self.kid.clone().into());
            map.insert("use".into(), "sig".into());
            map.insert("alg".into(), self.algorithm.as_str().into());
        }
        Ok(value)
    }
}

/// The set of keys a verifier trusts, by `kid`. Several keys allow rotation.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustedKeys {
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Adds a key; two keys with one `kid` are refused.
    pub fn add(&mut self, key: PublicKey) -> Result<(), KeyError> {
        if self.keys.contains_key(key.kid()) {
            return Err(KeyError::DuplicateKeyId {
                kid: key.kid().to_owned(),
            });
        }
        self.keys.insert(key.kid().to_owned(), key);
        Ok(())
    }

    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> Result<TrustedKeys, KeyError> {
        let mut set = TrustedKeys::new();
        for key in keys {
            set.add(key)?;
        }
        Ok(set)
    }

    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }
}

#[cfg(feature = "sign")]
pub use signing::SigningKey;

#[cfg(feature = "sign")]
mod signing {
    use std::fmt;

    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use jsonwebtoken::EncodingKey;

    use super::{KeyAlgorithm, KeyError, PublicKey, algorithm_of, check_kid};

    /// A private key that signs bundles. Its Debug output never shows the key material.
    pub struct SigningKey {
        public: PublicKey,
        encoding: EncodingKey,
        pkcs8_der: Vec<u8>,
    }

    impl fmt::Debug for SigningKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SigningKey")
                .field("public", &self.public)
                .finish_non_exhaustive()
        }
    }

    fn invalid(algorithm: KeyAlgorithm, detail: &impl ToString) -> KeyError {
        KeyError::InvalidKey {
            algorithm,
            detail: detail.to_string(),
        }
    }

    impl SigningKey {
        /// Generates a new key (`ES256`: P-256; `RS256`: RSA 3072).
        pub fn generate(kid: &str, algorithm: KeyAlgorithm) -> Result<SigningKey, KeyError> {
            let generate = |e: aws_lc_rs::error::Unspecified| KeyError::Generate {
                detail: e.to_string(),
            };
            let pkcs8 = match algorithm {
                KeyAlgorithm::Es256 => {
                    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                        .map_err(generate)?;
                    pair.to_pkcs8v1().map_err(generate)?.as_ref().to_vec()
                }
                KeyAlgorithm::Rs256 => {
                    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072)
                        .map_err(generate)?;
                    let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                        pair.as_der().map_err(generate)?;
                    der.as_ref().to_vec()
                }
            };
            SigningKey::from_pkcs8_der(kid, &pkcs8)
        }

        /// Loads a `PRIVATE KEY` (PKCS#8) PEM holding an EC P-256 or RSA key.
        pub fn from_pem(kid: &str, pem_text: &str) -> Result<SigningKey, KeyError> {
            let block = pem::parse(pem_text).map_err(|e| KeyError::NotPem {
                detail: e.to_string(),
            })?;
            if block.tag() != "PRIVATE KEY" {
                return Err(KeyError::UnsupportedPem {
                    tag: block.tag().to_owned(),
                });
            }
            SigningKey::from_pkcs8_der(kid, block.contents())
        }

        fn from_pkcs8_der(kid: &str, der: &[u8]) -> Result<SigningKey, KeyError> {
            check_kid(kid)?;
            let algorithm = algorithm_of(der)?;
            let spki: Vec<u8> = match algorithm {
                KeyAlgorithm::Es256 => {
                    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                        .map_err(|e| invalid(algorithm, &e))?;
                    let spki: PublicKeyX509Der<'_> = pair
                        .public_key()
                        .as_der()
                        .map_err(|e| invalid(algorithm, &e))?;
                    spki.as_ref().to_vec()
                }
                KeyAlgorithm::Rs256 => {
                    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(der)
                        .map_err(|e| invalid(algorithm, &e))?;
                    if pair.public_modulus_len() < 256 {
                        return Err(invalid(algorithm, &"RSA keys must be at least 2048 bits"));
                    }
                    let spki: PublicKeyX509Der<'_> = pair
                        .public_key()
                        .as_der()
                        .map_err(|e| invalid(algorithm, &e))?;
                    spki.as_ref().to_vec()
                }
            };
            let encoding = match algorithm {
                KeyAlgorithm::Es256 => EncodingKey::from_ec_der(der),
                // The RSA signer wants PKCS#1; the PEM path unwraps it from PKCS#8.
                KeyAlgorithm::Rs256 => {
                    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()));
                    EncodingKey::from_rsa_pem(pem_text.as_bytes())
                        .map_err(|e| invalid(algorithm, &e))?
                }
            };
            Ok(SigningKey {
                public: PublicKey::from_spki_der(kid, &spki)?,
                encoding,
                pkcs8_der: der.to_vec(),
            })
        }

        pub fn public_key(&self) -> &PublicKey {
            &self.public
        }

        pub fn kid(&self) -> &str {
            self.public.kid()
        }

        pub fn algorithm(&self) -> KeyAlgorithm {
            self.public.algorithm()
        }

        /// PEM `PRIVATE KEY` (PKCS#8). Handle as a secret.
        pub fn to_pem(&self) -> String {
            pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8_der.clone()))
        }

        pub(crate) fn encoding(&self) -> &EncodingKey {
            &self.encoding
        }
    }
}
