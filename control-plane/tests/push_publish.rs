//! The whole chain through the API: push → stored → signed → published to a real registry,
//! channel tags moved, OCI references visible on the revision.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::registry::TestRegistry;
use common::{TestApp, body_json, build_archive, tiny_dir};
use regent_control_plane::config::Config;
use sqlx::PgPool;

async fn wait_all_published(pool: &PgPool, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (published, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'published'), count(*) FILTER (WHERE state = 'failed')
             FROM publications",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(failed, 0);
        if published == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {published} of {expected} published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn push_publishes_revision_and_channel_tags(pool: PgPool) {
    let registry = TestRegistry::start_new().await;
    let config = Config {
        registries: vec![registry.config("local")],
        ..Config::default()
    };
    let app = TestApp::with_config(pool.clone(), config).await;
    let _workers = regent_control_plane::publish::spawn(app.state.clone());
    app.state.store.ensure_persona("tiny-bot").await.unwrap();
    let pushed = body_json(
        app.push("tiny-bot", build_archive(&tiny_dir()), &app.publisher)
            .await,
    )
    .await;
    assert_eq!(pushed["revision"], "tiny-bot-1");
    // The revision tag and the two channel tags it moved.
    wait_all_published(&pool, 3).await;

    let show = body_json(
        app.get("/api/v1/personas/tiny-bot/revisions/1", &app.auditor)
            .await,
    )
    .await;
    let publications = show["publications"].as_array().unwrap();
    assert_eq!(publications.len(), 3, "{show}");
    let digest = publications[0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        publications
            .iter()
            .all(|p| p["state"] == "published" && p["manifest_digest"] == digest.as_str())
    );
    let mut tags: Vec<&str> = publications
        .iter()
        .map(|p| p["tag"].as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["prod", "staging", "tiny-bot-1"]);

    let manifest = registry.inspect_raw("regent/tiny-bot:tiny-bot-1");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.revision"],
        "tiny-bot-1"
    );
    let prod = registry.inspect_raw_bytes("regent/tiny-bot:prod");
    assert_eq!(
        format!(
            "sha256:{}",
            regent_bundle::bundle::hex(&<sha2::Sha256 as sha2::Digest>::digest(&prod))
        ),
        digest
    );
    let verified = regent_control_plane::publish::cosign::verify_cosign(
        &registry.config("local"),
        "regent/tiny-bot:prod",
        &app.state.keys.signing().public_key().to_pem(),
    )
    .await;
    assert!(verified.is_ok(), "{verified:?}");
}
