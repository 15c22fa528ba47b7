//! The last-known-good copy: persisted atomically after activation, re-verified at start, served before any
//! network access; a tampered copy is refused and the agent denies until a good bundle arrives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::{action, config, key, marker_bundle};
use regent_agent::Agent;
use regent_protocol::reason_code;

#[test]
fn a_restart_serves_the_disk_copy_at_once() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    {
        let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
        agent
            .activate("swap-bot", &marker_bundle("swap-bot", 7, "m-7", &key))
            .unwrap();
    }
    let dir = state.path().join("swap-bot");
    assert!(dir.join("bundle.tar.gz").exists());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(meta["sequence"], 7);

    // Cold start: no source configured, no network; the first decision uses the disk copy.
    let started = Instant::now();
    let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
    let decision = agent.decide(&action("swap-bot", "echo"));
    let cold = started.elapsed();
    assert!(decision.allow);
    assert_eq!(decision.revision.as_deref(), Some("swap-bot-7"));
    println!("cold start to first decision (tiny persona, debug build): {cold:?}");
    // The sequence survives the restart: a replay of an older revision is still refused.
    assert!(
        agent
            .activate("swap-bot", &marker_bundle("swap-bot", 6, "m-6", &key))
            .is_err()
    );
}

#[test]
fn a_tampered_disk_copy_is_refused_and_the_agent_denies() {
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    {
        let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
        agent
            .activate("swap-bot", &marker_bundle("swap-bot", 3, "m-3", &key))
            .unwrap();
    }
    // Replace the copy with a bundle signed by an attacker's key (same kid), metadata left as it was.
    let attacker = common::key("k1");
    let path = state.path().join("swap-bot/bundle.tar.gz");
    std::fs::write(&path, marker_bundle("swap-bot", 9, "evil", &attacker)).unwrap();
    let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
    let decision = agent.decide(&action("swap-bot", "echo"));
    assert!(!decision.allow);
    assert_eq!(decision.reasons[0].code, reason_code::NO_POLICY);
    assert!(
        decision.reasons[0].message.contains("last-known-good copy"),
        "{}",
        decision.reasons[0].message
    );
    let report = agent.status_report("swap-bot").unwrap();
    assert!(
        report
            .regent
            .unwrap()
            .last_error
            .unwrap()
            .contains("does not verify")
    );
    assert_eq!(agent.not_ready().len(), 1);

    // Truncated garbage is refused the same way.
    std::fs::write(&path, b"\x1f\x8b garbage").unwrap();
    let agent = Agent::new(config(state.path(), &[&key], &["swap-bot"])).unwrap();
    assert!(!agent.decide(&action("swap-bot", "echo")).allow);

    // A good bundle replaces it and is served.
    agent
        .activate("swap-bot", &marker_bundle("swap-bot", 4, "m-4", &key))
        .unwrap();
    assert!(agent.decide(&action("swap-bot", "echo")).allow);
    assert!(agent.not_ready().is_empty());
}

#[test]
fn several_personas_restart_from_their_disk_copies_together() {
    // Agent::new loads the copies on several threads (one per core); each persona must end up with its own
    // bundle, and a refused copy must not affect the others.
    let key = key("k1");
    let state = tempfile::tempdir().unwrap();
    let names = ["a-bot", "b-bot", "c-bot", "d-bot", "e-bot"];
    {
        let agent = Agent::new(config(state.path(), &[&key], &names)).unwrap();
        for (i, name) in names.iter().enumerate() {
            let sequence = 10 + i as u64;
            agent
                .activate(
                    name,
                    &marker_bundle(name, sequence, &format!("m-{i}"), &key),
                )
                .unwrap();
        }
    }
    let attacker = common::key("k1");
    std::fs::write(
        state.path().join("c-bot/bundle.tar.gz"),
        marker_bundle("c-bot", 99, "evil", &attacker),
    )
    .unwrap();

    let agent = Agent::new(config(state.path(), &[&key], &names)).unwrap();
    for (i, name) in names.iter().enumerate() {
        let decision = agent.decide(&action(name, "echo"));
        if *name == "c-bot" {
            assert!(!decision.allow, "{name}");
            assert_eq!(decision.reasons[0].code, reason_code::NO_POLICY);
        } else {
            assert!(decision.allow, "{name}: {:?}", decision.reasons);
            let expected = format!("{name}-{}", 10 + i);
            assert_eq!(decision.revision.as_deref(), Some(expected.as_str()));
        }
    }
    let not_ready: Vec<String> = agent
        .not_ready()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(not_ready, ["c-bot"]);
}
