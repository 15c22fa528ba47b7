//! OCI publishing against the real CNCF registry (started per test on a free loopback port) and
//! a real Postgres database per test: the durable job, the artifact as skopeo sees it, the
//! cosign signature, the OPA signature inside the layer, outages, crashes and concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::registry::TestRegistry;
use common::{TestApp, bundles_dir};
use regent_bundle::{BuildOptions, KeyAlgorithm, Limits, SignOptions, SigningKey};
use regent_control_plane::config::{Config, RegistryAuth, RegistryConfig};
use regent_control_plane::publish::cosign::{self, SignOutcome};
use regent_control_plane::publish::oci::{self, RegistryClient};
use regent_control_plane::publish::{JobOutcome, PublishWorker, WorkerSettings};
use regent_control_plane::store::Store;
use regent_control_plane::store::publications::{PublicationKind, PublicationState};
use serde_json::{Value, json};
use sqlx::PgPool;

const PERSONA: &str = "hr-bot";

/// A stored revision: its id, revision string and signed bundle bytes.
struct Rev {
    id: i64,
    revision: String,
    bundle: Vec<u8>,
}

async fn app_with(pool: PgPool, registries: Vec<RegistryConfig>) -> TestApp {
    TestApp::with_config(
        pool,
        Config {
            registries,
            ..Config::default()
        },
    )
    .await
}

/// Builds `bundles/hr-bot` as revision `hr-bot-<sequence>`, signs it with the app's key (scope
/// = persona) and inserts the revision row as the push service would.
async fn insert_revision(app: &TestApp, sequence: i64) -> Rev {
    let persona = app.state.store.ensure_persona(PERSONA).await.unwrap();
    let revision = format!("{PERSONA}-{sequence}");
    let options = BuildOptions {
        revision: Some(revision.clone()),
        regent_metadata: serde_json::Map::from_iter([("sequence".to_owned(), json!(sequence))]),
    };
    let mut bundle = regent_bundle::build_dir(&bundles_dir().join(PERSONA), &options).unwrap();
    let sign = SignOptions {
        scope: Some(PERSONA.into()),
        iss: Some("regent".into()),
        iat: None,
    };
    regent_bundle::sign_bundle(&mut bundle, app.state.keys.signing(), &sign).unwrap();
    let bytes = bundle.to_archive().unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO revisions (persona_id, sequence, revision, content_digest, bundle_digest,
             bundle, size_bytes, manifest, signature_kid, test_report, source, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', $8, '{}', $9, 'test') RETURNING id",
    )
    .bind(persona.id)
    .bind(sequence)
    .bind(&revision)
    .bind(format!("content-{sequence}"))
    .bind(oci::sha256_digest(&bytes))
    .bind(&bytes)
    .bind(bytes.len() as i64)
    .bind(app.state.keys.signing().kid())
    .bind(json!({"commit": "0123abc", "repository": "https://git.example/acme/policies"}))
    .fetch_one(&app.state.store.pool)
    .await
    .unwrap();
    Rev {
        id,
        revision,
        bundle: bytes,
    }
}

/// Enqueues the revision's publications the way the push service does: inside a transaction.
async fn enqueue(app: &TestApp, rev: &Rev) {
    let mut tx = app.state.store.pool.begin().await.unwrap();
    Store::enqueue_publications(
        &mut tx,
        rev.id,
        PERSONA,
        &rev.revision,
        &app.state.config.registries,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn move_channel(app: &TestApp, rev: &Rev, channel: &str) {
    let mut tx = app.state.store.pool.begin().await.unwrap();
    Store::enqueue_channel_tag(
        &mut tx,
        rev.id,
        PERSONA,
        channel,
        &app.state.config.registries,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn worker(app: &TestApp) -> PublishWorker {
    PublishWorker::new(&app.state, WorkerSettings::default())
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    state: String,
    manifest_digest: Option<String>,
    attempts: i32,
    last_error: Option<String>,
    published_at: Option<chrono::DateTime<chrono::Utc>>,
    leased: bool,
    retry_later: bool,
}

async fn row(pool: &PgPool, revision_id: i64, tag: &str) -> Row {
    sqlx::query_as(
        "SELECT state, manifest_digest, attempts, last_error, published_at,
                COALESCE(locked_until > now(), false) AS leased, next_attempt_at > now() AS retry_later
         FROM publications WHERE revision_id = $1 AND tag = $2",
    )
    .bind(revision_id)
    .bind(tag)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (polling the row) until the publication is no longer pending.
async fn wait_settled(pool: &PgPool, revision_id: i64, tag: &str) -> Row {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = row(pool, revision_id, tag).await;
        if row.state != "pending" {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "still pending after 30 s: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sig_tag(digest: &str) -> String {
    cosign::signature_tag(digest).unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_pushed_revision_is_published_signed_and_verifiable(pool: PgPool) {
    let registry = TestRegistry::start_new().await;
    let app = app_with(pool.clone(), vec![registry.config("local")]).await;
    let handles = regent_control_plane::publish::spawn(app.state.clone());
    assert_eq!(handles.len(), 3, "two workers and a listener");
    let rev = insert_revision(&app, 1).await;
    let started = Instant::now();
    enqueue(&app, &rev).await;
    let published = wait_settled(&pool, rev.id, "hr-bot-1").await;
    eprintln!("push → published: {:?}", started.elapsed());
    for handle in &handles {
        handle.abort();
    }
    assert_eq!(published.state, "published", "{published:?}");
    assert_eq!(published.attempts, 1);
    assert!(
        published.last_error.is_none() && published.published_at.is_some() && !published.leased
    );
    let digest = published.manifest_digest.unwrap();

    // What an independent client sees.
    let raw = registry.inspect_raw_bytes("regent/hr-bot:hr-bot-1");
    assert_eq!(oci::sha256_digest(&raw), digest);
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(layers[0]["digest"], oci::sha256_digest(&rev.bundle));
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.revision"], "hr-bot-1");
    assert_eq!(annotations["dev.regent.persona"], "hr-bot");
    assert_eq!(annotations["dev.regent.sequence"], "1");
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://git.example/acme/policies"
    );
    let created = annotations["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    chrono::DateTime::parse_from_rfc3339(created).unwrap();

    // The cosign signature sits where cosign puts it and verifies with the public key only.
    let sig = registry.inspect_raw(&format!("regent/hr-bot:{}", sig_tag(&digest)));
    assert_eq!(sig["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        sig["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert!(sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].is_string());
    let public = app.state.keys.signing().public_key().to_pem();
    let verified =
        cosign::verify_cosign(&registry.config("local"), "regent/hr-bot:hr-bot-1", &public)
            .await
            .unwrap();
    assert_eq!(verified.manifest_digest, digest);
    assert_eq!(
        verified.docker_reference,
        format!("{}/regent/hr-bot", registry.host())
    );
    assert_eq!(verified.signatures, 1);
    let other = SigningKey::generate("other", KeyAlgorithm::Es256).unwrap();
    let err = cosign::verify_cosign(
        &registry.config("local"),
        "regent/hr-bot:hr-bot-1",
        &other.public_key().to_pem(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("verifies with this key"), "{err}");

    // The layer, pulled by skopeo, is the stored bundle and its OPA signature verifies.
    let layout = tempfile::tempdir().unwrap();
    registry.copy_to_oci_layout("regent/hr-bot:hr-bot-1", layout.path());
    let hex = layers[0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let pulled = std::fs::read(layout.path().join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(pulled, rev.bundle);
    let bundle = regent_bundle::read_bundle(&pulled, &Limits::DEFAULT).unwrap();
    let signature =
        regent_bundle::verify_bundle(&bundle, app.state.keys.trusted(), Some(PERSONA)).unwrap();
    assert_eq!(signature.kid, app.state.keys.signing().kid());
    assert!(
        regent_bundle::verify_bundle(&bundle, app.state.keys.trusted(), Some("it-bot")).is_err()
    );

    // The API's view.
    let listed = app
        .state
        .store
        .publications_for_revision(rev.id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, PublicationState::Published);
    assert_eq!(listed[0].kind, PublicationKind::Revision);
    assert_eq!(listed[0].repository, "regent/hr-bot");
    assert_eq!(listed[0].manifest_digest.as_deref(), Some(digest.as_str()));
}

#[sqlx::test(migrations = "../migrations")]
async fn publishing_again_changes_nothing_and_channel_tags_follow_the_channel(pool: PgPool) {
    let registry = TestRegistry::start_new().await;
    let app = app_with(pool.clone(), vec![registry.config("local")]).await;
    let worker = worker(&app);
    let rev1 = insert_revision(&app, 1).await;
    enqueue(&app, &rev1).await;
    let outcomes = worker.run_until_idle().await.unwrap();
    let [
        JobOutcome::Published {
            manifest_digest: digest1,
            ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("{outcomes:?}");
    };

    // Idempotent: the same revision gives the same manifest, and the signature is not doubled.
    let client = RegistryClient::new(&registry.config("local")).unwrap();
    let source = app.state.store.publication_source(rev1.id).await.unwrap();
    let artifact = oci::Artifact {
        persona: &source.persona,
        revision: &source.revision,
        sequence: source.sequence,
        created_at: source.created_at,
        source_url: oci::source_url(&source.source),
        bundle: &source.bundle,
    };
    let again = client
        .push_artifact("regent/hr-bot", "hr-bot-1", &artifact)
        .await
        .unwrap();
    assert_eq!(&again.digest, digest1);
    let signer = cosign::CosignSigner::new(app.state.keys.signing()).unwrap();
    let outcome = cosign::sign_manifest(
        &client,
        "regent/hr-bot",
        digest1,
        &signer,
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcome, SignOutcome::AlreadySigned);
    let sig = registry.inspect_raw(&format!("regent/hr-bot:{}", sig_tag(digest1)));
    assert_eq!(sig["layers"].as_array().unwrap().len(), 1);

    // A second key (rotation) appends its signature, as cosign does, instead of replacing.
    let rotated = SigningKey::generate("rotated", KeyAlgorithm::Es256).unwrap();
    let rotated_signer = cosign::CosignSigner::new(&rotated).unwrap();
    let outcome = cosign::sign_manifest(
        &client,
        "regent/hr-bot",
        digest1,
        &rotated_signer,
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcome, SignOutcome::Signed);
    let public = app.state.keys.signing().public_key().to_pem();
    for key in [public.clone(), rotated.public_key().to_pem()] {
        cosign::verify_cosign(&registry.config("local"), "regent/hr-bot:hr-bot-1", &key)
            .await
            .unwrap();
    }

    // Moving a tag to an already-pushed digest re-puts the very same manifest.
    client
        .tag_manifest("regent/hr-bot", digest1, "staging")
        .await
        .unwrap();
    assert_eq!(
        oci::sha256_digest(&registry.inspect_raw_bytes("regent/hr-bot:staging")),
        *digest1
    );

    // The durable channel job: prod → revision 1, then → revision 2.
    move_channel(&app, &rev1, "prod").await;
    worker.run_until_idle().await.unwrap();
    let prod = row(&pool, rev1.id, "prod").await;
    assert_eq!(prod.state, "published");
    assert_eq!(prod.manifest_digest.as_ref(), Some(digest1));
    assert_eq!(
        oci::sha256_digest(&registry.inspect_raw_bytes("regent/hr-bot:prod")),
        *digest1
    );
    let verified = cosign::verify_cosign(&registry.config("local"), "regent/hr-bot:prod", &public)
        .await
        .unwrap();
    assert_eq!(&verified.manifest_digest, digest1);

    let rev2 = insert_revision(&app, 2).await;
    enqueue(&app, &rev2).await;
    move_channel(&app, &rev2, "prod").await;
    let outcomes = worker.run_until_idle().await.unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let digest2 = row(&pool, rev2.id, "hr-bot-2")
        .await
        .manifest_digest
        .unwrap();
    assert_ne!(&digest2, digest1);
    assert_eq!(
        row(&pool, rev2.id, "prod").await.manifest_digest.as_ref(),
        Some(&digest2)
    );
    assert_eq!(
        oci::sha256_digest(&registry.inspect_raw_bytes("regent/hr-bot:prod")),
        digest2
    );
    // One row per channel tag: it now belongs to revision 2.
    let tags = |list: Vec<regent_control_plane::store::publications::Publication>| {
        list.into_iter().map(|p| p.tag).collect::<Vec<_>>()
    };
    assert_eq!(
        tags(
            app.state
                .store
                .publications_for_revision(rev1.id)
                .await
                .unwrap()
        ),
        ["hr-bot-1"]
    );
    assert_eq!(
        tags(
            app.state
                .store
                .publications_for_revision(rev2.id)
                .await
                .unwrap()
        ),
        ["hr-bot-2", "prod"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_registry_outage_keeps_the_job_pending_until_the_registry_is_back(pool: PgPool) {
    let mut registry = TestRegistry::start_new().await;
    let app = app_with(pool.clone(), vec![registry.config("local")]).await;
    let worker = worker(&app);
    let rev = insert_revision(&app, 1).await;
    enqueue(&app, &rev).await;

    registry.stop();
    let outcome = worker.run_once().await.unwrap().unwrap();
    assert!(matches!(outcome, JobOutcome::Retry { .. }), "{outcome:?}");
    let down = row(&pool, rev.id, "hr-bot-1").await;
    assert_eq!(down.state, "pending");
    assert_eq!(down.attempts, 1);
    assert!(down.manifest_digest.is_none() && down.published_at.is_none());
    assert!(!down.leased, "a failed attempt gives its lease back");
    assert!(down.retry_later, "retried after a backoff");
    let error = down.last_error.unwrap();
    eprintln!("last_error while the registry is down: {error}");
    assert!(
        error.contains("registry `local`") && error.contains("hr-bot-1"),
        "{error}"
    );
    // Backing off: nothing is due yet.
    assert!(worker.run_once().await.unwrap().is_none());

    registry.start().await;
    // Time passes (the backoff is over).
    sqlx::query("UPDATE publications SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let outcome = worker.run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, JobOutcome::Published { .. }),
        "{outcome:?}"
    );
    let up = row(&pool, rev.id, "hr-bot-1").await;
    assert_eq!((up.state.as_str(), up.attempts), ("published", 2));
    assert!(up.last_error.is_none());
    cosign::verify_cosign(
        &registry.config("local"),
        "regent/hr-bot:hr-bot-1",
        &app.state.keys.signing().public_key().to_pem(),
    )
    .await
    .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_job_abandoned_mid_publish_is_reclaimed_after_its_lease(pool: PgPool) {
    let registry = TestRegistry::start_new().await;
    let app = app_with(pool.clone(), vec![registry.config("local")]).await;
    let rev = insert_revision(&app, 1).await;
    enqueue(&app, &rev).await;

    // Worker A claims the job, pushes the manifest, and dies before signing.
    let a = worker(&app);
    let job = a.claim().await.unwrap().unwrap();
    let client = RegistryClient::new(&registry.config("local")).unwrap();
    let source = app.state.store.publication_source(rev.id).await.unwrap();
    let artifact = oci::Artifact {
        persona: &source.persona,
        revision: &source.revision,
        sequence: source.sequence,
        created_at: source.created_at,
        source_url: oci::source_url(&source.source),
        bundle: &source.bundle,
    };
    let pushed_by_a = client
        .push_artifact(&job.repository, &job.tag, &artifact)
        .await
        .unwrap();
    drop(a);

    // Not published (the signature is missing), and invisible while the lease runs.
    let abandoned = row(&pool, rev.id, "hr-bot-1").await;
    assert_eq!(
        (abandoned.state.as_str(), abandoned.attempts),
        ("pending", 1)
    );
    assert!(abandoned.leased && abandoned.manifest_digest.is_none());
    let public = app.state.keys.signing().public_key().to_pem();
    assert!(
        cosign::verify_cosign(&registry.config("local"), "regent/hr-bot:hr-bot-1", &public)
            .await
            .is_err()
    );
    let b = worker(&app);
    assert!(
        b.run_once().await.unwrap().is_none(),
        "the lease is still held"
    );

    // The lease expires; worker B takes the job over.
    sqlx::query("UPDATE publications SET locked_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let taken_over = b.claim().await.unwrap().unwrap();
    assert_eq!((taken_over.id, taken_over.attempts), (job.id, 2));
    // A comes back late: its expired lease can mark nothing while B holds the job.
    assert!(
        !app.state
            .store
            .mark_published(&job, &pushed_by_a.digest)
            .await
            .unwrap()
    );
    assert_eq!(row(&pool, rev.id, "hr-bot-1").await.state, "pending");

    let outcome = b.process(&taken_over).await.unwrap();
    assert_eq!(
        outcome,
        JobOutcome::Published {
            id: job.id,
            manifest_digest: pushed_by_a.digest.clone()
        },
        "the retry repeats the same manifest"
    );
    let done = row(&pool, rev.id, "hr-bot-1").await;
    assert_eq!((done.state.as_str(), done.attempts), ("published", 2));
    cosign::verify_cosign(&registry.config("local"), "regent/hr-bot:hr-bot-1", &public)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_workers_publish_every_job_exactly_once(pool: PgPool) {
    let first = TestRegistry::start_new().await;
    let second = TestRegistry::start_new().await;
    let app = app_with(
        pool.clone(),
        vec![first.config("one"), second.config("two")],
    )
    .await;
    for sequence in 1..=3 {
        let rev = insert_revision(&app, sequence).await;
        enqueue(&app, &rev).await;
    }
    let workers = [worker(&app), worker(&app), worker(&app)];
    let (a, b, c) = tokio::join!(
        workers[0].run_until_idle(),
        workers[1].run_until_idle(),
        workers[2].run_until_idle()
    );
    let outcomes: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
    assert_eq!(outcomes.len(), 6, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, JobOutcome::Published { .. })),
        "{outcomes:?}"
    );
    let attempts: Vec<(String, i32)> =
        sqlx::query_as("SELECT state, attempts FROM publications ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, vec![("published".to_owned(), 1); 6]);
    for registry in [&first, &second] {
        for sequence in 1..=3 {
            let manifest = registry.inspect_raw(&format!("regent/hr-bot:hr-bot-{sequence}"));
            assert_eq!(
                manifest["annotations"]["dev.regent.sequence"],
                sequence.to_string()
            );
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn jobs_fail_after_their_attempts_and_a_new_push_retries_them(pool: PgPool) {
    // Nothing listens on this port, and the other registry's password variable is unset.
    let closed = RegistryConfig {
        name: "closed".into(),
        host: format!(
            "127.0.0.1:{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        ),
        repository_prefix: "regent".into(),
        insecure: true,
        auth: RegistryAuth::Anonymous,
    };
    let secret = RegistryConfig {
        name: "private".into(),
        host: "127.0.0.1:1".into(),
        repository_prefix: "regent".into(),
        insecure: true,
        auth: RegistryAuth::Basic {
            username: "bot".into(),
            password_env: "REGENT_TEST_UNSET_REGISTRY_PASSWORD".into(),
        },
    };
    let app = app_with(pool.clone(), vec![closed, secret]).await;
    let worker = PublishWorker::new(
        &app.state,
        WorkerSettings {
            max_attempts: 2,
            ..WorkerSettings::default()
        },
    );
    let rev = insert_revision(&app, 1).await;
    enqueue(&app, &rev).await;
    for _ in 0..2 {
        let outcomes = worker.run_until_idle().await.unwrap();
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        sqlx::query("UPDATE publications SET next_attempt_at = now()")
            .execute(&pool)
            .await
            .unwrap();
    }
    #[derive(sqlx::FromRow)]
    struct Failed {
        registry: String,
        state: String,
        attempts: i32,
        last_error: Option<String>,
        manifest_digest: Option<String>,
    }
    let rows: Vec<Failed> = sqlx::query_as(
        "SELECT registry, state, attempts, last_error, manifest_digest
         FROM publications ORDER BY registry",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for row in &rows {
        assert_eq!(
            (row.state.as_str(), row.attempts),
            ("failed", 2),
            "{}",
            row.registry
        );
        assert!(row.manifest_digest.is_none());
        let error = row.last_error.as_deref().unwrap();
        assert!(
            error.contains(&format!("registry `{}`", row.registry)),
            "{error}"
        );
    }
    let missing_secret = rows[1].last_error.as_deref().unwrap();
    assert!(
        missing_secret.contains("`REGENT_TEST_UNSET_REGISTRY_PASSWORD`"),
        "{missing_secret}"
    );
    assert!(
        worker.run_once().await.unwrap().is_none(),
        "failed jobs are not retried"
    );

    // Pushing the revision again re-enqueues: the failed rows are pending with fresh attempts.
    enqueue(&app, &rev).await;
    let again: Vec<(String, i32)> = sqlx::query_as("SELECT state, attempts FROM publications")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(again, vec![("pending".to_owned(), 0); 2]);
}

#[sqlx::test(migrations = "../migrations")]
async fn enqueueing_is_transactional_and_nothing_runs_without_registries(pool: PgPool) {
    let app = app_with(pool.clone(), Vec::new()).await;
    assert!(regent_control_plane::publish::spawn(app.state.clone()).is_empty());

    let registry = RegistryConfig {
        name: "local".into(),
        host: "127.0.0.1:5000".into(),
        repository_prefix: "policies/".into(),
        insecure: true,
        auth: RegistryAuth::Anonymous,
    };
    let rev = insert_revision(&app, 1).await;
    let mut tx = pool.begin().await.unwrap();
    Store::enqueue_publications(
        &mut tx,
        rev.id,
        PERSONA,
        &rev.revision,
        std::slice::from_ref(&registry),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        app.state
            .store
            .publications_for_revision(rev.id)
            .await
            .unwrap()
            .is_empty()
    );

    let mut tx = pool.begin().await.unwrap();
    Store::enqueue_publications(
        &mut tx,
        rev.id,
        PERSONA,
        &rev.revision,
        std::slice::from_ref(&registry),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let listed = app
        .state
        .store
        .publications_for_revision(rev.id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].repository, "policies/hr-bot");
    assert_eq!(listed[0].tag, "hr-bot-1");
    assert_eq!(listed[0].state, PublicationState::Pending);
}
