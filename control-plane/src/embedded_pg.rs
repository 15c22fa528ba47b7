//! A private PostgreSQL for `regent up` and the test script, started from the system's server
//! binaries when no database is configured.
//!
//! Its files live in `<data_dir>/postgres`, a folder it owns: the cluster in `data/`, the
//! chosen port in `port` (restarts reuse it, so URLs printed earlier stay valid), the server
//! log in `postgres.log`, and the unix socket. It listens on 127.0.0.1 only with trust
//! authentication — loopback is the boundary — and keeps `fsync` on: this is the real store of
//! a demo or a small install, not a throwaway.
//!
//! PostgreSQL refuses to run as root, so under root the folder is handed to the `postgres`
//! system user (created by Debian's `postgresql` package) and every server command runs as it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::{Connection as _, PgConnection};
use thiserror::Error;

mod binaries;
mod owner;
mod support;

pub use binaries::PgBinaries;
use owner::RunAs;
use support::{
    check_output, last_lines, read_from, read_pg_version, read_port, read_postmaster_pid,
    rotate_log, run, shell_quote,
};
pub use support::{free_port, process_alive};

/// The database Regent uses inside the private cluster.
pub const DATABASE: &str = "regent";
const CREATE_DATABASE: &str = "CREATE DATABASE regent";
/// The cluster's superuser (`initdb -U`), whatever the OS user running it.
const SUPERUSER: &str = "postgres";
/// `sun_path` holds 108 bytes including the NUL.
const MAX_SOCKET_PATH: usize = 107;
/// How long a start may take, including waiting for a killed server's orphans to exit.
const START_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum EmbeddedPgError {
    #[error(
        "PostgreSQL server binaries not found (looked in `REGENT_POSTGRES_BIN`, /usr/lib/postgresql/*/bin and PATH for initdb, pg_ctl and postgres): install them with `apt-get install postgresql`, or set `database_url` to use an existing server"
    )]
    BinariesNotFound,
    #[error(
        "`{dir}` holds a PostgreSQL {wanted} cluster but only PostgreSQL {found} server binaries are installed: install them with `apt-get install postgresql-{wanted}`, or move the folder away to start afresh"
    )]
    VersionMismatch {
        dir: String,
        wanted: u32,
        found: String,
    },
    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `postgres` system user to run it as: install the `postgresql` package (it creates the user), create it with `useradd --system postgres`, or run regent as a normal user"
    )]
    NoPostgresUser,
    #[error(
        "the `postgres` user cannot reach `{path}` (no search permission): allow it with `chmod o+x {path}` or choose a `data_dir` elsewhere"
    )]
    NotSearchable { path: String },
    #[error("cannot prepare `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("the embedded PostgreSQL did not start: {detail}; its log is `{log}`")]
    Start { detail: String, log: String },
    #[error("cannot create database `{DATABASE}` in the embedded PostgreSQL: {0}")]
    CreateDatabase(#[source] sqlx::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError + '_ {
    move |source| EmbeddedPgError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A running private PostgreSQL. Stopped (`pg_ctl stop -m fast`) by [`stop`](Self::stop) or
/// on drop.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    bins: PgBinaries,
    run_as: Option<RunAs>,
    port: u16,
    running: bool,
}

impl EmbeddedPostgres {
    /// Starts (initialising on first use) the cluster under `<data_dir>/postgres` and makes
    /// sure database `regent` exists. A server still running from an earlier process that was
    /// killed is adopted; a stale `postmaster.pid` left by a killed server is recovered from.
    pub async fn start(data_dir: &Path) -> Result<EmbeddedPostgres, EmbeddedPgError> {
        let started = Instant::now();
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(io_err(data_dir))?;
        let dir = data_dir.join("postgres");
        let run_as = RunAs::detect()?;
        prepare_dir(&data_dir, &dir, run_as)?;
        let data = dir.join("data");
        let existing = read_pg_version(&data);
        let bins = PgBinaries::find(existing.map(|v| (v, data.as_path())))?;
        let mut pg = EmbeddedPostgres {
            port: read_port(&dir).unwrap_or(0),
            dir,
            bins,
            run_as,
            running: false,
        };
        if existing.is_none() {
            pg.initdb().await?;
        }
        if pg.adopt_running().await {
            tracing::info!(
                port = pg.port,
                "reusing the embedded PostgreSQL that is already running"
            );
        } else {
            pg.choose_port()?;
            pg.start_server().await?;
        }
        pg.running = true;
        pg.ensure_database().await?;
        tracing::info!(
            port = pg.port,
            dir = %pg.dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "embedded PostgreSQL ready"
        );
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/regent`.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The URL of another database in the cluster (e.g. `postgres`, for tools that create
    /// databases of their own such as `#[sqlx::test]`).
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `<data_dir>/postgres`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The postmaster's process id, from `postmaster.pid`.
    pub fn pid(&self) -> Option<u32> {
        read_postmaster_pid(&self.dir.join("data")).map(|(pid, _)| pid)
    }

    /// Stops the server (fast shutdown: sessions are ended, committed data is on disk).
    pub fn stop(mut self) -> Result<(), EmbeddedPgError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), EmbeddedPgError> {
        if !std::mem::replace(&mut self.running, false) {
            return Ok(());
        }
        // Killed under us (or already stopped): nothing to stop, and `pg_ctl stop` would wait
        // on a pid that is about to be reaped.
        if !self.pid().is_some_and(process_alive) {
            return Ok(());
        }
        let mut cmd = std::process::Command::new(self.bins.pg_ctl());
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null());
        {
            use std::os::unix::process::CommandExt as _;
            // Own process group: a Ctrl-C or group-wide SIGTERM aimed at regent must not
            // kill the stop it is running.
            cmd.process_group(0);
            if let Some(who) = self.run_as {
                cmd.uid(who.uid).gid(who.gid);
            }
        }
        let output = cmd.output().map_err(|e| EmbeddedPgError::Command {
            command: "pg_ctl stop".into(),
            status: "not started".into(),
            output: e.to_string(),
        })?;
        check_output("pg_ctl stop", &output)?;
        tracing::info!(port = self.port, "embedded PostgreSQL stopped");
        Ok(())
    }

    fn command(&self, program: PathBuf) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        // Own process group, like `stop`: signals aimed at regent are regent's to handle.
        cmd.current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .process_group(0);
        if let Some(who) = self.run_as {
            cmd.uid(who.uid).gid(who.gid);
        }
        cmd
    }

    async fn initdb(&self) -> Result<(), EmbeddedPgError> {
        let data = self.dir.join("data");
        // A folder without PG_VERSION is a half-finished initdb from a killed run.
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(io_err(&data))?;
        }
        let mut cmd = self.command(self.bins.initdb());
        cmd.arg("-D").arg(&data).args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]);
        run("initdb", cmd).await?;
        tracing::info!(dir = %data.display(), "initialised the embedded PostgreSQL cluster");
        Ok(())
    }

    /// A server from an earlier run (its owner was killed) still serving this folder on our
    /// port is reused as is.
    async fn adopt_running(&self) -> bool {
        let Some((pid, port)) = read_postmaster_pid(&self.dir.join("data")) else {
            return false;
        };
        if port != self.port || port == 0 || !process_alive(pid) {
            return false;
        }
        PgConnection::connect(&self.url_for(SUPERUSER))
            .await
            .is_ok()
    }

    /// Keeps the persisted port when it is free, otherwise takes a new free loopback port and
    /// records it.
    fn choose_port(&mut self) -> Result<(), EmbeddedPgError> {
        if self.port != 0 && std::net::TcpListener::bind(("127.0.0.1", self.port)).is_ok() {
            return Ok(());
        }
        let previous = self.port;
        self.port = free_port().map_err(io_err(Path::new("127.0.0.1:0")))?;
        if previous != 0 {
            tracing::warn!(
                previous,
                port = self.port,
                "the embedded PostgreSQL's port is taken; moving"
            );
        }
        let path = self.dir.join("port");
        std::fs::write(&path, format!("{}\n", self.port)).map_err(io_err(&path))
    }

    async fn start_server(&self) -> Result<(), EmbeddedPgError> {
        let log = self.dir.join("postgres.log");
        rotate_log(&log);
        let socket_dir = if self
            .dir
            .join(format!(".s.PGSQL.{}", self.port))
            .as_os_str()
            .len()
            <= MAX_SOCKET_PATH
        {
            self.dir.display().to_string()
        } else {
            tracing::info!("data_dir path too long for a unix socket; TCP only");
            String::new()
        };
        // pg_ctl hands `-o` to /bin/sh, hence the quoting.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            self.port,
            shell_quote(&socket_dir)
        );
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
            let mut cmd = self.command(self.bins.pg_ctl());
            cmd.arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"]);
            let Err(err) = run("pg_ctl start", cmd).await else {
                return Ok(());
            };
            let tail = read_from(&log, offset);
            // After a kill -9 the dead postmaster's backends linger for a moment and still
            // hold its shared memory (or its pid is not yet reaped); PostgreSQL refuses to
            // start until they are gone.
            let transient = tail.contains("postmaster.pid\" already exists")
                || tail.contains("shared memory block")
                || tail.contains("could not bind");
            if !transient || Instant::now() >= deadline {
                let detail = match tail.trim() {
                    "" => err.to_string(),
                    t => last_lines(t, 8),
                };
                return Err(EmbeddedPgError::Start {
                    detail,
                    log: log.display().to_string(),
                });
            }
            tracing::debug!("previous PostgreSQL still exiting; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedPgError> {
        let mut conn = PgConnection::connect(&self.url_for(SUPERUSER))
            .await
            .map_err(EmbeddedPgError::CreateDatabase)?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .map_err(EmbeddedPgError::CreateDatabase)?;
        if !exists {
            sqlx::raw_sql(CREATE_DATABASE)
                .execute(&mut conn)
                .await
                .map_err(EmbeddedPgError::CreateDatabase)?;
        }
        let _ = conn.close().await;
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "could not stop the embedded PostgreSQL");
        }
    }
}

/// Creates `<data_dir>/postgres` (0700) and, under root, hands it to the `postgres` user and
/// makes sure that user can reach it.
fn prepare_dir(data_dir: &Path, dir: &Path, run_as: Option<RunAs>) -> Result<(), EmbeddedPgError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
    let Some(who) = run_as else {
        return Ok(());
    };
    owner::chown_tree(dir, who)?;
    // The data folder is Regent's own: let the server user traverse it (names only; the keys
    // inside stay 0600). Folders above it are the operator's: only check them.
    let meta = std::fs::metadata(data_dir).map_err(io_err(data_dir))?;
    if !who.can_search(&meta) {
        let mode = meta.permissions().mode() | 0o001;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(mode))
            .map_err(io_err(data_dir))?;
    }
    for ancestor in data_dir.ancestors().skip(1) {
        let meta = std::fs::metadata(ancestor).map_err(io_err(ancestor))?;
        if !who.can_search(&meta) {
            return Err(EmbeddedPgError::NotSearchable {
                path: ancestor.display().to_string(),
            });
        }
    }
    Ok(())
}
