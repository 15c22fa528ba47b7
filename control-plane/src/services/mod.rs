//! Domain services between the HTTP edge and the store.

pub mod audit;
pub mod bundles;
pub mod channels;
pub mod diff;
pub mod ingest;
pub mod push;
pub mod rollout;
