//! Scenario 2: canary to a subset of the fleet, promote, roll back, over the rollout HTTP API.
//! Six sidecars follow `prod` on the control plane's bundle API (each gets what its
//! assignment says: the canary bucket decides), one follows the registry's `prod` tag. After
//! each step every agent converges (its decisions and the channel's convergence figures say
//! so), and the event log tells the story in order with the actor and the reasons.

use regent_e2e::{Sidecar, SidecarSource, eventually, eventually_some, fleet};
use serde_json::{Value, json};

use crate::common::{World, echo, marker, marker_persona};

const PERSONA: &str = "roll-bot";
const FLEET: usize = 6;

/// The revision the control plane assigns to `agent` on prod.
async fn assignment(w: &World, agent: &str) -> String {
    let a =
        w.cp.get(&format!(
            "/api/v1/personas/{PERSONA}/assignments/{agent}?channel=prod"
        ))
        .await;
    a["revision"].as_str().unwrap().to_owned()
}

/// Waits until every sidecar decides with the revision it is assigned, and the channel's
/// convergence figures count every control-plane agent on target.
async fn converged(w: &World, fleet: &[Sidecar], oci: &Sidecar, oci_revision: &str) {
    for sidecar in fleet {
        let want = assignment(w, &sidecar.id).await;
        eventually(30.0, &format!("{} runs {want}", sidecar.id), async || {
            sidecar.decide(&echo(PERSONA)).await["revision"] == want.as_str()
        })
        .await;
        eventually(
            20.0,
            &format!("{} reports {want}", sidecar.id),
            async || {
                fleet::agent(w.db.pool(), &sidecar.id)
                    .await
                    .is_some_and(|a| a.active_revision.as_deref() == Some(want.as_str()))
            },
        )
        .await;
    }
    eventually(
        30.0,
        &format!("registry agent runs {oci_revision}"),
        async || oci.decide(&echo(PERSONA)).await["revision"] == oci_revision,
    )
    .await;
    let status = eventually_some(20.0, "prod's convergence counts every agent", async || {
        let ch =
            w.cp.get(&format!("/api/v1/personas/{PERSONA}/channels/prod"))
                .await;
        let agents = &ch["agents"];
        (agents["on_target"] == agents["total"] && agents["total"].as_u64() >= Some(FLEET as u64))
            .then_some(ch)
    })
    .await;
    println!("prod: {}", status["agents"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_promote_rollback_and_the_event_log() {
    let w = World::start("rollout").await;
    w.cp.create_persona(PERSONA).await;
    let v1 =
        w.cp.push(
            &marker_persona(&w.stack.dir("src/v1"), PERSONA, "m-1"),
            None,
        )
        .await;
    crate::publish::assert_published(&w, PERSONA, &v1.revision, &["staging", "prod"]).await;
    let mut fleet = Vec::new();
    for i in 0..FLEET {
        let source = SidecarSource::ControlPlane {
            channel: Some("prod".into()),
        };
        fleet.push(w.sidecar(&format!("roll-{i}"), PERSONA, source).await);
    }
    let oci_source = SidecarSource::Oci {
        reference: w.oci_reference(PERSONA, "prod"),
    };
    let oci = w.sidecar("roll-oci", PERSONA, oci_source).await;
    converged(&w, &fleet, &oci, &v1.revision).await;

    // v2 reaches staging only.
    let v2 =
        w.cp.push(
            &marker_persona(&w.stack.dir("src/v2"), PERSONA, "m-2"),
            None,
        )
        .await;
    crate::publish::assert_published(&w, PERSONA, &v2.revision, &["staging"]).await;

    // Canary: part of prod's fleet gets v2. The bucket is a hash of (rollout, agent): raise the
    // percentage until the split is a proper subset.
    let base = format!("/api/v1/personas/{PERSONA}/channels/prod");
    let (status, started) =
        w.cp.post(
            &format!("{base}/rollout"),
            &json!({"revision": v2.revision, "percentage": 30, "reason": "canary m-2"}),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {started}");
    let mut percentage = 30;
    let canary = loop {
        let mut on_v2 = Vec::new();
        for s in &fleet {
            if assignment(&w, &s.id).await == v2.revision {
                on_v2.push(s.id.clone());
            }
        }
        if !on_v2.is_empty() && on_v2.len() < FLEET {
            break on_v2;
        }
        percentage += if on_v2.is_empty() { 20 } else { -20 };
        assert!((1..100).contains(&percentage), "no proper split: {on_v2:?}");
        let (status, body) =
            w.cp.post(
                &format!("{base}/rollout/percentage"),
                &json!({"percentage": percentage, "reason": "widen the canary"}),
            )
            .await;
        assert!((200..300).contains(&status), "{status} {body}");
    };
    println!("canary at {percentage}%: {canary:?}");
    converged(&w, &fleet, &oci, &v1.revision).await; // the prod tag does not move for a canary
    for s in &fleet {
        let d = s.decide(&echo(PERSONA)).await;
        let want = if canary.contains(&s.id) { "m-2" } else { "m-1" };
        assert_eq!(marker(&d), want, "{}", s.id);
    }

    // Promote: everyone on v2, the registry's prod tag too.
    let (status, body) =
        w.cp.post(
            &format!("{base}/rollout/promote"),
            &json!({"reason": "canary healthy"}),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    crate::publish::assert_published(&w, PERSONA, &v2.revision, &["prod"]).await;
    converged(&w, &fleet, &oci, &v2.revision).await;
    for s in &fleet {
        assert_eq!(marker(&s.decide(&echo(PERSONA)).await), "m-2");
    }

    // Roll back to v1: re-issued as a new, higher revision with v1's content.
    let (status, back) =
        w.cp.post(
            &format!("{base}/rollback"),
            &json!({"revision": v1.revision, "reason": "m-2 breaks the payroll agent"}),
        )
        .await;
    assert!((200..300).contains(&status), "{status} {back}");
    let v3 = back["revision"].as_str().unwrap().to_owned();
    assert_eq!(back["reissue_of"], v1.revision.as_str());
    assert!(back["sequence"].as_i64() > Some(v2.sequence), "{back}");
    crate::publish::assert_published(&w, PERSONA, &v3, &["prod"]).await;
    converged(&w, &fleet, &oci, &v3).await;
    for s in fleet.iter().chain([&oci]) {
        let d = s.decide(&echo(PERSONA)).await;
        assert_eq!(
            (marker(&d).as_str(), d["revision"].as_str()),
            ("m-1", Some(v3.as_str()))
        );
    }

    // The event log, oldest first, tells the story.
    let page =
        w.cp.get(&format!(
            "/api/v1/personas/{PERSONA}/rollout-events?limit=100"
        ))
        .await;
    let mut events: Vec<Value> = page["events"].as_array().unwrap().clone();
    events.reverse();
    let prod: Vec<(String, Option<String>, Option<String>)> = events
        .iter()
        .filter(|e| e["channel"] == "prod")
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["from_revision"].as_str().map(str::to_owned),
                e["to_revision"].as_str().map(str::to_owned),
            )
        })
        .collect();
    println!("prod's story: {prod:?}");
    let kinds: Vec<&str> = prod.iter().map(|(k, _, _)| k.as_str()).collect();
    let started_at = kinds.iter().position(|k| *k == "rollout_started").unwrap();
    assert_eq!(
        kinds[started_at..]
            .iter()
            .filter(|k| **k != "rollout_percentage")
            .collect::<Vec<_>>(),
        [&"rollout_started", &"rollout_promoted", &"rollback"],
        "{prod:?}"
    );
    let promoted = &prod[kinds.iter().position(|k| *k == "rollout_promoted").unwrap()];
    assert_eq!(
        (promoted.1.as_deref(), promoted.2.as_deref()),
        (Some(v1.revision.as_str()), Some(v2.revision.as_str()))
    );
    let rollback = prod.last().unwrap();
    assert_eq!(
        (rollback.1.as_deref(), rollback.2.as_deref()),
        (Some(v2.revision.as_str()), Some(v3.as_str()))
    );
    for e in events
        .iter()
        .filter(|e| e["channel"] == "prod" && e["kind"] != "channel_moved")
    {
        if e["kind"]
            .as_str()
            .is_some_and(|k| k.starts_with("rollout") || k == "rollback")
        {
            assert_eq!(e["actor"], "admin:e2e-admin", "{e}");
        }
    }
    let last = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "rollback")
        .unwrap();
    assert_eq!(last["reason"], "m-2 breaks the payroll agent");
    // The database holds the same story.
    let stored = fleet::rollout_events(w.db.pool(), PERSONA).await;
    assert_eq!(stored.len(), events.len());
}
