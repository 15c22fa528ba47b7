//! PostgreSQL for a test: a fresh database on the server `DATABASE_URL` names (what
//! `scripts/test.sh` provides), or, without it — and whenever a test must stop and restart the
//! server — a private cluster run by `regent dev-postgres` (the control plane's own embedded
//! PostgreSQL code).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::bins::bins;
use crate::process::Proc;
use crate::stack::Stack;
use crate::wait::eventually_some;

/// A database of its own for one test; dropped (`WITH (FORCE)`) with the handle.
#[derive(Debug)]
pub struct Database {
    /// `postgres://…/<name>`: what the control plane connects to.
    pub url: String,
    server_url: String,
    name: String,
    pool: PgPool,
    /// Kept alive with the database when it lives in a private cluster.
    _private: Option<PrivatePostgres>,
}

impl Database {
    /// A new database on `DATABASE_URL`'s server, else in a private cluster.
    pub async fn create(stack: &Stack) -> Database {
        match std::env::var("DATABASE_URL") {
            Ok(url) => Self::create_on(stack, &url, None).await,
            Err(_) => {
                let pg = PrivatePostgres::start(stack).await;
                let url = pg.url.clone();
                Self::create_on(stack, &url, Some(pg)).await
            }
        }
    }

    /// A new database in `pg` (the caller keeps the cluster to stop and restart it).
    pub async fn create_in(stack: &Stack, pg: &PrivatePostgres) -> Database {
        Self::create_on(stack, &pg.url, None).await
    }

    async fn create_on(stack: &Stack, url: &str, private: Option<PrivatePostgres>) -> Database {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "e2e_{}_{}_{}",
            stack.name.replace('-', "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let server_url = with_database(url, "postgres");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to `{server_url}`: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = with_database(url, &name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(&url)
            .unwrap();
        Database {
            url,
            server_url,
            name,
            pool,
            _private: private,
        }
    }

    /// A pool on the test's database, for assertions (reconnects after a server restart).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a thread of its own may block on a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect(&server_url)
                    .await
                {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// `postgres://u@h:p/db?x` with the database replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A PostgreSQL cluster of the test's own (`regent dev-postgres --data-dir <dir>`), which it
/// may stop and start again on the same port and data.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    logs: PathBuf,
    proc: Option<Proc>,
    /// Superuser URL of database `postgres`.
    pub url: String,
}

impl PrivatePostgres {
    pub async fn start(stack: &Stack) -> PrivatePostgres {
        let mut pg = PrivatePostgres {
            dir: tempfile::Builder::new()
                .prefix("regent-e2e-pg-")
                .tempdir()
                .unwrap(),
            logs: stack.logs.clone(),
            proc: None,
            url: String::new(),
        };
        pg.start_again().await;
        pg
    }

    /// (Re)starts the cluster; waits for its URL (same port as before).
    pub async fn start_again(&mut self) {
        assert!(self.proc.is_none(), "PostgreSQL is already running");
        let url_file = self.dir.path().join("url");
        let _ = std::fs::remove_file(&url_file);
        let mut cmd = Command::new(&bins().regent);
        cmd.arg("dev-postgres")
            .arg("--data-dir")
            .arg(self.dir.path())
            .env("NO_COLOR", "1");
        let mut proc = Proc::spawn_with_stdout("postgres", cmd, &self.logs, &url_file);
        let url = eventually_some(60.0, "the private PostgreSQL to start", async || {
            if let Some(status) = proc.exited() {
                panic!(
                    "`regent dev-postgres` exited with {status}:\n{}",
                    proc.tail(40)
                );
            }
            let text = std::fs::read_to_string(&url_file).ok()?;
            text.lines().next().map(str::to_owned)
        })
        .await;
        assert!(
            self.url.is_empty() || self.url == url,
            "PostgreSQL moved from `{}` to `{url}`",
            self.url
        );
        self.url = url;
        self.proc = Some(proc);
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, committed data stays).
    pub async fn stop(&mut self) {
        let mut proc = self.proc.take().expect("PostgreSQL is not running");
        let status = proc.terminate(Duration::from_secs(60)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "PostgreSQL did not stop cleanly ({status:?}):\n{}",
            proc.tail(40)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: `regent dev-postgres` stops the server it started.
        if let Some(mut proc) = self.proc.take() {
            proc.terminate_blocking(Duration::from_secs(30));
        }
    }
}
