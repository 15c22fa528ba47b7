//! Regent's control plane: the service and the `regent` CLI.
//!
//! Layers: `http` (edge: routes, auth, errors) → `services` (push, ingest, notifications) →
//! `store` (all SQL) and `publish` (OCI + cosign).

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod embedded_pg;
pub mod http;
pub mod keyring;
pub mod metrics;
pub mod publish;
pub mod server;
pub mod services;
pub mod store;
