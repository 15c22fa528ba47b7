//! `regent rollout …` and `regent channels create`: thin clients of the rollout API
//! (`docs/rollout.md`). Server URL and token come from `--server`/`--token` or
//! `REGENT_SERVER`/`REGENT_TOKEN`, as for `regent push`.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::CliResult;
use super::push::{ServerArgs, runtime, server_error};

#[derive(Debug, Args)]
pub struct Target {
    /// Persona, e.g. `hr-bot`.
    pub persona: String,
    /// Channel, e.g. `prod`.
    pub channel: String,
}

#[derive(Debug, Args)]
pub struct ReasonArg {
    /// Why (written to the rollout event log).
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start a canary: give a candidate revision to a percentage of the channel's agents.
    Start {
        #[command(flatten)]
        target: Target,
        /// Candidate revision (sequence number or revision string).
        #[arg(
            long,
            conflicts_with = "from_channel",
            required_unless_present = "from_channel"
        )]
        revision: Option<String>,
        /// Candidate = what this channel runs now (e.g. `staging` to promote staging to prod).
        #[arg(long)]
        from_channel: Option<String>,
        /// Share of the channel's agents, 1..=100.
        #[arg(long)]
        percentage: i64,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Raise or lower the active rollout's percentage.
    Set {
        #[command(flatten)]
        target: Target,
        /// New share, 1..=100.
        percentage: i64,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Move the channel to the candidate (everyone) and end the rollout.
    Promote {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// End the rollout; everyone goes back to the channel's revision.
    Abort {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Re-issue an older revision's content as a new revision and move the channel to it.
    Rollback {
        #[command(flatten)]
        target: Target,
        /// The revision whose content to restore (sequence number or revision string).
        #[arg(long)]
        to: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Freeze the channel: every change is refused until it is unfrozen.
    Freeze {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Unfreeze the channel.
    Unfreeze {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Pin one agent to a revision, whatever its channel or rollouts say.
    Pin {
        #[command(flatten)]
        target: Target,
        /// Agent id (`labels.id` of its status reports).
        agent: String,
        /// Revision (sequence number or revision string).
        revision: String,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove an agent's pin.
    Unpin {
        #[command(flatten)]
        target: Target,
        agent: String,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Channels, rollouts and convergence of a persona, and its latest rollout events.
    Status {
        persona: String,
        /// How many events to show.
        #[arg(long, default_value_t = 10)]
        events: u32,
        /// Print the raw JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Create a channel (empty, or starting at a revision or another channel's revision).
    Create {
        persona: String,
        name: String,
        #[arg(long, conflicts_with = "from_channel")]
        revision: Option<String>,
        #[arg(long)]
        from_channel: Option<String>,
        #[command(flatten)]
        reason: ReasonArg,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Sends one request and returns the JSON reply, or the server's problem as the CLI error.
fn call(
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, super::Failure> {
    let base = server.server.trim_end_matches('/');
    let url = format!("{base}{path}");
    let (status, bytes) = runtime()?.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, &url)
            .bearer_auth(&server.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        anyhow::Ok((status, response.bytes().await.context("reading the reply")?))
    })?;
    if !status.is_success() {
        return Err(server_error(status, &bytes));
    }
    Ok(serde_json::from_slice(&bytes).context("the server's reply is not JSON")?)
}

fn channel_path(target: &Target) -> String {
    format!(
        "/api/v1/personas/{}/channels/{}",
        target.persona, target.channel
    )
}

/// One line per change: `prod: rollout_started tiny-bot-1 → tiny-bot-2 at 30% (event 12)`.
fn print_change(change: &Value) {
    let text = |k: &str| change[k].as_str().unwrap_or("-").to_owned();
    let mut line = format!(
        "{}/{}: {} {} → {}",
        text("persona"),
        text("channel"),
        text("kind"),
        text("from_revision"),
        text("to_revision")
    );
    if let Some(p) = change["percentage"].as_i64() {
        line.push_str(&format!(" at {p}%"));
    }
    if let Some(id) = change["rollout_id"].as_i64() {
        line.push_str(&format!(" (rollout {id})"));
    }
    println!("{line}");
}

fn revision_value(reference: &str) -> Value {
    Value::String(reference.to_owned())
}

/// The candidate of a rollout or a new channel: a revision, or what another channel runs.
fn add_candidate(body: &mut Value, revision: Option<String>, from_channel: Option<String>) {
    if let Some(r) = revision {
        body["revision"] = revision_value(&r);
    }
    if let Some(c) = from_channel {
        body["from_channel"] = Value::String(c);
    }
}

pub fn run(command: RolloutCommand) -> CliResult {
    use reqwest::Method;
    match command {
        RolloutCommand::Start {
            target,
            revision,
            from_channel,
            percentage,
            reason,
            server,
        } => {
            let mut body = json!({"percentage": percentage, "reason": reason.reason});
            add_candidate(&mut body, revision, from_channel);
            let path = format!("{}/rollout", channel_path(&target));
            print_change(&call(&server, Method::POST, &path, Some(body))?);
        }
        RolloutCommand::Set {
            target,
            percentage,
            reason,
            server,
        } => {
            let path = format!("{}/rollout/percentage", channel_path(&target));
            let body = json!({"percentage": percentage, "reason": reason.reason});
            print_change(&call(&server, Method::POST, &path, Some(body))?);
        }
        RolloutCommand::Promote {
            target,
            reason,
            server,
        } => simple(&server, &target, "rollout/promote", &reason.reason)?,
        RolloutCommand::Abort {
            target,
            reason,
            server,
        } => simple(&server, &target, "rollout/abort", &reason.reason)?,
        RolloutCommand::Freeze {
            target,
            reason,
            server,
        } => simple(&server, &target, "freeze", &reason.reason)?,
        RolloutCommand::Unfreeze {
            target,
            reason,
            server,
        } => simple(&server, &target, "unfreeze", &reason.reason)?,
        RolloutCommand::Rollback {
            target,
            to,
            reason,
            server,
        } => {
            let path = format!("{}/rollback", channel_path(&target));
            let body = json!({"revision": revision_value(&to), "reason": reason});
            let outcome = call(&server, Method::POST, &path, Some(body))?;
            print_change(&outcome);
            println!(
                "re-issued {} as {} (sequence {}), content sha256:{}",
                outcome["reissue_of"].as_str().unwrap_or("?"),
                outcome["revision"].as_str().unwrap_or("?"),
                outcome["sequence"],
                outcome["content_digest"].as_str().unwrap_or("?")
            );
        }
        RolloutCommand::Pin {
            target,
            agent,
            revision,
            reason,
            server,
        } => {
            let path = format!("{}/pins/{agent}", channel_path(&target));
            let body = json!({"revision": revision_value(&revision), "reason": reason.reason});
            print_change(&call(&server, Method::PUT, &path, Some(body))?);
        }
        RolloutCommand::Unpin {
            target,
            agent,
            reason,
            server,
        } => {
            let path = format!("{}/pins/{agent}", channel_path(&target));
            let body = json!({"reason": reason.reason});
            print_change(&call(&server, Method::DELETE, &path, Some(body))?);
        }
        RolloutCommand::Status {
            persona,
            events,
            json,
            server,
        } => status(&server, &persona, events, json)?,
    }
    Ok(())
}

fn simple(server: &ServerArgs, target: &Target, action: &str, reason: &str) -> CliResult {
    let path = format!("{}/{action}", channel_path(target));
    let change = call(
        server,
        reqwest::Method::POST,
        &path,
        Some(json!({"reason": reason})),
    )?;
    print_change(&change);
    Ok(())
}

fn status(server: &ServerArgs, persona: &str, events: u32, raw: bool) -> CliResult {
    let channels = call(
        server,
        reqwest::Method::GET,
        &format!("/api/v1/personas/{persona}/channels"),
        None,
    )?;
    let log = call(
        server,
        reqwest::Method::GET,
        &format!(
            "/api/v1/personas/{persona}/rollout-events?limit={}",
            events.max(1)
        ),
        None,
    )?;
    if raw {
        println!(
            "{}",
            json!({"channels": channels["channels"], "events": log["events"]})
        );
        return Ok(());
    }
    for c in channels["channels"].as_array().into_iter().flatten() {
        let agents = &c["agents"];
        let mut line = format!(
            "{:<12} {:<20} agents {} on target {} ({}%) stale {} erroring {}",
            c["name"].as_str().unwrap_or("?"),
            c["revision"].as_str().unwrap_or("(empty)"),
            agents["total"],
            agents["on_target"],
            agents["converged_percent"],
            agents["stale"],
            agents["erroring"],
        );
        if c["frozen"] == true {
            line.push_str(&format!(
                "  FROZEN by {} ({})",
                c["frozen_by"].as_str().unwrap_or("?"),
                c["frozen_reason"].as_str().unwrap_or("")
            ));
        }
        println!("{line}");
        if let Some(r) = c["rollout"].as_object() {
            println!(
                "{:<12} rollout {}: {} at {}% (started by {} at {})",
                "",
                r["id"],
                r["candidate"].as_str().unwrap_or("?"),
                r["percentage"],
                r["started_by"].as_str().unwrap_or("?"),
                r["started_at"].as_str().unwrap_or("?")
            );
        }
    }
    println!("\nlatest events:");
    for e in log["events"].as_array().into_iter().flatten() {
        println!(
            "  {} {:<8} {:<18} {} → {} {} by {}{}",
            e["created_at"].as_str().unwrap_or("?"),
            e["channel"].as_str().unwrap_or("-"),
            e["kind"].as_str().unwrap_or("?"),
            e["from_revision"].as_str().unwrap_or("-"),
            e["to_revision"].as_str().unwrap_or("-"),
            e["percentage"]
                .as_i64()
                .map(|p| format!("{p}%"))
                .unwrap_or_default(),
            e["actor"].as_str().unwrap_or("?"),
            e["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn channels(command: ChannelsCommand) -> CliResult {
    match command {
        ChannelsCommand::Create {
            persona,
            name,
            revision,
            from_channel,
            reason,
            server,
        } => {
            let mut body = json!({"name": name, "reason": reason.reason});
            add_candidate(&mut body, revision, from_channel);
            let change = call(
                &server,
                reqwest::Method::POST,
                &format!("/api/v1/personas/{persona}/channels"),
                Some(body),
            )?;
            print_change(&change);
        }
    }
    Ok(())
}
