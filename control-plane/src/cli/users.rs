//! `regent users`: console user accounts (talks to the database directly, like `regent tokens`).
//!
//! Nothing secret is printed, except a password this command generated (shown once).

use std::io::Read as _;

use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;

use super::CliResult;
use super::server::ConfigArgs;
use crate::auth::{Role, generate_token};
use crate::http::console::password::{MIN_PASSWORD_CHARS, hash_password};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a console user. The password is read from stdin with `--password-stdin`;
    /// otherwise a random one is generated and printed once.
    Create {
        /// Sign-in name: `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter.
        #[arg(long)]
        name: String,
        /// admin, publisher or auditor (agents use tokens, never the console).
        #[arg(long)]
        role: Role,
        /// Read the password from stdin (one line; at least 12 characters).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Disable a user and end its console sessions.
    Disable {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(cmd: UsersCommand) -> CliResult {
    let config = match &cmd {
        UsersCommand::Create { config, .. } | UsersCommand::Disable { config, .. } => {
            config.load()?
        }
    };
    let url = config.database_url.ok_or_else(|| {
        anyhow!("no database configured: set `database_url` in the config file or REGENT_DATABASE_URL / DATABASE_URL")
    })?;
    // Read and hash before connecting: a refused password never touches the database.
    let prepared = match &cmd {
        UsersCommand::Create {
            role,
            password_stdin,
            ..
        } => {
            if *role == Role::Agent {
                return Err(anyhow!("console users are admin, publisher or auditor; agents use agent tokens and cannot sign in").into());
            }
            let (password, generated) = if *password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_to_string(&mut line)
                    .context("cannot read the password from stdin")?;
                let password = line.trim_end_matches(['\r', '\n']).to_owned();
                if password.chars().count() < MIN_PASSWORD_CHARS {
                    return Err(anyhow!(
                        "the password is too short: use at least {MIN_PASSWORD_CHARS} characters"
                    )
                    .into());
                }
                (password, false)
            } else {
                // 256 random bits, the same form as API tokens minus the prefix.
                let token = generate_token();
                (token.trim_start_matches("rgt_").to_owned(), true)
            };
            Some((hash_password(&password)?, generated.then_some(password)))
        }
        UsersCommand::Disable { .. } => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = Store::connect(&url, 2)
            .await
            .context("cannot connect to the database")?;
        match (cmd, prepared) {
            (UsersCommand::Create { name, role, .. }, Some((hash, generated))) => {
                let id = store
                    .create_console_user(&name, role, &hash, "cli")
                    .await
                    .map_err(|e| anyhow!("cannot create user `{name}`: {e}"))?;
                eprintln!("created {role} user `{name}` ({id})");
                if let Some(password) = generated {
                    eprintln!("generated password, shown only once:");
                    println!("{password}");
                }
            }
            (UsersCommand::Disable { name, .. }, _) => {
                if !store.disable_console_user(&name).await? {
                    bail!("no enabled user `{name}`");
                }
                eprintln!("disabled user `{name}`; their console sessions have ended");
            }
            (UsersCommand::Create { .. }, None) => bail!("the password was not prepared"),
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
