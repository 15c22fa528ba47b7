//! Shared set-ups of the scenarios.

use std::path::{Path, PathBuf};

use regent_e2e::control_plane::{KID, Options};
use regent_e2e::sidecar::SidecarSpec;
use regent_e2e::{ControlPlane, Database, Registry, Sidecar, SidecarSource, Stack};
use serde_json::{Value, json};

/// A control plane publishing to a registry, over a fresh database.
pub struct World {
    pub cp: ControlPlane,
    pub registry: Registry,
    pub db: Database,
    pub stack: Stack,
}

impl World {
    pub async fn start(name: &str) -> World {
        let stack = Stack::new(name);
        let db = Database::create(&stack).await;
        let registry = Registry::start(&stack).await;
        let cp = ControlPlane::start(
            &stack,
            &db.url,
            Options {
                registry: Some(registry.host()),
            },
        )
        .await;
        World {
            cp,
            registry,
            db,
            stack,
        }
    }

    /// A sidecar for `persona` following the control plane (`channel`) or the registry tag.
    pub async fn sidecar(&self, id: &str, persona: &str, source: SidecarSource) -> Sidecar {
        let token = self.cp.token(id, "agent", Some(persona)).await;
        Sidecar::start(
            &self.stack,
            &SidecarSpec {
                id,
                persona,
                server: &self.cp.url(),
                token: &token,
                kid: KID,
                public_key_pem: &self.cp.public_key_pem,
                source,
            },
        )
    }

    /// `host:port/regent/<persona>:<tag>`.
    pub fn oci_reference(&self, persona: &str, tag: &str) -> String {
        format!("{}/regent/{persona}:{tag}", self.registry.host())
    }
}

/// A small persona whose decision names `marker` in its reason (so a test sees which revision
/// decided): allows tool `echo`, denies anything else.
pub fn marker_persona(dir: &Path, persona: &str, marker: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("regent.yaml"),
        format!(
            "persona: {persona}\nentrypoint: regent/persona/decision\nroots: [regent]\nmount: regent/persona\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("policy.rego"),
        r#"package regent.persona

default decision := {"allow": false, "reasons": [{"code": "not_echo", "message": "denied"}], "obligations": []}

decision := {"allow": true, "reasons": [{"code": "marker", "message": data.regent.persona.marker}], "obligations": []} if {
	input.action.tool.name == "echo"
}

test_echo_allowed if decision.allow with input as {"action": {"tool": {"name": "echo"}}}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("data.json"),
        json!({ "marker": marker }).to_string(),
    )
    .unwrap();
    dir.to_path_buf()
}

/// A tool call of `echo` for `persona` (what marker personas allow).
pub fn echo(persona: &str) -> Value {
    json!({
        "agent": {"id": "e2e", "persona": persona},
        "user": {"id": "u-1", "roles": ["employee"]},
        "action": {"kind": "tool_call", "tool": {"name": "echo", "args": {}}},
        "context": {"time": "2026-11-24T10:15:00Z"}
    })
}

/// The marker of a decision (`""` when denied).
pub fn marker(decision: &Value) -> String {
    decision["reasons"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
