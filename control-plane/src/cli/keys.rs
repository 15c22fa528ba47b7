//! `regent keys`: signing key generation.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use regent_bundle::{KeyAlgorithm, SigningKey};

use super::CliResult;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key pair: `<kid>.key.pem` (private, mode 0600) and `<kid>.pub.pem`.
    Generate {
        /// Key id written into every signature's `kid` header.
        #[arg(long, default_value = "regent-1")]
        kid: String,
        /// Signature algorithm.
        #[arg(long, value_enum, default_value_t = Alg::Es256)]
        alg: Alg,
        /// Folder to write the two PEM files into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Make a new signing key active in the control plane's key folder
    /// (`<data_dir>/keys`); older keys stay trusted until retired. Restart to apply.
    Rotate {
        /// The control plane's data folder.
        #[arg(long, env = "REGENT_DATA_DIR", default_value = ".regent")]
        data_dir: PathBuf,
        /// Key id of the new key (default `regent-<n+1>`).
        #[arg(long)]
        kid: Option<String>,
    },
    /// Stop trusting an old key: its files move to `<data_dir>/keys/retired/`. Restart to apply.
    Retire {
        kid: String,
        #[arg(long, env = "REGENT_DATA_DIR", default_value = ".regent")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Alg {
    Es256,
    Rs256,
}

impl From<Alg> for KeyAlgorithm {
    fn from(alg: Alg) -> Self {
        match alg {
            Alg::Es256 => KeyAlgorithm::Es256,
            Alg::Rs256 => KeyAlgorithm::Rs256,
        }
    }
}

pub fn run(cmd: KeysCommand) -> CliResult {
    match cmd {
        KeysCommand::Generate {
            kid,
            alg,
            out,
            force,
        } => generate(&kid, alg.into(), &out, force),
        KeysCommand::Rotate { data_dir, kid } => {
            let key = crate::keyring::rotate(&data_dir.join("keys"), kid.as_deref())?;
            println!(
                "new active signing key `{}` ({})",
                key.kid(),
                key.public_key().fingerprint()
            );
            println!(
                "restart the control plane to sign with it; earlier keys stay trusted for verification"
            );
            println!("until retired with `regent keys retire <kid>`");
            Ok(())
        }
        KeysCommand::Retire { kid, data_dir } => {
            crate::keyring::retire(&data_dir.join("keys"), &kid)?;
            println!("key `{kid}` retired; restart the control plane to stop trusting it");
            Ok(())
        }
    }
}

fn generate(kid: &str, alg: KeyAlgorithm, out: &std::path::Path, force: bool) -> CliResult {
    let key = SigningKey::generate(kid, alg)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create `{}`", out.display()))?;
    let private = out.join(format!("{kid}.key.pem"));
    let public = out.join(format!("{kid}.pub.pem"));
    for path in [&private, &public] {
        if path.exists() && !force {
            return Err(anyhow::anyhow!(
                "`{}` already exists; pass --force to replace it",
                path.display()
            )
            .into());
        }
    }
    write_private(&private, key.to_pem().as_bytes())?;
    std::fs::write(&public, key.public_key().to_pem())
        .with_context(|| format!("cannot write `{}`", public.display()))?;
    println!("generated {alg} key `{kid}`");
    println!("  private key: {} (keep secret)", private.display());
    println!("  public key:  {}", public.display());
    println!("  fingerprint: {}", key.public_key().fingerprint());
    Ok(())
}

/// Creates the private key file readable by its owner only, before any byte is written.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write `{}`", path.display()))
}
