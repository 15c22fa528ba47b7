//! Regent's bundle format, shared by the control plane and the agent.
//!
//! - [`build_dir`]: a source folder → a deterministic OPA bundle (tar.gz via [`Bundle::to_archive`]).
//! - [`read_bundle`]: any OPA bundle (Regent's or `opa build`'s), read as hostile input under
//!   [`Limits`], one [`ReadError`] variant per reason.
//! - [`canonical`]: OPA's exact file hashing (canonical JSON for structured files).
//! - [`verify_bundle`] / `sign_bundle` (feature `sign`): OPA's `.signatures.json`.
//! - [`validate`]: compile with regorus, run `test_*` rules, check the entrypoint fails closed.
//!
//! No tokio, no network: this crate is pure and synchronous.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod archive;
pub mod build;
pub mod bundle;
pub mod canonical;
pub mod cases;
mod error;
pub mod eval;
pub mod keys;
mod limits;
pub mod manifest;
pub mod path;
pub mod signature;
pub mod validate;

pub use archive::RawFile;
pub use build::{BuildConfig, BuildOptions, build_dir, write_archive};
pub use bundle::{Bundle, MANIFEST, Module, SIGNATURES, read_bundle};
pub use error::{BuildError, ReadError};
pub use eval::Evaluator;
#[cfg(feature = "sign")]
pub use keys::SigningKey;
pub use keys::{KeyAlgorithm, KeyError, PublicKey, TrustedKeys};
pub use limits::Limits;
pub use manifest::{Manifest, RegoVersion};
#[cfg(feature = "sign")]
pub use signature::{SignError, SignOptions, sign_bundle};
pub use signature::{VerifiedSignature, VerifyError, verify_bundle};
pub use validate::{ValidateError, ValidationReport, validate};
