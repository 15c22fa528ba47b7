//! Helpers for the agent's integration tests: keys, signed bundles (fixtures and the real personas), configs,
//! inputs, and a tiny scriptable HTTP server (hyper) for protocol edge cases.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fake;
pub mod proxy;

use std::path::{Path, PathBuf};

use regent_agent::config::{KeyConfig, PersonaConfig};
use regent_agent::{AgentConfig, SourceConfig};
use regent_bundle::{BuildOptions, Bundle, KeyAlgorithm, Limits, SignOptions, SigningKey};
use regent_protocol::{AgentActionV1, AgentV1, ContextV1, ToolV1, UserV1};
use serde_json::json;

pub const PERSONAS: [&str; 3] = ["hr-bot", "it-bot", "dev-bot"];

pub fn key(kid: &str) -> SigningKey {
    SigningKey::generate(kid, KeyAlgorithm::Es256).unwrap()
}

pub fn key_config(key: &SigningKey) -> KeyConfig {
    KeyConfig {
        kid: key.kid().to_owned(),
        pem: Some(key.public_key().to_pem()),
        file: None,
    }
}

/// The repository's `bundles/` folder.
pub fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles")
}

/// A persona whose decision echoes `marker` (from data) in its reason message, so a test can tell which
/// revision decided. Allows tool `echo`, denies the rest (default rule).
pub fn marker_persona(dir: &Path, persona: &str, marker: &str) {
    std::fs::write(
        dir.join("regent.yaml"),
        format!("persona: {persona}\nentrypoint: regent/persona/decision\nroots: [regent]\nmount: regent/persona\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.rego"),
        r#"package regent.persona

default decision := {"allow": false, "reasons": [{"code": "no_decision", "message": "denied"}], "obligations": []}

decision := {"allow": true, "reasons": [{"code": "marker", "message": data.regent.persona.marker}], "obligations": []} if {
	input.action.tool.name in data.regent.persona.tools
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("data.json"),
        json!({"tools": ["echo"], "marker": marker}).to_string(),
    )
    .unwrap();
}

/// Builds `dir`, drops `*_test.rego` (the agent never runs policy tests), stamps `sequence` and `revision`,
/// and signs for `scope` with `key` (unsigned when `key` is `None`).
pub fn build_signed(
    dir: &Path,
    sequence: Option<u64>,
    revision: &str,
    key: Option<&SigningKey>,
    scope: &str,
) -> Vec<u8> {
    let mut options = BuildOptions {
        revision: Some(revision.to_owned()),
        ..BuildOptions::default()
    };
    if let Some(sequence) = sequence {
        options
            .regent_metadata
            .insert("sequence".into(), json!(sequence));
    }
    let built = regent_bundle::build_dir(dir, &options).unwrap();
    let files = built
        .files
        .into_iter()
        .filter(|f| !f.path.ends_with("_test.rego"))
        .collect();
    let mut bundle = Bundle::from_files(files, &Limits::DEFAULT).unwrap();
    if let Some(key) = key {
        let options = SignOptions {
            scope: Some(scope.to_owned()),
            iss: Some("test".into()),
            iat: Some(1),
        };
        regent_bundle::sign_bundle(&mut bundle, key, &options).unwrap();
    }
    bundle.to_archive().unwrap()
}

/// A signed marker bundle for `persona`.
pub fn marker_bundle(persona: &str, sequence: u64, marker: &str, key: &SigningKey) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    marker_persona(dir.path(), persona, marker);
    build_signed(
        dir.path(),
        Some(sequence),
        &format!("{persona}-{sequence}"),
        Some(key),
        persona,
    )
}

/// A signed bundle of a real persona (`bundles/<persona>`), test modules left out.
pub fn persona_bundle(persona: &str, sequence: u64, key: &SigningKey) -> Vec<u8> {
    build_signed(
        &bundles_dir().join(persona),
        Some(sequence),
        &format!("{persona}-{sequence}"),
        Some(key),
        persona,
    )
}

pub fn persona(name: &str, source: SourceConfig) -> PersonaConfig {
    PersonaConfig {
        name: name.to_owned(),
        agent_id: None,
        token: None,
        token_file: None,
        source: Some(source),
        entrypoint: None,
        warm_input: None,
    }
}

/// A config for `personas` (no source), trusting `keys`, keeping state in `state_dir`.
pub fn config(state_dir: &Path, keys: &[&SigningKey], personas: &[&str]) -> AgentConfig {
    AgentConfig {
        agent_id: "test-agent".into(),
        state_dir: state_dir.to_path_buf(),
        keys: keys.iter().map(|k| key_config(k)).collect(),
        personas: personas
            .iter()
            .map(|p| persona(p, SourceConfig::None))
            .collect(),
        ..AgentConfig::default()
    }
}

/// A tool call by `user` for `persona`.
pub fn action(persona: &str, tool: &str) -> AgentActionV1 {
    AgentActionV1::tool_call(
        AgentV1::new("agent-7", persona),
        UserV1::new("u-1").with_roles(["employee"]),
        ToolV1::new(tool),
        ContextV1::new(chrono::Utc::now()),
    )
}

/// Fast polling and flushing for tests.
pub fn fast(config: &mut AgentConfig) {
    config.polling.min_delay_seconds = 0.05;
    config.polling.max_delay_seconds = 0.2;
    config.polling.long_polling_timeout_seconds = 2;
    config.polling.file_interval_seconds = 0.02;
    config.decision_logs.flush_interval_seconds = 0.05;
    config.decision_logs.max_delay_seconds = 0.3;
    config.decision_logs.shutdown_flush_seconds = 3.0;
    config.status.debounce_seconds = 0.02;
}

/// Polls `check` every 10 ms until it holds, failing after `secs`.
pub async fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
