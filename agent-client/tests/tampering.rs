//! The tampering catalogue at the agent: modified files, corrupted bytes, a stripped signature, a wrong or
//! unknown key, a foreign persona's bundle, a replayed older revision, a reused sequence, an unstamped bundle,
//! a digest that does not match what the source announced. None is activated; the last good policy keeps
//! deciding; the error is in the status report and the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{action, build_signed, config, key, marker_bundle, marker_persona};
use regent_agent::{ActivationError, Agent, AgentError};
use regent_bundle::{Limits, RawFile, VerifyError, read_bundle, write_archive};

fn refused(agent: &Agent, archive: &[u8]) -> ActivationError {
    match agent.activate("swap-bot", archive) {
        Err(AgentError::Activation(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn assert_last_good_kept(agent: &Agent, expect_in_status: &str) {
    let d = agent.decide(&action("swap-bot", "echo"));
    assert!(d.allow, "{d:?}");
    assert_eq!(d.reasons[0].message, "m-2");
    assert_eq!(d.revision.as_deref(), Some("swap-bot-2"));
    let report = agent.status_report("swap-bot").unwrap();
    let bundle = &report.bundles["swap-bot"];
    assert_eq!(bundle.active_revision.as_deref(), Some("swap-bot-2"));
    assert_eq!(bundle.code.as_deref(), Some("bundle_error"));
    let message = bundle.message.clone().unwrap();
    assert!(
        message.contains(expect_in_status),
        "status message `{message}` lacks `{expect_in_status}`"
    );
    let regent = report.regent.unwrap();
    assert_eq!(regent.active_revision_sequence, Some(2));
    assert_eq!(regent.last_error.as_deref(), Some(message.as_str()));
}

fn with_files(archive: &[u8], edit: impl FnOnce(&mut Vec<RawFile>)) -> Vec<u8> {
    let mut files = read_bundle(archive, &Limits::DEFAULT).unwrap().files;
    edit(&mut files);
    write_archive(&files).unwrap()
}

#[test]
fn tampered_bundles_are_never_activated() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
    let v1 = marker_bundle("swap-bot", 1, "m-1", &key);
    let v2 = marker_bundle("swap-bot", 2, "m-2", &key);
    let v3 = marker_bundle("swap-bot", 3, "m-3", &key);
    agent.activate("swap-bot", &v1).unwrap();
    agent.activate("swap-bot", &v2).unwrap();

    // A policy file changed after signing.
    let modified = with_files(&v3, |files| {
        let policy = files
            .iter_mut()
            .find(|f| f.path.ends_with("policy.rego"))
            .unwrap();
        policy.bytes = String::from_utf8(policy.bytes.clone())
            .unwrap()
            .replace("\"marker\"", "\"evil\"")
            .into_bytes();
    });
    assert!(matches!(
        refused(&agent, &modified),
        ActivationError::Verify(VerifyError::DigestMismatch { .. })
    ));
    assert_last_good_kept(&agent, "digest mismatch");

    // An extra file slipped in.
    let extra = with_files(&v3, |files| {
        files.push(RawFile {
            path: "regent/persona/evil.rego".into(),
            bytes: b"package regent.persona\nx := 1\n".to_vec(),
        })
    });
    assert!(matches!(
        refused(&agent, &extra),
        ActivationError::Verify(VerifyError::FileNotSigned { .. })
    ));

    // Bytes corrupted in transit.
    // (A flip that changes no file — tar padding, unchecked header bytes — verifies fine and is harmless; pick
    // the first flip that does change what the reader sees.)
    let original = read_bundle(&v3, &Limits::DEFAULT).unwrap().files;
    let corrupted = (10..v3.len())
        .map(|i| {
            let mut c = v3.clone();
            c[i] ^= 0x55;
            c
        })
        .find(|c| read_bundle(c, &Limits::DEFAULT).map_or(true, |b| b.files != original))
        .unwrap();
    assert!(matches!(
        refused(&agent, &corrupted),
        ActivationError::Read(_) | ActivationError::Verify(_)
    ));
    let truncated = &v3[..v3.len() / 2];
    assert!(matches!(
        refused(&agent, truncated),
        ActivationError::Read(_)
    ));
    assert_last_good_kept(&agent, "refused");

    // Signature stripped.
    let stripped = with_files(&v3, |files| files.retain(|f| f.path != ".signatures.json"));
    assert!(matches!(
        refused(&agent, &stripped),
        ActivationError::Verify(VerifyError::MissingSignatures)
    ));
    assert_last_good_kept(&agent, "missing .signatures.json");

    // Signed by another key under the trusted kid, and by an unknown kid.
    let impostor = common::key("k1");
    assert!(matches!(
        refused(&agent, &marker_bundle("swap-bot", 3, "m-3", &impostor)),
        ActivationError::Verify(VerifyError::BadSignature { .. })
    ));
    assert_last_good_kept(&agent, "does not verify");
    let stranger = common::key("k9");
    assert!(matches!(
        refused(&agent, &marker_bundle("swap-bot", 3, "m-3", &stranger)),
        ActivationError::Verify(VerifyError::UnknownKeyId { .. })
    ));

    // Another persona's bundle, validly signed for that persona.
    let foreign = marker_bundle("hr-bot", 3, "m-3", &key);
    assert!(matches!(
        refused(&agent, &foreign),
        ActivationError::Verify(VerifyError::ScopeMismatch { .. })
    ));
    assert_last_good_kept(&agent, "scope mismatch");
    // …and one whose manifest names another persona but whose signature claims ours.
    let dir = tempfile::tempdir().unwrap();
    marker_persona(dir.path(), "hr-bot", "m-3");
    let mislabelled = build_signed(dir.path(), Some(3), "x-3", Some(&key), "swap-bot");
    assert!(matches!(
        refused(&agent, &mislabelled),
        ActivationError::WrongPersona { .. }
    ));

    // A replayed older revision, and a reused sequence with other content.
    assert!(matches!(
        refused(&agent, &v1),
        ActivationError::Replay {
            sequence: 1,
            active: 2
        }
    ));
    assert_last_good_kept(&agent, "replayed bundle refused");
    assert!(matches!(
        refused(&agent, &marker_bundle("swap-bot", 2, "m-other", &key)),
        ActivationError::SequenceConflict { sequence: 2 }
    ));

    // Not stamped by the control plane.
    let dir = tempfile::tempdir().unwrap();
    marker_persona(dir.path(), "swap-bot", "m-3");
    let unstamped = build_signed(dir.path(), None, "x", Some(&key), "swap-bot");
    assert!(matches!(
        refused(&agent, &unstamped),
        ActivationError::MissingSequence
    ));
    assert_last_good_kept(&agent, "no `metadata.regent.sequence`");

    let failures = agent.persona("swap-bot").unwrap().metrics.verify_failures();
    assert_eq!(failures, 12);
    assert!(agent.render_metrics().contains(
        "regent_agent_bundle_activation_failures_total{persona=\"swap-bot\",reason=\"signature\"} 6"
    ));

    // The good next revision still goes through, and clears the error.
    agent.activate("swap-bot", &v3).unwrap();
    let report = agent.status_report("swap-bot").unwrap();
    assert_eq!(report.bundles["swap-bot"].code, None);
    assert_eq!(
        agent.decide(&action("swap-bot", "echo")).reasons[0].message,
        "m-3"
    );
    // Re-sending the active bundle is a no-op.
    assert_eq!(
        agent.activate("swap-bot", &v3).unwrap(),
        regent_agent::Activation::Unchanged
    );
}

#[test]
fn without_keys_nothing_unsigned_passes_unless_explicitly_insecure() {
    let state = tempfile::tempdir().unwrap();
    let mut cfg = config(state.path(), &[], &["swap-bot"]);
    assert!(
        Agent::new(cfg.clone()).is_err(),
        "no keys and no insecure flag is a config error"
    );
    cfg.insecure_skip_verify = true;
    let agent = Agent::new(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    marker_persona(dir.path(), "swap-bot", "m-1");
    let unsigned = build_signed(dir.path(), Some(1), "u-1", None, "swap-bot");
    agent.activate("swap-bot", &unsigned).unwrap();
    assert!(agent.decide(&action("swap-bot", "echo")).allow);
}
