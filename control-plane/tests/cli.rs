//! The real `regent` binary: exit codes, messages, determinism, and `regent push` against a
//! server listening on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{tiny_copy, tiny_dir};
use sqlx::PgPool;

fn regent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regent"))
        .args(args)
        .env_remove("REGENT_TOKEN")
        .env_remove("REGENT_SERVER")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn build_is_deterministic_and_verify_checks_key_and_scope() {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    let out = regent(&["keys", "generate", "--kid", "k1", "--out", s(&keys)]);
    assert!(out.status.success(), "{}", text(&out));
    let out = regent(&[
        "keys",
        "generate",
        "--kid",
        "k2",
        "--alg",
        "rs256",
        "--out",
        s(&keys),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = regent(&["keys", "generate", "--kid", "k1", "--out", s(&keys)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "refuses to overwrite: {}",
        text(&out)
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(keys.join("k1.key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let a = work.path().join("a.tar.gz");
    let b = work.path().join("b.tar.gz");
    for out_file in [&a, &b] {
        let out = regent(&["bundle", "build", s(&tiny_dir()), "--out", s(out_file)]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let signed = work.path().join("signed.tar.gz");
    let key = keys.join("k1.key.pem");
    let out = regent(&[
        "bundle",
        "build",
        s(&tiny_dir()),
        "--out",
        s(&signed),
        "--sign",
        s(&key),
        "--kid",
        "k1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("scope tiny-bot"), "{}", text(&out));

    let out = regent(&[
        "bundle",
        "verify",
        s(&signed),
        "--key",
        s(&keys.join("k1.pub.pem")),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("signature OK (ES256 key `k1`, scope tiny-bot"),
        "{}",
        text(&out)
    );

    let out = regent(&[
        "bundle",
        "verify",
        s(&signed),
        "--key",
        &format!("k1={}", s(&keys.join("k2.pub.pem"))),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("k1"), "{}", text(&out));

    let out = regent(&[
        "bundle",
        "verify",
        s(&signed),
        "--key",
        s(&keys.join("k1.pub.pem")),
        "--scope",
        "hr-bot",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("scope mismatch"), "{}", text(&out));

    let out = regent(&[
        "bundle",
        "verify",
        s(&a),
        "--key",
        s(&keys.join("k1.pub.pem")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("missing .signatures.json"),
        "{}",
        text(&out)
    );

    let out = regent(&["bundle", "inspect", s(&signed), "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["signature"]["kid"], "k1");
    assert_eq!(report["signature"]["scope"], "tiny-bot");
    assert_eq!(
        report["manifest"]["metadata"]["regent"]["persona"],
        "tiny-bot"
    );
}

#[test]
fn bundle_test_reports_each_test_and_fails_on_a_failing_one() {
    let out = regent(&["bundle", "test", s(&tiny_dir()), "--verbose"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("data.regent.persona_test.test_listed_tool_allowed PASS"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("2 passed, 0 failed: policy tests"),
        "{}",
        text(&out)
    );

    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("bad_test.rego"),
        "package regent.persona_test\n\ntest_nope if {\n  false\n}\n",
    )
    .unwrap();
    let out = regent(&["bundle", "test", s(dir.path())]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("data.regent.persona_test.test_nope FAIL"),
        "{}",
        text(&out)
    );

    let out = regent(&["bundle", "test", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = regent(&["bundle", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn syntax_errors_point_at_file_and_line() {
    let dir = tiny_copy();
    std::fs::write(
        dir.path().join("policy.rego"),
        "package regent.persona\n\ndecision := {\n",
    )
    .unwrap();
    let out = regent(&["bundle", "build", s(dir.path()), "--out", "/dev/null"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("`regent/persona/policy.rego` line"),
        "{}",
        text(&out)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn push_against_a_real_server(pool: PgPool) {
    let app = common::TestApp::new(pool.clone()).await;
    let mut state_config = app.state.config.clone();
    state_config.listen = "127.0.0.1:0".parse().unwrap();
    let keys = regent_control_plane::keyring::KeyRing::new(
        regent_bundle::SigningKey::generate("cli-key", regent_bundle::KeyAlgorithm::Es256).unwrap(),
        Vec::new(),
    )
    .unwrap();
    keys.register(&app.state.store).await.unwrap();
    let state =
        regent_control_plane::app::AppState::new(state_config, app.state.store.clone(), keys);
    let running = regent_control_plane::server::start(state).await.unwrap();
    let server = format!("http://{}", running.addr);
    let admin = app.admin.clone();
    let publisher = app.publisher.clone();
    let tiny = tiny_dir();
    let broken = tiny_copy();
    std::fs::write(
        broken.path().join("bad_test.rego"),
        "package regent.persona_test\n\ntest_nope if {\n  false\n}\n",
    )
    .unwrap();
    let broken_path = broken.path().to_path_buf();
    let outputs = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| regent(args);
        vec![
            run(&["push", s(&tiny), "--server", &server, "--token", &publisher]),
            run(&[
                "personas", "create", "tiny-bot", "--server", &server, "--token", &admin,
            ]),
            run(&[
                "push",
                s(&tiny),
                "--server",
                &server,
                "--token",
                &publisher,
                "--commit",
                "abc123",
            ]),
            run(&["push", s(&tiny), "--server", &server, "--token", &publisher]),
            run(&[
                "push",
                s(&broken_path),
                "--server",
                &server,
                "--token",
                &publisher,
            ]),
            run(&[
                "push",
                s(&tiny),
                "--server",
                &server,
                "--token",
                "rgt_wrong",
            ]),
        ]
    })
    .await
    .unwrap();
    // Unknown persona: refused with the server's message.
    assert_eq!(outputs[0].status.code(), Some(1), "{}", text(&outputs[0]));
    assert!(
        text(&outputs[0]).contains("persona `tiny-bot` not found"),
        "{}",
        text(&outputs[0])
    );
    assert!(outputs[1].status.success(), "{}", text(&outputs[1]));
    assert!(outputs[2].status.success(), "{}", text(&outputs[2]));
    assert!(
        text(&outputs[2]).contains("created revision tiny-bot-1 (sequence 1), 2 tests passed"),
        "{}",
        text(&outputs[2])
    );
    assert!(
        text(&outputs[3]).contains("unchanged"),
        "{}",
        text(&outputs[3])
    );
    assert_eq!(outputs[4].status.code(), Some(1), "{}", text(&outputs[4]));
    assert!(
        text(&outputs[4]).contains("test_nope"),
        "{}",
        text(&outputs[4])
    );
    assert_eq!(outputs[5].status.code(), Some(2), "{}", text(&outputs[5]));
    assert!(
        text(&outputs[5]).contains("unknown or revoked token"),
        "{}",
        text(&outputs[5])
    );
    let commit: String = sqlx::query_scalar("SELECT source->>'commit' FROM revisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(commit, "abc123");
    running.handle.abort();
}
