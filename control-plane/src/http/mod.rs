//! The HTTP edge: routes, the error type, authentication.

pub mod api;
pub mod auth;
pub mod console;
pub mod error;
pub mod health;
pub mod opa;
