//! The embedded PostgreSQL against the system's real server binaries: first start, restart on
//! the same folder (same port, data kept), adoption of a server whose owner was killed, and
//! recovery after the postmaster itself is killed with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use regent_control_plane::embedded_pg::EmbeddedPostgres;
use regent_control_plane::store::Store;

async fn persona_count(url: &str) -> i64 {
    let store = Store::connect(url, 1).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM personas")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    store.pool.close().await;
    n
}

fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[tokio::test]
async fn start_restart_adopt_and_recover_from_kill_9() {
    let tmp = tempfile::tempdir().unwrap();

    let t = Instant::now();
    let pg = EmbeddedPostgres::start(tmp.path()).await.unwrap();
    eprintln!(
        "first start (initdb + start + create database): {:?}",
        t.elapsed()
    );
    let port = pg.port();
    assert!(
        pg.url().ends_with(&format!("127.0.0.1:{port}/regent")),
        "{}",
        pg.url()
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("postgres/port"))
            .unwrap()
            .trim(),
        port.to_string()
    );
    let store = Store::connect(&pg.url(), 2).await.unwrap();
    store.migrate().await.unwrap();
    store.ensure_persona("hr-bot").await.unwrap();
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(fsync, "on");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(listen, "127.0.0.1");
    store.pool.close().await;
    pg.stop().unwrap();
    assert!(!accepts(port), "stopped server still accepts connections");

    // Restart on the same folder: same port, data kept, migrations already applied.
    let t = Instant::now();
    let pg = EmbeddedPostgres::start(tmp.path()).await.unwrap();
    eprintln!("restart: {:?}", t.elapsed());
    assert_eq!(pg.port(), port);
    let store = Store::connect(&pg.url(), 2).await.unwrap();
    store.migrate().await.unwrap();
    store.pool.close().await;
    assert_eq!(persona_count(&pg.url()).await, 1);

    // Its owner dies without stopping it (kill -9 of regent): the next start adopts it.
    let pid = pg.pid().unwrap();
    std::mem::forget(pg);
    let pg = EmbeddedPostgres::start(tmp.path()).await.unwrap();
    assert_eq!(
        pg.pid(),
        Some(pid),
        "a second server was started instead of adopting"
    );
    assert_eq!(pg.port(), port);

    // The postmaster itself is killed: the stale postmaster.pid and lingering backends are
    // recovered from, committed data survives.
    let store = Store::connect(&pg.url(), 1).await.unwrap();
    store.ensure_persona("it-bot").await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    drop(store);
    drop(pg);
    assert!(tmp.path().join("postgres/data/postmaster.pid").exists());
    let t = Instant::now();
    let pg = EmbeddedPostgres::start(tmp.path()).await.unwrap();
    eprintln!("start after kill -9 (crash recovery): {:?}", t.elapsed());
    assert_eq!(pg.port(), port);
    assert_ne!(pg.pid(), Some(pid));
    assert_eq!(persona_count(&pg.url()).await, 2);
    pg.stop().unwrap();
    assert!(!accepts(port));
}
