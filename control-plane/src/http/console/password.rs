//! Console user passwords: scrypt (N=2^17, r=8, p=1 — OWASP's minimum), a random 16-byte salt,
//! the parameters stored with the hash. Verification is constant time and bounded: at most
//! [`CONCURRENT`] hashes run at once (each takes 128 MiB), so a flood of sign-ins cannot
//! exhaust memory.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use thiserror::Error;
use tokio::sync::Semaphore;

const LOG_N: u8 = 17;
const R: u32 = 8;
const P: u32 = 1;
const HASH_LEN: usize = 32;
const CONCURRENT: usize = 2;

/// Shortest password `regent users create` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

static PERMITS: Semaphore = Semaphore::const_new(CONCURRENT);

/// Verified against when the user does not exist, so an unknown name costs as much as a wrong
/// password (no user enumeration by timing).
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash_password("regent-dummy-password").unwrap_or_default());

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("password hash is not in the `scrypt$log_n$r$p$salt$hash` format")]
    Format,
    #[error("invalid scrypt parameters")]
    Params,
    #[error("the password hashing task failed")]
    Task,
}

fn params(log_n: u8, r: u32, p: u32) -> Result<scrypt::Params, PasswordError> {
    scrypt::Params::new(log_n, r, p).map_err(|_| PasswordError::Params)
}

fn derive(
    password: &str,
    salt: &[u8],
    params: &scrypt::Params,
) -> Result<[u8; HASH_LEN], PasswordError> {
    let mut out = [0u8; HASH_LEN];
    scrypt::scrypt(password.as_bytes(), salt, params, &mut out)
        .map_err(|_| PasswordError::Params)?;
    Ok(out)
}

/// Hashes a new password (blocking: call it off the async runtime).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let hash = derive(password, &salt, &params(LOG_N, R, P)?)?;
    Ok(format!(
        "scrypt${LOG_N}${R}${P}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    ))
}

/// Checks `password` against a stored hash (blocking).
pub fn verify_password(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, log_n, r, p, salt, hash] = parts.as_slice() else {
        return Err(PasswordError::Format);
    };
    if *alg != "scrypt" {
        return Err(PasswordError::Format);
    }
    let parse = |s: &str| s.parse::<u32>().map_err(|_| PasswordError::Format);
    let log_n = u8::try_from(parse(log_n)?).map_err(|_| PasswordError::Format)?;
    let params = params(log_n, parse(r)?, parse(p)?)?;
    let salt = STANDARD_NO_PAD
        .decode(salt)
        .map_err(|_| PasswordError::Format)?;
    let expected = STANDARD_NO_PAD
        .decode(hash)
        .map_err(|_| PasswordError::Format)?;
    let actual = derive(password, &salt, &params)?;
    Ok(bool::from(actual.as_slice().ct_eq(expected.as_slice())))
}

/// Verifies on a blocking thread, at most [`CONCURRENT`] at a time. `stored = None` (unknown
/// user) verifies against a dummy hash and returns `false`, taking the same time.
pub async fn verify_async(password: String, stored: Option<String>) -> Result<bool, PasswordError> {
    let _permit = PERMITS.acquire().await.map_err(|_| PasswordError::Task)?;
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => verify_password(&password, &DUMMY).map(|_| false),
    })
    .await
    .map_err(|_| PasswordError::Task)?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(stored.starts_with("scrypt$17$8$1$"));
        assert!(verify_password("correct horse battery", &stored).unwrap());
        assert!(!verify_password("correct horse batterY", &stored).unwrap());
        assert!(matches!(
            verify_password("x", "bcrypt$1"),
            Err(PasswordError::Format)
        ));
    }
}
