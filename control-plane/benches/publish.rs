//! Push → published latency: from the transaction that stores a revision and enqueues its
//! publication, to the row being `published` (the background worker woke on NOTIFY, pushed the
//! manifest and layer to a real `docker-registry`, signed it with cosign). Runs against the
//! Postgres server in `DATABASE_URL` (a throwaway database is created and dropped) and a
//! registry on a free loopback port.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/regent_dev cargo bench -p regent-control-plane --bench publish`
//! (`REGENT_BENCH_ITERATIONS`, default 30).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/registry.rs"]
mod registry;

use std::time::{Duration, Instant};

use regent_bundle::{BuildOptions, KeyAlgorithm, SignOptions, SigningKey};
use regent_control_plane::app::AppState;
use regent_control_plane::config::Config;
use regent_control_plane::keyring::KeyRing;
use regent_control_plane::publish::oci;
use regent_control_plane::store::Store;
use serde_json::json;
use sqlx::Connection as _;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let url = std::env::var("DATABASE_URL")
        .expect("set DATABASE_URL to a Postgres server this benchmark may create a database on");
    let iterations: usize = std::env::var("REGENT_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let db = format!("regent_bench_publish_{}", std::process::id());
    let (base, _) = url.rsplit_once('/').unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await
        .unwrap();

    let registry = registry::TestRegistry::start_new().await;
    let store = Store::connect(&format!("{base}/{db}"), 8).await.unwrap();
    store.migrate().await.unwrap();
    let key = SigningKey::generate("bench", KeyAlgorithm::Es256).unwrap();
    let keys = KeyRing::new(key, Vec::new()).unwrap();
    keys.register(&store).await.unwrap();
    let config = Config {
        registries: vec![registry.config("local")],
        ..Config::default()
    };
    let state = AppState::new(config, store.clone(), keys);
    let workers = regent_control_plane::publish::spawn(state.clone());
    let persona = store.ensure_persona("hr-bot").await.unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles/hr-bot");

    let mut latencies = Vec::with_capacity(iterations);
    let mut bundle_bytes = 0;
    for sequence in 1..=iterations as i64 {
        let revision = format!("hr-bot-{sequence}");
        let options = BuildOptions {
            revision: Some(revision.clone()),
            regent_metadata: serde_json::Map::from_iter([("sequence".into(), json!(sequence))]),
        };
        let mut bundle = regent_bundle::build_dir(&source, &options).unwrap();
        let sign = SignOptions {
            scope: Some("hr-bot".into()),
            ..SignOptions::default()
        };
        regent_bundle::sign_bundle(&mut bundle, state.keys.signing(), &sign).unwrap();
        let bytes = bundle.to_archive().unwrap();
        bundle_bytes = bytes.len();

        let started = Instant::now();
        let mut tx = store.pool.begin().await.unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO revisions (persona_id, sequence, revision, content_digest, bundle_digest,
                 bundle, size_bytes, manifest, signature_kid, test_report, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', 'bench', '{}', 'bench') RETURNING id",
        )
        .bind(persona.id)
        .bind(sequence)
        .bind(&revision)
        .bind(format!("content-{sequence}"))
        .bind(oci::sha256_digest(&bytes))
        .bind(&bytes)
        .bind(bytes.len() as i64)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        Store::enqueue_publications(&mut tx, id, "hr-bot", &revision, &state.config.registries)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        loop {
            let published: bool = sqlx::query_scalar(
                "SELECT state = 'published' FROM publications WHERE revision_id = $1",
            )
            .bind(id)
            .fetch_one(&store.pool)
            .await
            .unwrap();
            if published {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{revision} not published in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
    }

    for worker in workers {
        worker.abort();
    }
    store.pool.close().await;
    drop(registry);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| ms(latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len() as f64;
    println!(
        "push → published ({iterations} revisions, 1 registry, {} KiB bundle): \
         p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms, mean {mean:.1} ms",
        bundle_bytes.div_ceil(1024),
        pick(0.5),
        pick(0.9),
        pick(1.0),
    );
}
