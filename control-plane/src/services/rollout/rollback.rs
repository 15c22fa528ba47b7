//! Rollback (DESIGN decision 4): the chosen older revision's content is re-issued as a NEW,
//! higher revision — new sequence stamped into the manifest, signed with the active key,
//! `reissue_of` = the old revision — so agents that refuse older sequences still accept it.
//! The channel moves to it and any active rollout on the channel ends, in one transaction.

use regent_bundle::{Limits, SIGNATURES, bundle::hex};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::ops::begin_with_sequence;
use super::{ChannelChange, RolloutError, RolloutResult, check_reason};
use crate::app::AppState;
use crate::auth::Principal;
use crate::services::push::stamp_and_sign;
use crate::store::Store;
use crate::store::revisions::{NewRevision, RevisionRef};
use crate::store::rollouts::RolloutEnd;

/// What a rollback created.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackOutcome {
    #[serde(flatten)]
    pub change: ChannelChange,
    /// The new revision (`<persona>-<new sequence>`).
    pub revision: String,
    pub sequence: i64,
    pub revision_id: i64,
    /// The revision whose content was re-issued.
    pub reissue_of: String,
    pub reissue_of_sequence: i64,
    /// Same as the re-issued revision's.
    pub content_digest: String,
    pub bundle_digest: String,
    pub signature_kid: String,
    /// The rollout this rollback ended, if one was active.
    pub ended_rollout: Option<i64>,
}

/// Re-issues revision `to` of `persona` as a new revision and moves `channel` to it.
pub async fn rollback(
    state: &AppState,
    actor: &Principal,
    persona: &str,
    channel: &str,
    to: &str,
    reason: &str,
) -> RolloutResult<RollbackOutcome> {
    let reason = check_reason(reason)?;
    if reason.is_empty() {
        return Err(RolloutError::ReasonRequired {
            operation: "a rollback",
        });
    }
    // Same lock order as a push: the persona row (sequence) first, then the channel.
    let (mut change, sequence) = begin_with_sequence(state, actor, persona, channel).await?;
    let persona_id = change.persona.id;
    change.ensure_unfrozen()?;
    let old = Store::reissue_source(&mut change.tx, persona_id, to.trim())
        .await?
        .ok_or_else(|| RolloutError::UnknownRevision {
            persona: change.persona.name.clone(),
            reference: to.to_owned(),
        })?;
    if change
        .channel
        .revision
        .as_ref()
        .is_some_and(|r| r.revision_id == old.id)
    {
        return Err(RolloutError::AlreadyOnRevision {
            persona: change.persona.name.clone(),
            channel: change.channel.name.clone(),
            revision: old.revision,
        });
    }

    let revision = format!("{}-{sequence}", change.persona.name);
    let mut bundle = regent_bundle::read_bundle(&old.bundle, &Limits::DEFAULT).map_err(|e| {
        RolloutError::Internal(format!("stored revision {} unreadable: {e}", old.id))
    })?;
    bundle.files.retain(|f| f.path != SIGNATURES);
    let mut manifest = bundle.manifest.clone();
    manifest.set_regent_field("reissue_of", Value::String(old.revision.clone()));
    let bundle = bundle
        .with_manifest(&manifest)
        .map_err(|e| RolloutError::Internal(e.to_string()))?;
    let signed = stamp_and_sign(
        state,
        bundle,
        &revision,
        sequence,
        &old.content_digest,
        &old.source,
    )
    .map_err(|e| RolloutError::Internal(e.to_string()))?;
    if signed.content_digest() != old.content_digest {
        return Err(RolloutError::Internal(format!(
            "re-issued content of `{}` hashes differently",
            old.revision
        )));
    }
    let archive = signed
        .to_archive()
        .map_err(|e| RolloutError::Internal(e.to_string()))?;
    let bundle_digest = hex(&Sha256::digest(&archive));
    let manifest_json = serde_json::to_value(&signed.manifest)
        .map_err(|e| RolloutError::Internal(e.to_string()))?;
    let kid = state.keys.signing().kid().to_owned();
    let id = Store::insert_revision(
        &mut change.tx,
        &NewRevision {
            persona_id,
            sequence,
            revision: &revision,
            content_digest: &old.content_digest,
            bundle_digest: &bundle_digest,
            bundle: &archive,
            manifest: &manifest_json,
            signature_kid: Some(&kid),
            test_report: &old.test_report,
            source: &old.source,
            reissue_of: Some(old.id),
            created_by: &change.actor,
        },
    )
    .await?;
    // Revision tag before the channel tag, as in a push.
    Store::enqueue_publications(
        &mut change.tx,
        id,
        &change.persona.name,
        &revision,
        &state.config.registries,
    )
    .await?;
    let new_ref = RevisionRef {
        revision_id: id,
        revision: revision.clone(),
        sequence,
        bundle_digest: bundle_digest.clone(),
    };
    let from = change.channel.revision.as_ref().map(|r| r.revision.clone());
    change.move_to(state, &new_ref).await?;
    let ended = change.active_rollout().await?;
    if let Some(rollout) = &ended {
        Store::end_rollout(
            &mut change.tx,
            rollout.id,
            RolloutEnd::RolledBack,
            &change.actor,
        )
        .await?;
    }
    let ended_rollout = ended.as_ref().map(|r| r.id);
    let details = json!({
        "reissue_of": old.revision,
        "reissue_of_sequence": old.sequence,
        "sequence": sequence,
        "content_digest": old.content_digest,
        "ended_rollout": ended_rollout,
    });
    let committed = change
        .commit(
            "rollback",
            from.as_deref(),
            Some(&revision),
            Some(100),
            None,
            reason,
            details,
        )
        .await?;
    Ok(RollbackOutcome {
        change: committed,
        revision,
        sequence,
        revision_id: id,
        reissue_of: old.revision,
        reissue_of_sequence: old.sequence,
        content_digest: old.content_digest,
        bundle_digest,
        signature_kid: kid,
        ended_rollout,
    })
}
