//! Wire-type tests: round trips, the JSON Schemas in `bundles/schema/`, and stock OPA payloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assignment;
mod decision;
mod event;
mod input;
mod input_invalid;
mod status;
mod support;
