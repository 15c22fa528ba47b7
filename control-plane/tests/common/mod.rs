//! Harness for control-plane integration tests: a real Postgres database per test (from
//! `#[sqlx::test]`), the real router driven with `oneshot`, tokens for every role.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use regent_bundle::{KeyAlgorithm, SigningKey};
use regent_control_plane::app::{self, AppState};
use regent_control_plane::auth::{Role, generate_token};
use regent_control_plane::config::Config;
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::store::Store;
use sqlx::PgPool;
use tower::ServiceExt as _;

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub admin: String,
    pub publisher: String,
    pub auditor: String,
}

impl TestApp {
    /// A server on `pool` (already migrated by `#[sqlx::test]`) with a fresh ES256 key.
    pub async fn new(pool: PgPool) -> TestApp {
        Self::with_config(pool, Config::default()).await
    }

    pub async fn with_config(pool: PgPool, config: Config) -> TestApp {
        let store = Store::from_pool(pool);
        let key = SigningKey::generate("test-key", KeyAlgorithm::Es256).unwrap();
        let keys = KeyRing::new(key, Vec::new()).unwrap();
        keys.register(&store).await.unwrap();
        let state = AppState::new(config, store, keys);
        let admin = token(&state, "admin", Role::Admin, None).await;
        let publisher = token(&state, "ci", Role::Publisher, None).await;
        let auditor = token(&state, "audit", Role::Auditor, None).await;
        TestApp {
            router: app::router(state.clone()),
            state,
            admin,
            publisher,
            auditor,
        }
    }

    /// An agent token for `persona` (the persona is created when missing).
    pub async fn agent_token(&self, persona: &str) -> String {
        self.state.store.ensure_persona(persona).await.unwrap();
        token(
            &self.state,
            &format!("agent-{persona}"),
            Role::Agent,
            Some(persona),
        )
        .await
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn get(&self, uri: &str, token: &str) -> Response<Body> {
        self.send(
            Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

pub async fn token(state: &AppState, name: &str, role: Role, persona: Option<&str>) -> String {
    let token = generate_token();
    state
        .store
        .create_token(&token, name, role, persona, "test")
        .await
        .unwrap();
    token
}

pub async fn body_bytes(response: Response<Body>) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

pub async fn body_json(response: Response<Body>) -> serde_json::Value {
    let bytes = body_bytes(response).await;
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Asserts a problem+json error with `status` and `code`, returning the body.
pub async fn assert_problem(
    response: Response<Body>,
    status: StatusCode,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body = body_json(response).await;
    assert_eq!(body["code"], code, "{body}");
    body
}

/// The repository's `bundles/` folder.
pub fn bundles_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles")
}

/// The registry harness (`docker-registry` on a free loopback port) for publishing tests.
pub mod registry;

/// The tiny persona fixture folder.
pub fn tiny_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bot")
}

/// Copies the tiny persona into a temp dir so a test can edit it.
pub fn tiny_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Builds `dir` into an unsigned bundle archive, as `regent push` does.
pub fn build_archive(dir: &std::path::Path) -> Vec<u8> {
    regent_bundle::build_dir(dir, &regent_bundle::BuildOptions::default())
        .unwrap()
        .to_archive()
        .unwrap()
}

impl TestApp {
    /// POSTs `archive` to the push endpoint with `token`.
    pub async fn push(&self, persona: &str, archive: Vec<u8>, token: &str) -> Response<Body> {
        self.send(
            Request::post(format!("/api/v1/personas/{persona}/revisions"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/gzip")
                .header("regent-source-commit", "3f2a9c1")
                .header("regent-source-author", "ci@example.com")
                .body(Body::from(archive))
                .unwrap(),
        )
        .await
    }
}
