//! `regent rollout …` and `regent channels create` against a server listening on a loopback
//! port: the real binary, the real HTTP API, real Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/rollout.rs"]
mod helpers;

use std::process::{Command, Output};

use helpers::push_version;
use sqlx::PgPool;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[sqlx::test(migrations = "../migrations")]
async fn rollout_commands_drive_a_real_server(pool: PgPool) {
    let app = common::TestApp::new(pool).await;
    push_version(&app, 1).await;
    push_version(&app, 2).await;
    let mut config = app.state.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let keys = regent_control_plane::keyring::KeyRing::new(
        regent_bundle::SigningKey::generate("cli-key", regent_bundle::KeyAlgorithm::Es256).unwrap(),
        Vec::new(),
    )
    .unwrap();
    keys.register(&app.state.store).await.unwrap();
    let state = regent_control_plane::app::AppState::new(config, app.state.store.clone(), keys);
    let running = regent_control_plane::server::start(state).await.unwrap();
    let server = format!("http://{}", running.addr);
    let publisher = app.publisher.clone();
    let auditor = app.auditor.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let run = |token: &str, args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_regent"))
                .args(args)
                .env("REGENT_SERVER", &server)
                .env("REGENT_TOKEN", token)
                .output()
                .unwrap()
        };
        let p = publisher.as_str();
        vec![
            run(
                p,
                &[
                    "rollout",
                    "start",
                    "tiny-bot",
                    "prod",
                    "--from-channel",
                    "staging",
                    "--percentage",
                    "30",
                    "--reason",
                    "canary v2",
                ],
            ),
            run(p, &["rollout", "set", "tiny-bot", "prod", "60"]),
            run(&auditor, &["rollout", "promote", "tiny-bot", "prod"]),
            run(
                p,
                &[
                    "rollout",
                    "freeze",
                    "tiny-bot",
                    "prod",
                    "--reason",
                    "incident 7",
                ],
            ),
            run(p, &["rollout", "promote", "tiny-bot", "prod"]),
            run(p, &["rollout", "unfreeze", "tiny-bot", "prod"]),
            run(
                p,
                &["rollout", "promote", "tiny-bot", "prod", "--reason", "ship"],
            ),
            run(
                p,
                &[
                    "rollout", "rollback", "tiny-bot", "prod", "--to", "1", "--reason", "bad",
                ],
            ),
            run(
                p,
                &[
                    "rollout",
                    "pin",
                    "tiny-bot",
                    "prod",
                    "agent-7",
                    "tiny-bot-2",
                ],
            ),
            run(p, &["rollout", "unpin", "tiny-bot", "prod", "agent-7"]),
            run(
                p,
                &[
                    "channels",
                    "create",
                    "tiny-bot",
                    "beta",
                    "--from-channel",
                    "prod",
                ],
            ),
            run(p, &["rollout", "set", "tiny-bot", "prod", "101"]),
            run(&auditor, &["rollout", "status", "tiny-bot"]),
        ]
    })
    .await
    .unwrap();
    let ok = |i: usize, needle: &str| {
        assert!(outputs[i].status.success(), "{i}: {}", text(&outputs[i]));
        assert!(
            text(&outputs[i]).contains(needle),
            "{i}: {}",
            text(&outputs[i])
        );
    };
    let refused = |i: usize, needle: &str| {
        assert_eq!(
            outputs[i].status.code(),
            Some(1),
            "{i}: {}",
            text(&outputs[i])
        );
        assert!(
            text(&outputs[i]).contains(needle),
            "{i}: {}",
            text(&outputs[i])
        );
    };
    ok(
        0,
        "tiny-bot/prod: rollout_started tiny-bot-1 → tiny-bot-2 at 30% (rollout 1)",
    );
    ok(1, "at 60%");
    refused(2, "role `auditor` cannot change");
    ok(3, "channel_frozen");
    refused(4, "is frozen (by `publisher:ci`");
    ok(5, "channel_unfrozen");
    ok(6, "rollout_promoted tiny-bot-1 → tiny-bot-2 at 100%");
    ok(7, "re-issued tiny-bot-1 as tiny-bot-3 (sequence 3)");
    ok(8, "agent_pinned - → tiny-bot-2");
    ok(9, "agent_unpinned tiny-bot-2 → -");
    ok(10, "tiny-bot/beta: channel_created - → tiny-bot-3");
    refused(11, "percentage `101` is outside 1..=100");
    ok(12, "prod         tiny-bot-3");
    assert!(
        text(&outputs[12]).contains("rollback"),
        "{}",
        text(&outputs[12])
    );
}
