//! Scenario 3: tampering in the registry. A sidecar following the registry tag meets a manifest
//! rewritten to point at a modified layer (unsigned, then cosign-signed with the real key), a
//! layer blob swapped on the registry's disk under a validly signed manifest, a stripped cosign
//! signature, and a signature by a foreign key. It activates none of them, keeps deciding with
//! its last good revision (also across a restart), and the control plane's `agents` row shows
//! each error; the next genuine revision goes through and clears it.

use std::collections::BTreeMap;

use regent_bundle::{KeyAlgorithm, Limits, SigningKey, read_bundle, write_archive};
use regent_control_plane::config::{RegistryAuth, RegistryConfig};
use regent_control_plane::publish::cosign::{CosignSigner, sign_manifest};
use regent_control_plane::publish::oci::{Artifact, RegistryClient};
use regent_e2e::registry::{sha256_digest, sig_tag};
use regent_e2e::{Sidecar, SidecarSource, eventually, fleet};

use crate::common::{World, echo, marker, marker_persona};

const PERSONA: &str = "tamper-bot";
const REPO: &str = "regent/tamper-bot";

/// The refusal shows in the control plane's fleet data and the sidecar still decides with
/// `revision` (marker `m`).
async fn refused(w: &World, sidecar: &Sidecar, what: &str, error: &str, revision: &str, m: &str) {
    eventually(
        30.0,
        &format!("{what}: `{error}` in the agents row"),
        async || {
            fleet::agent(w.db.pool(), &sidecar.id)
                .await
                .is_some_and(|a| {
                    a.active_revision.as_deref() == Some(revision)
                        && a.last_error.as_deref().is_some_and(|e| e.contains(error))
                })
        },
    )
    .await;
    let d = sidecar.decide(&echo(PERSONA)).await;
    assert_eq!(
        (marker(&d).as_str(), d["revision"].as_str()),
        (m, Some(revision)),
        "{what}: the last good revision keeps deciding"
    );
    println!("{what}: refused ({error})");
}

fn registry_client(w: &World) -> RegistryClient {
    RegistryClient::new(&RegistryConfig {
        name: "attacker".into(),
        host: w.registry.host(),
        repository_prefix: "regent".into(),
        insecure: true,
        auth: RegistryAuth::Anonymous,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_tampering_is_refused_and_visible() {
    let w = World::start("registry_tampering").await;
    let pool = w.db.pool();
    w.cp.create_persona(PERSONA).await;
    let v1 =
        w.cp.push(
            &marker_persona(&w.stack.dir("src/v1"), PERSONA, "m-1"),
            None,
        )
        .await;
    crate::publish::assert_published(&w, PERSONA, &v1.revision, &["staging", "prod"]).await;
    let source = SidecarSource::Oci {
        reference: w.oci_reference(PERSONA, "staging"),
    };
    let mut sidecar = w.sidecar("tamper-oci", PERSONA, source).await;
    sidecar.wait_healthy(30.0).await;
    assert_eq!(marker(&sidecar.decide(&echo(PERSONA)).await), "m-1");

    // 1. The tag rewritten to a manifest whose layer is a modified bundle (higher sequence,
    //    the policy's data changed after signing), with no cosign signature.
    let client = registry_client(&w);
    let genuine = w
        .registry
        .blob(REPO, &fleet::bundle_digest(pool, &v1.revision).await)
        .await;
    let mut files = read_bundle(&genuine, &Limits::DEFAULT).unwrap().files;
    let data = files
        .iter_mut()
        .find(|f| f.path.ends_with("data.json"))
        .unwrap();
    data.bytes = String::from_utf8(data.bytes.clone())
        .unwrap()
        .replace("m-1", "evil")
        .into_bytes();
    let modified = write_archive(&files).unwrap();
    let forged = Artifact {
        persona: PERSONA,
        revision: "tamper-bot-9",
        sequence: 9,
        created_at: chrono::Utc::now(),
        source_url: None,
        bundle: &modified,
    };
    let forged_manifest = client
        .push_artifact(REPO, "staging", &forged)
        .await
        .unwrap();
    refused(
        &w,
        &sidecar,
        "unsigned forged manifest",
        "no cosign signature found",
        "tamper-bot-1",
        "m-1",
    )
    .await;

    // 2. The same forgery cosign-signed with the control plane's real key: the OPA signature
    //    inside the bundle still catches the modified file.
    let real_key = SigningKey::from_pem(
        regent_e2e::control_plane::KID,
        &std::fs::read_to_string(&w.cp.private_key_path).unwrap(),
    )
    .unwrap();
    sign_manifest(
        &client,
        REPO,
        &forged_manifest.digest,
        &CosignSigner::new(&real_key).unwrap(),
        BTreeMap::new(),
    )
    .await
    .unwrap();
    refused(
        &w,
        &sidecar,
        "modified layer, valid cosign",
        "`data.json`: digest mismatch",
        "tamper-bot-1",
        "m-1",
    )
    .await;

    // 3. A genuine v2, published and signed by the control plane, whose layer blob is swapped
    //    on the registry's disk before the sidecar (stopped meanwhile: a refused digest is not
    //    fetched again by a running agent) fetches it.
    sidecar.terminate().await;
    let v2 =
        w.cp.push(
            &marker_persona(&w.stack.dir("src/v2"), PERSONA, "m-2"),
            None,
        )
        .await;
    crate::publish::assert_published(&w, PERSONA, &v2.revision, &["staging"]).await;
    let layer = fleet::bundle_digest(pool, &v2.revision).await;
    let blob = w.registry.blob_path(&layer);
    let original = std::fs::read(&blob).unwrap();
    let mut swapped = original.clone();
    let at = swapped.len() - 12;
    swapped[at] ^= 0xff;
    std::fs::write(&blob, &swapped).unwrap();
    sidecar.start_again();
    sidecar.wait_healthy(10.0).await; // at once, from its disk copy of v1
    // oci-client's digest check or the agent's own names the layer (`Invalid digest` /
    // `layer digest mismatch`).
    refused(
        &w,
        &sidecar,
        "swapped layer blob",
        &layer,
        "tamper-bot-1",
        "m-1",
    )
    .await;
    sidecar.terminate().await;
    std::fs::write(&blob, &original).unwrap();

    // 4. v2's cosign signature stripped (its `.sig` manifest deleted).
    let raw = w
        .registry
        .skopeo_raw(&format!("{REPO}:staging"))
        .await
        .unwrap();
    let v2_digest = sha256_digest(&raw);
    let sig = sig_tag(&v2_digest);
    let sig_raw = w
        .registry
        .skopeo_raw(&format!("{REPO}:{sig}"))
        .await
        .unwrap();
    w.registry
        .delete_manifest(REPO, &sha256_digest(&sig_raw))
        .await;
    assert!(!w.registry.tags(REPO).await.contains(&sig));
    sidecar.start_again();
    refused(
        &w,
        &sidecar,
        "stripped signature",
        "no cosign signature found",
        "tamper-bot-1",
        "m-1",
    )
    .await;
    sidecar.terminate().await;

    // 5. v2 signed by a foreign key instead.
    let foreign = SigningKey::generate("foreign", KeyAlgorithm::Es256).unwrap();
    sign_manifest(
        &client,
        REPO,
        &v2_digest,
        &CosignSigner::new(&foreign).unwrap(),
        BTreeMap::new(),
    )
    .await
    .unwrap();
    sidecar.start_again();
    refused(
        &w,
        &sidecar,
        "foreign cosign key",
        "verifies with a trusted key",
        "tamper-bot-1",
        "m-1",
    )
    .await;

    // The next genuine revision goes through and clears the error.
    let v3 =
        w.cp.push(
            &marker_persona(&w.stack.dir("src/v3"), PERSONA, "m-3"),
            None,
        )
        .await;
    eventually(30.0, "the genuine v3 is activated", async || {
        marker(&sidecar.decide(&echo(PERSONA)).await) == "m-3"
    })
    .await;
    eventually(20.0, "the error clears in the agents row", async || {
        fleet::agent(pool, &sidecar.id).await.is_some_and(|a| {
            a.active_revision.as_deref() == Some(v3.revision.as_str()) && a.last_error.is_none()
        })
    })
    .await;

    // Nothing tampered ever decided: the audit log holds only revisions the control plane made.
    let ids = vec![
        sidecar.decide(&echo(PERSONA)).await["decision_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    eventually(20.0, "the last decision is stored", async || {
        fleet::stored(pool, &ids).await == Some((1, 1))
    })
    .await;
    let revisions: Vec<Option<String>> =
        sqlx::query_scalar("SELECT DISTINCT revision FROM decision_logs ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        revisions,
        [Some("tamper-bot-1".to_owned()), Some(v3.revision.clone())]
    );
}
