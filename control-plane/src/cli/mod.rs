//! The `regent` command line.
//!
//! Exit codes: `0` success; `1` the bundle or policy was refused (invalid archive, failed
//! tests or cases, bad signature); `2` usage, configuration or I/O errors.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bundle;
mod keys;
mod push;
mod rollout;
pub mod server;
mod up;
mod users;

#[derive(Debug, Parser)]
#[command(
    name = "regent",
    version,
    about = "Signed, versioned Rego policy bundles for AI agents"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, inspect, verify and test policy bundles.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Build a persona folder and push it to the control plane (the GitOps client).
    Push(push::PushArgs),
    /// Manage personas on the control plane.
    #[command(subcommand)]
    Personas(PersonasCommand),
    /// Roll revisions out on channels: canary, promote, abort, rollback, freeze, pin, status.
    #[command(subcommand)]
    Rollout(rollout::RolloutCommand),
    /// Manage channels on the control plane.
    #[command(subcommand)]
    Channels(rollout::ChannelsCommand),
    /// Run the control plane.
    Serve(server::ConfigArgs),
    /// Apply database migrations.
    Migrate(server::ConfigArgs),
    /// Create, revoke and list API tokens (talks to the database directly).
    #[command(subcommand)]
    Tokens(server::TokensCommand),
    /// Create and disable console user accounts (talks to the database directly).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Start the whole stack: embedded Postgres, local registry, server, personas pushed.
    Up(up::UpArgs),
    /// Run only the private PostgreSQL and print its URL (for scripts/test.sh).
    #[command(hide = true)]
    DevPostgres(up::DevPostgresArgs),
}

#[derive(Debug, Subcommand)]
enum PersonasCommand {
    /// Create a persona (admin), with channels `staging` and `prod`.
    Create(push::CreatePersonaArgs),
}

/// A failed command: what went wrong, and whether the input (1) or the invocation (2) is at fault.
#[derive(Debug)]
pub enum Failure {
    /// The bundle or policy was refused.
    Refused(anyhow::Error),
    /// Usage, configuration or I/O.
    Usage(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Usage(e.into())
    }
}

pub type CliResult = Result<(), Failure>;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bundle(cmd) => bundle::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Push(args) => push::push(&args),
        Command::Personas(PersonasCommand::Create(args)) => push::create_persona(&args),
        Command::Rollout(cmd) => rollout::run(cmd),
        Command::Channels(cmd) => rollout::channels(cmd),
        Command::Serve(args) => server::serve(&args),
        Command::Migrate(args) => server::migrate(&args),
        Command::Tokens(cmd) => server::tokens(cmd),
        Command::Users(cmd) => users::run(cmd),
        Command::Up(args) => up::up(&args),
        Command::DevPostgres(args) => up::dev_postgres(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
