//! Whole-system scenarios: the real `regent` and `regent-agent` binaries, PostgreSQL and the
//! CNCF registry, each test with its own database, registry, control plane and sidecars on free
//! loopback ports (so tests run in parallel). See `e2e/README.md` for what each proves and
//! `RELIABILITY.md` for the fault catalogue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod faults;
mod opa_client;
mod publish;
mod rollout;
mod tampering;
