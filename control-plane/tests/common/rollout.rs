//! Helpers for the rollout tests: pushing distinct versions of the tiny persona, a fleet of
//! simulated agents polling the bundle API. Include with
//! `#[path = "common/rollout.rs"] mod helpers;` next to `mod common;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{TestApp, body_json, build_archive, tiny_copy};

/// Pushes version `n` of `tiny-bot` (distinct content per `n`) and returns its revision.
pub async fn push_version(app: &TestApp, n: u32) -> String {
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("data.json"),
        json!({"tools": ["echo", format!("tool-{n}")]}).to_string(),
    )
    .unwrap();
    let response = app
        .push("tiny-bot", build_archive(dir.path()), &app.publisher)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body_json(response).await["revision"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A JSON request with a bearer token.
pub fn json_request(method: &str, uri: &str, token: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub async fn post(app: &TestApp, uri: &str, token: &str, body: Value) -> Response<Body> {
    app.send(json_request("POST", uri, token, &body)).await
}

/// Simulated agents of one persona, all with the persona's agent token.
pub struct Fleet {
    pub persona: String,
    pub token: String,
    pub ids: Vec<String>,
}

impl Fleet {
    pub async fn new(app: &TestApp, persona: &str, size: usize) -> Fleet {
        Fleet {
            persona: persona.to_owned(),
            token: app.agent_token(persona).await,
            ids: (0..size)
                .map(|i| format!("{persona}-agent-{i:03}"))
                .collect(),
        }
    }

    /// The revision the bundle API serves `agent` (the `x-regent-revision` header).
    pub async fn fetch(&self, app: &TestApp, agent: &str) -> String {
        let response = app
            .get(
                &format!("/bundles/{}?agent={agent}", self.persona),
                &self.token,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "bundle for {agent}");
        response.headers()["x-regent-revision"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// The agents served `revision`.
    pub async fn on(&self, app: &TestApp, revision: &str) -> BTreeSet<String> {
        let mut on = BTreeSet::new();
        for id in &self.ids {
            if self.fetch(app, id).await == revision {
                on.insert(id.clone());
            }
        }
        on
    }

    pub async fn all_on(&self, app: &TestApp, revision: &str) -> bool {
        self.on(app, revision).await.len() == self.ids.len()
    }

    /// Every agent fetches its bundle and reports it active via `POST /status`.
    pub async fn report_active(&self, app: &TestApp) {
        for id in &self.ids {
            let revision = self.fetch(app, id).await;
            let report = json!({
                "labels": {"id": id},
                "bundles": {&self.persona: {"name": &self.persona, "active_revision": revision}},
            });
            let response = app
                .send(json_request("POST", "/status", &self.token, &report))
                .await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
    }
}
