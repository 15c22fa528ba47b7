//! `regent serve`, `regent migrate`, `regent tokens`.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand};

use super::CliResult;
use crate::auth::{Role, generate_token};
use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// YAML config file; `REGENT_*` environment variables override it.
    #[arg(long, short, env = "REGENT_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        Ok(Config::load(self.config.as_deref())?)
    }
}

fn database_url(config: &Config) -> anyhow::Result<String> {
    config.database_url.clone().ok_or_else(|| {
        anyhow!("no database configured: set `database_url` in the config file or REGENT_DATABASE_URL / DATABASE_URL")
    })
}

pub fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn serve(args: &ConfigArgs) -> CliResult {
    let config = args.load()?;
    init_tracing(&config);
    let url = database_url(&config)?;
    runtime()?.block_on(async move {
        let state = crate::server::prepare(config, &url).await?;
        let running = crate::server::start(state).await?;
        running.handle.await??;
        anyhow::Ok(())
    })?;
    Ok(())
}

pub fn migrate(args: &ConfigArgs) -> CliResult {
    let config = args.load()?;
    init_tracing(&config);
    let url = database_url(&config)?;
    runtime()?.block_on(async move {
        let store = Store::connect(&url, 2)
            .await
            .context("cannot connect to the database")?;
        store.migrate().await.context("migrations failed")?;
        println!("migrations applied");
        anyhow::Ok(())
    })?;
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// A name for the token, recorded as the actor in audit records.
        #[arg(long)]
        name: String,
        /// admin, publisher, auditor or agent.
        #[arg(long)]
        role: Role,
        /// The persona an agent token is for (agent tokens only).
        #[arg(long)]
        persona: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a token by id or name.
    Revoke {
        id_or_name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn tokens(cmd: TokensCommand) -> CliResult {
    let config = match &cmd {
        TokensCommand::Create { config, .. }
        | TokensCommand::Revoke { config, .. }
        | TokensCommand::List { config } => config.load()?,
    };
    let url = database_url(&config)?;
    runtime()?.block_on(async move {
        let store = Store::connect(&url, 2)
            .await
            .context("cannot connect to the database")?;
        match cmd {
            TokensCommand::Create {
                name,
                role,
                persona,
                ..
            } => {
                if let Some(p) = &persona {
                    store.ensure_persona(p).await?;
                }
                let token = generate_token();
                let id = store
                    .create_token(&token, &name, role, persona.as_deref(), "cli")
                    .await?;
                eprintln!("created {role} token `{name}` ({id}); it is shown only once:");
                println!("{token}");
            }
            TokensCommand::Revoke { id_or_name, .. } => {
                let n = store.revoke_token(&id_or_name).await?;
                println!("revoked {n} token(s)");
            }
            TokensCommand::List { .. } => {
                for t in store.tokens().await? {
                    println!(
                        "{}  {:<10} {:<9} {:<10} {}{}",
                        t.id,
                        t.prefix,
                        t.role,
                        t.persona.as_deref().unwrap_or("-"),
                        t.name,
                        if t.revoked_at.is_some() {
                            "  (revoked)"
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
