//! Helpers for the OPA-API tests: revisions on channels, a second replica, gzip bodies.
//! Include with `#[path = "common/opa.rs"] mod opa;` next to `mod common;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, header};
use flate2::Compression;
use flate2::write::GzEncoder;
use regent_bundle::{KeyAlgorithm, SigningKey};
use regent_control_plane::app::{self, AppState};
use regent_control_plane::config::Config;
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::store::Store;
use regent_control_plane::store::revisions::{ChannelMove, NewRevision};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tower::ServiceExt as _;

use crate::common::TestApp;

/// A stored revision: its id, its bundle bytes and their SHA-256 (the ETag).
#[derive(Debug, Clone)]
pub struct FakeRevision {
    pub id: i64,
    pub revision: String,
    pub bytes: Vec<u8>,
    pub digest: String,
}

impl FakeRevision {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.digest)
    }
}

/// Stores revision `sequence` of `persona` with made-up bundle bytes (the OPA API serves bytes
/// as stored; bundle validity is the push tests' business).
pub async fn store_revision(store: &Store, persona: &str, sequence: i64) -> FakeRevision {
    let persona_row = store.ensure_persona(persona).await.unwrap();
    let bytes = format!("bundle of {persona} #{sequence}").into_bytes();
    let digest = hex(&Sha256::digest(&bytes));
    let revision = format!("{persona}-{sequence}");
    let empty = json!({});
    let mut conn = store.pool.acquire().await.unwrap();
    let id = Store::insert_revision(
        &mut conn,
        &NewRevision {
            persona_id: persona_row.id,
            sequence,
            revision: &revision,
            content_digest: &digest,
            bundle_digest: &digest,
            bundle: &bytes,
            manifest: &empty,
            signature_kid: None,
            test_report: &empty,
            source: &empty,
            reissue_of: None,
            created_by: "test",
        },
    )
    .await
    .unwrap();
    FakeRevision {
        id,
        revision,
        bytes,
        digest,
    }
}

/// Points `channel` at `revision` through the store (which NOTIFYs at commit).
pub async fn move_channel(store: &Store, persona: &str, channel: &str, revision: &FakeRevision) {
    let persona_row = store.persona(persona).await.unwrap();
    let mut tx = store.pool.begin().await.unwrap();
    Store::move_channel(
        &mut tx,
        &ChannelMove {
            persona_id: persona_row.id,
            persona,
            channel,
            revision_id: revision.id,
            actor: "test",
            kind: "push",
            reason: "",
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Another replica on the same database: its own state (and long-poll watch), same tokens.
pub fn replica(app: &TestApp, config: Config) -> (AppState, Router) {
    let key = SigningKey::generate("replica-key", KeyAlgorithm::Es256).unwrap();
    let keys = KeyRing::new(key, Vec::new()).unwrap();
    let state = AppState::new(config, Store::from_pool(app.state.store.pool.clone()), keys);
    (state.clone(), app::router(state))
}

/// Starts the LISTEN task of `state` and waits until it listens.
pub async fn start_listening(state: &AppState) {
    regent_control_plane::services::bundles::spawn(state.clone());
    state.bundles.until_listening().await;
}

pub async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `POST <uri>` with a gzip body, as OPA's decision-log plugin sends it.
pub fn post_gzip(uri: &str, token: &str, json: &[u8]) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gzip(json)))
        .unwrap()
}

/// `POST <uri>` with a plain JSON body.
pub fn post_json(uri: &str, token: &str, json: &[u8]) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json.to_vec()))
        .unwrap()
}

/// A fixture of the protocol crate.
pub fn protocol_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent-client/protocol/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
