//! What the bench binaries share: knobs from the environment and a scratch database.
#![allow(dead_code, reason = "each bench binary uses its own subset")]

use std::future::Future;
use std::time::Instant;

use anyhow::{Context as _, Result};
use regent_control_plane::store::Store;
use regent_control_plane::store::revisions::{ChannelMove, NewRevision};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::Connection as _;

/// A numeric knob from the environment (`BENCH_EVENTS=1000000`), else `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime for a bench binary (`cargo bench` passes `--bench`; nothing to parse).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `DATABASE_URL`'s server without the database name, e.g. `postgres://postgres@127.0.0.1:5432`.
pub fn server_url() -> Result<String> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to a Postgres server")?;
    let (server, _) = url
        .rsplit_once('/')
        .context("DATABASE_URL has no database name")?;
    Ok(server.to_owned())
}

/// Runs `bench` with the URL of a fresh database `<prefix>_<pid>` on `DATABASE_URL`'s server and
/// drops the database afterwards, whatever the outcome.
pub fn on_scratch_db<F, Fut>(prefix: &str, bench: F) -> Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    runtime()?.block_on(async {
        let server = server_url()?;
        let db = format!("{prefix}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&mut admin)
            .await?;
        let result = bench(format!("{server}/{db}")).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        result
    })
}

/// Stores `bytes` as revision `<persona>-<sequence>` (unsigned, no manifest: the benches measure
/// serving, not validation) and moves `prod` to it in one transaction, as a push or promote does.
/// Returns the bundle's ETag and the instant COMMIT was sent: from then on the move is visible
/// and notified (NOTIFY is delivered at commit).
pub async fn store_on_prod(
    store: &Store,
    persona: &str,
    sequence: i64,
    bytes: &[u8],
) -> Result<(String, Instant)> {
    let digest: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let persona_id = store.persona(persona).await?.id;
    let empty = json!({});
    let revision = format!("{persona}-{sequence}");
    let mut tx = store.pool.begin().await?;
    let revision_id = Store::insert_revision(
        &mut tx,
        &NewRevision {
            persona_id,
            sequence,
            revision: &revision,
            content_digest: &digest,
            bundle_digest: &digest,
            bundle: bytes,
            manifest: &empty,
            signature_kid: None,
            test_report: &empty,
            source: &empty,
            reissue_of: None,
            created_by: "bench",
        },
    )
    .await?;
    Store::move_channel(
        &mut tx,
        &ChannelMove {
            persona_id,
            persona,
            channel: "prod",
            revision_id,
            actor: "bench",
            kind: "push",
            reason: "",
        },
    )
    .await?;
    let moved = Instant::now();
    tx.commit().await?;
    Ok((format!("\"{digest}\""), moved))
}
