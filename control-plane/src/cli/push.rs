//! `regent push` (the GitOps client) and `regent personas create`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow};
use clap::Args;
use regent_bundle::{BuildOptions, build_dir};
use serde_json::Value;

use super::{CliResult, Failure};

/// Where the server is and who we are.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Control plane URL.
    #[arg(long, env = "REGENT_SERVER", default_value = "http://127.0.0.1:8181")]
    pub server: String,
    /// API token (publisher or admin to push).
    #[arg(long, env = "REGENT_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The persona's source folder (with `regent.yaml`).
    pub dir: PathBuf,
    /// Persona to push to (default: the folder's `regent.yaml` persona).
    #[arg(long)]
    pub persona: Option<String>,
    /// Channel to move (default `staging`; `prod` also moves on a persona's first push).
    #[arg(long)]
    pub channel: Option<String>,
    /// Source commit (default: `git rev-parse HEAD` in the folder).
    #[arg(long)]
    pub commit: Option<String>,
    /// Source author (default: the commit's author email).
    #[arg(long)]
    pub author: Option<String>,
    /// Source repository (default: `git remote get-url origin`).
    #[arg(long)]
    pub repository: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Turns a problem+json reply into the error the CLI prints (exit code 1).
pub(super) fn server_error(status: reqwest::StatusCode, body: &[u8]) -> Failure {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = problem["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    let code = problem["code"].as_str().unwrap_or("error");
    let mut message = format!("server refused ({status}, {code}): {detail}");
    if let Some(tests) = problem["failed_tests"].as_str() {
        message.push_str(&format!("\n  failing tests: {tests}"));
    }
    if status.is_client_error() && status != reqwest::StatusCode::UNAUTHORIZED {
        Failure::Refused(anyhow!(message))
    } else {
        Failure::Usage(anyhow!(message))
    }
}

pub fn push(args: &PushArgs) -> CliResult {
    let dir = &args.dir;
    eprintln!("building {} ...", dir.display());
    let bundle = build_dir(dir, &BuildOptions::default()).map_err(|e| {
        Failure::Refused(anyhow!(e).context(format!("`{}` does not build", dir.display())))
    })?;
    let persona = args
        .persona
        .clone()
        .or_else(|| bundle.manifest.persona().map(str::to_owned))
        .ok_or_else(|| anyhow!("no persona: pass --persona or set `persona` in regent.yaml"))?;
    let archive = bundle.to_archive()?;
    eprintln!(
        "built {} files, {} bytes, content sha256:{}",
        bundle.files.len(),
        archive.len(),
        bundle.content_digest()
    );
    let commit = args
        .commit
        .clone()
        .or_else(|| git(dir, &["rev-parse", "HEAD"]));
    let author = args
        .author
        .clone()
        .or_else(|| git(dir, &["log", "-1", "--format=%ae"]));
    let repository = args
        .repository
        .clone()
        .or_else(|| git(dir, &["remote", "get-url", "origin"]));
    let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]);
    let message = git(dir, &["log", "-1", "--format=%s"]);

    let base = args.server.server.trim_end_matches('/');
    let mut url = format!("{base}/api/v1/personas/{persona}/revisions");
    if let Some(channel) = &args.channel {
        url.push_str(&format!("?channel={channel}"));
    }
    eprintln!("pushing to {url} ...");
    let (status, body) = runtime()?.block_on(async {
        let mut request = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&args.server.token)
            .header(reqwest::header::CONTENT_TYPE, "application/gzip");
        for (header, value) in [
            ("regent-source-commit", &commit),
            ("regent-source-author", &author),
            ("regent-source-repository", &repository),
            ("regent-source-branch", &branch),
            ("regent-source-message", &message),
        ] {
            if let Some(value) = value {
                request = request.header(header, value.replace(['\r', '\n'], " "));
            }
        }
        let response = request
            .body(archive)
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        let body = response.bytes().await.context("reading the reply")?;
        anyhow::Ok((status, body))
    })?;
    if !status.is_success() {
        return Err(server_error(status, &body));
    }
    let outcome: Value = serde_json::from_slice(&body).context("the server's reply is not JSON")?;
    let tests = outcome["tests"].as_array().map_or(0, Vec::len);
    if outcome["created"] == true {
        println!(
            "created revision {} (sequence {}), {tests} tests passed, signed by `{}`, channels: {}",
            outcome["revision"].as_str().unwrap_or("?"),
            outcome["sequence"],
            outcome["signature_kid"].as_str().unwrap_or("?"),
            outcome["channels"]
                .as_array()
                .map(|c| c
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    } else {
        println!(
            "unchanged: identical content is already revision {} (sequence {})",
            outcome["revision"].as_str().unwrap_or("?"),
            outcome["sequence"]
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct CreatePersonaArgs {
    /// Persona name (`a-z`, `0-9`, `-`).
    pub name: String,
    /// What the persona is for.
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn create_persona(args: &CreatePersonaArgs) -> CliResult {
    let base = args.server.server.trim_end_matches('/');
    let (status, body) = runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v1/personas"))
            .bearer_auth(&args.server.token)
            .json(&serde_json::json!({"name": args.name, "description": args.description}))
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        anyhow::Ok((status, response.bytes().await?))
    })?;
    if !status.is_success() {
        return Err(server_error(status, &body));
    }
    println!(
        "persona `{}` ready with channels staging and prod",
        args.name
    );
    Ok(())
}
