//! The end-to-end harness: builds the real `regent` and `regent-agent` binaries once, runs them
//! (and PostgreSQL, the CNCF registry) as child processes on free loopback ports, and gives tests
//! handles to drive and break them. Every process is killed when its handle drops — also when a
//! test panics — and its output goes to `target/e2e-logs/<test>/<process>.log`, whose tail is
//! printed when a test fails.
//!
//! This is test code: it panics (with the logs) on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bins;
pub mod control_plane;
pub mod database;
pub mod fixtures;
pub mod fleet;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod sidecar;
pub mod stack;
pub mod wait;

pub use control_plane::ControlPlane;
pub use database::{Database, PrivatePostgres};
pub use process::Proc;
pub use proxy::Proxy;
pub use registry::Registry;
pub use sidecar::{Sidecar, SidecarSource};
pub use stack::Stack;
pub use wait::{eventually, eventually_some};

/// A free TCP port on 127.0.0.1 (bound, then released: a process started right after can
/// take it; a restart reuses it so clients keep their URL).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
