//! Roles, principals and API tokens (the domain side; the HTTP extractor is in `http::auth`).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a token may do (DESIGN decision 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including tokens and keys.
    Admin,
    /// Push revisions and roll them out.
    Publisher,
    /// Read everything, change nothing.
    Auditor,
    /// One persona: its bundle, its status, its decision logs.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "publisher" => Ok(Role::Publisher),
            "auditor" => Ok(Role::Auditor),
            "agent" => Ok(Role::Agent),
            other => Err(format!(
                "unknown role `{other}`; use admin, publisher, auditor or agent"
            )),
        }
    }
}

/// Who is calling, established from a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: uuid::Uuid,
    /// The token's name, used as the actor in audit records.
    pub name: String,
    pub role: Role,
    /// Set for agent tokens: the only persona they may touch.
    pub persona: Option<String>,
}

impl Principal {
    /// The actor string written into audit records: `<role>:<token name>`.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role, self.name)
    }

    /// Admin and publisher may change things.
    pub fn can_publish(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Publisher)
    }

    /// Admin, publisher and auditor may read everything.
    pub fn can_read_all(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Publisher | Role::Auditor)
    }

    /// Agents may act only for their own persona; other readers for any.
    pub fn may_act_for(&self, persona: &str) -> bool {
        match self.role {
            Role::Agent => self.persona.as_deref() == Some(persona),
            _ => true,
        }
    }
}

/// Prefix of every Regent token, so secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "rgt_";

/// A new random token: `rgt_` + 43 base64url characters (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored for a token: its SHA-256. Tokens have 256 bits of entropy, so a plain
/// hash is enough (no password stretching needed).
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The displayable start of a token (never enough to use it).
pub fn token_display_prefix(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX.len() + 6).collect()
}
