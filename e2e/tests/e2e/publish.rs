//! Scenario 1: `regent push` → validated, signed → published to the registry (checked with
//! skopeo: tags point at the stored bundle, cosign `.sig` present) → one sidecar per persona
//! following the control plane and one following the registry converge (their decisions and
//! the control plane's `agents` rows name the new revision) → decisions change exactly as the
//! new policy says, and every decision lands in `decision_logs` once, attributed to the
//! revision that made it.

use std::time::Instant;

use regent_e2e::fixtures::{PERSONAS, cases, copy_bundles, mismatches, reason_codes};
use regent_e2e::registry::{sha256_digest, sig_tag};
use regent_e2e::{Registry, SidecarSource, eventually, eventually_some, fleet};
use serde_json::Value;
use sqlx::PgPool;

use crate::common::World;

/// The hr-bot case this scenario flips by changing the persona's configuration.
const FLIPPED_CASE: &str = "hr-bot may not send attachments";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_publish_converge_and_decide() {
    let w = World::start("push_publish_converge").await;
    let pool = w.db.pool();
    let bundles = copy_bundles(&w.stack.dir("bundles"));

    // Push the three shipped personas with the CLI.
    let mut first = Vec::new();
    for persona in PERSONAS {
        w.cp.create_persona(persona).await;
        let pushed = w.cp.push(&bundles.join(persona), None).await;
        assert!(pushed.created);
        assert_eq!(pushed.revision, format!("{persona}-1"));
        first.push(pushed);
    }

    // Published: every job done; skopeo sees tags pointing at the stored bundle; signed.
    for pushed in &first {
        let persona = pushed.revision.trim_end_matches("-1");
        assert_published(&w, persona, &pushed.revision, &["staging", "prod"]).await;
    }

    // One sidecar per persona on the control plane's bundle API, one hr-bot on the registry.
    let mut sidecars = Vec::new();
    for persona in PERSONAS {
        let source = SidecarSource::ControlPlane {
            channel: Some("staging".into()),
        };
        sidecars.push(w.sidecar(&format!("{persona}-cp"), persona, source).await);
    }
    let oci = SidecarSource::Oci {
        reference: w.oci_reference("hr-bot", "staging"),
    };
    sidecars.push(w.sidecar("hr-bot-oci", "hr-bot", oci).await);
    for sidecar in &sidecars {
        sidecar.wait_healthy(60.0).await;
    }

    // Every case of every persona decides as its cases file says, through the real sidecar.
    let mut decided: Vec<(String, String)> = Vec::new(); // (decision_id, revision)
    for sidecar in &sidecars {
        let persona = sidecar.persona.as_str();
        let expected_revision = format!("{persona}-1");
        for case in cases(&bundles, persona) {
            let decision = sidecar.decide(&case.input).await;
            let diff = mismatches(&decision, &case);
            assert!(
                diff.is_empty(),
                "{} case `{}`: {diff:?}",
                sidecar.id,
                case.name
            );
            assert_eq!(decision["revision"], expected_revision.as_str());
            decided.push((id_of(&decision), expected_revision.clone()));
        }
        eventually(20.0, &format!("agents row of {}", sidecar.id), async || {
            fleet::agent(pool, &sidecar.id).await.is_some_and(|a| {
                a.active_revision.as_deref() == Some(expected_revision.as_str())
                    && a.last_error.is_none()
            })
        })
        .await;
    }

    // A policy change that flips one case: hr-bot may now send attachments.
    let hr = bundles.join("hr-bot");
    let case = cases(&bundles, "hr-bot")
        .into_iter()
        .find(|c| c.name == FLIPPED_CASE)
        .unwrap();
    let (hr_cp, hr_oci) = (&sidecars[0], &sidecars[3]);
    for sidecar in [hr_cp, hr_oci] {
        let before = sidecar.decide(&case.input).await;
        assert_eq!(before["allow"], false, "{before}");
        assert_eq!(reason_codes(&before), ["attachments_not_allowed"]);
        decided.push((id_of(&before), "hr-bot-1".into()));
    }
    let data_path = hr.join("data.json");
    let mut data: Value = serde_json::from_slice(&std::fs::read(&data_path).unwrap()).unwrap();
    data["tool_config"]["comms_send_message"]["allow_attachments"] = Value::Bool(true);
    std::fs::write(&data_path, serde_json::to_vec_pretty(&data).unwrap()).unwrap();
    let pushed_at = Instant::now();
    let second = w.cp.push(&hr, None).await;
    assert_eq!((second.revision.as_str(), second.sequence), ("hr-bot-2", 2));

    let input = case.input.clone();
    let cp_took = eventually_some(
        20.0,
        "the control-plane sidecar runs hr-bot-2",
        async || {
            let d = hr_cp.decide(&input).await;
            (d["revision"] == "hr-bot-2").then(|| (pushed_at.elapsed(), d))
        },
    )
    .await;
    let oci_took = eventually_some(30.0, "the registry sidecar runs hr-bot-2", async || {
        let d = hr_oci.decide(&input).await;
        (d["revision"] == "hr-bot-2").then(|| (pushed_at.elapsed(), d))
    })
    .await;
    println!(
        "push → decided by the new revision: control-plane sidecar {:?}, registry sidecar {:?}",
        cp_took.0, oci_took.0
    );
    for (_, after) in [&cp_took, &oci_took] {
        assert_eq!(after["allow"], true, "the flipped case now allows: {after}");
        assert!(!reason_codes(after).contains(&"attachments_not_allowed".to_owned()));
        decided.push((id_of(after), "hr-bot-2".into()));
    }
    assert_published(&w, "hr-bot", "hr-bot-2", &["staging"]).await;
    // prod stays on hr-bot-1 (only a rollout moves it after the first push).
    let prod = w.registry.skopeo_raw("regent/hr-bot:prod").await.unwrap();
    let prod: Value = serde_json::from_slice(&prod).unwrap();
    assert_eq!(
        prod["layers"][0]["digest"],
        fleet::bundle_digest(pool, "hr-bot-1").await.as_str()
    );
    // The other personas did not move.
    for sidecar in &sidecars[1..3] {
        let persona = &sidecar.persona;
        let d = sidecar.decide(&cases(&bundles, persona)[0].input).await;
        assert_eq!(d["revision"], format!("{persona}-1").as_str());
    }
    for id in ["hr-bot-cp", "hr-bot-oci"] {
        eventually(
            20.0,
            &format!("agents row of {id} shows hr-bot-2"),
            async || {
                fleet::agent(pool, id).await.is_some_and(|a| {
                    a.active_revision.as_deref() == Some("hr-bot-2") && a.active_sequence == Some(2)
                })
            },
        )
        .await;
    }

    // Every decision arrived exactly once, attributed to the revision that made it.
    let ids: Vec<String> = decided.iter().map(|(id, _)| id.clone()).collect();
    eventually(30.0, "every decision stored once", async || {
        fleet::stored(pool, &ids).await == Some((ids.len() as i64, ids.len() as i64))
    })
    .await;
    for (id, revision) in &decided {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT revision FROM decision_logs WHERE decision_id = $1::uuid")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(stored.as_deref(), Some(revision.as_str()), "decision {id}");
    }
    println!("{} decisions checked end to end", decided.len());
}

fn id_of(decision: &Value) -> String {
    decision["decision_id"].as_str().unwrap().to_owned()
}

/// Every publication job of `revision` is `published`; skopeo reads each tag (the revision's
/// own and `channels`) as a manifest whose sha256 is the recorded digest and whose layer is
/// the stored bundle; the cosign `.sig` tag exists.
pub async fn assert_published(w: &World, persona: &str, revision: &str, channels: &[&str]) {
    check_published(&w.registry, w.db.pool(), persona, revision, channels).await;
}

/// `assert_published` with the parts named.
pub async fn check_published(
    registry: &Registry,
    pool: &PgPool,
    persona: &str,
    revision: &str,
    channels: &[&str],
) {
    let jobs = eventually_some(30.0, &format!("{revision} published"), async || {
        let jobs = fleet::publications(pool, revision).await;
        (!jobs.is_empty() && jobs.iter().all(|j| j.state == "published")).then_some(jobs)
    })
    .await;
    let repo = format!("regent/{persona}");
    let layer = fleet::bundle_digest(pool, revision).await;
    let tags = registry.tags(&repo).await;
    let mut wanted = vec![revision];
    wanted.extend_from_slice(channels);
    for tag in wanted {
        let job = jobs
            .iter()
            .find(|j| j.tag == tag)
            .unwrap_or_else(|| panic!("no publication of {revision} as `{tag}`: {jobs:?}"));
        let raw = registry.skopeo_raw(&format!("{repo}:{tag}")).await.unwrap();
        let digest = sha256_digest(&raw);
        assert_eq!(
            Some(digest.as_str()),
            job.manifest_digest.as_deref(),
            "{repo}:{tag}"
        );
        let manifest: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            manifest["layers"][0]["digest"],
            layer.as_str(),
            "{repo}:{tag}"
        );
        assert!(
            tags.contains(&sig_tag(&digest)),
            "no cosign signature tag for {repo}:{tag} ({digest}) in {tags:?}"
        );
    }
}
