//! Regent's control plane: the service and the `regent` CLI.

pub mod cli;
