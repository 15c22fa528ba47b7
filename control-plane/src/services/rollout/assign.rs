//! Per-agent assignment: pin > active rollout (if the agent's bucket is in) > channel revision.
//! Pure functions over a [`ChannelHead`], so the bundle API and convergence agree exactly.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::store::revisions::{ChannelHead, RevisionRef};

/// The canary bucket of an agent in a rollout, `0..100`: the first 8 bytes of
/// SHA-256(`"<rollout_id>:<agent_id>"`) read as a big-endian `u64`, mod 100. The agent runs the
/// candidate iff `bucket < percentage`, so raising the percentage only ever adds agents, and a
/// new rollout (new id) draws a fresh, independent sample.
pub fn bucket(rollout_id: i64, agent_id: &str) -> u8 {
    let digest = Sha256::digest(format!("{rollout_id}:{agent_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // `% 100` keeps the value below 100, so the cast cannot truncate.
    (u64::from_be_bytes(first) % 100) as u8
}

/// Why an agent gets the revision it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssignmentSource {
    /// The channel's own revision (no rollout, agent outside the bucket, or no agent id).
    Channel {
        #[serde(skip_serializing_if = "Option::is_none")]
        rollout_id: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bucket: Option<u8>,
    },
    /// The active rollout's candidate: `bucket < percentage`.
    Rollout {
        rollout_id: i64,
        bucket: u8,
        percentage: i32,
    },
    /// The agent is pinned.
    Pin,
}

/// The revision `agent_id` (if known) should run on the channel described by `head`.
pub fn assign(head: &ChannelHead, agent_id: Option<&str>) -> (RevisionRef, AssignmentSource) {
    let Some(agent_id) = agent_id else {
        return (
            head.revision_ref(),
            AssignmentSource::Channel {
                rollout_id: None,
                bucket: None,
            },
        );
    };
    if let Some(pin) = head.pins.iter().find(|p| p.agent_id == agent_id) {
        return (pin.revision.clone(), AssignmentSource::Pin);
    }
    if let Some(rollout) = &head.rollout {
        let bucket = bucket(rollout.id, agent_id);
        if i32::from(bucket) < rollout.percentage {
            return (
                rollout.candidate.clone(),
                AssignmentSource::Rollout {
                    rollout_id: rollout.id,
                    bucket,
                    percentage: rollout.percentage,
                },
            );
        }
        return (
            head.revision_ref(),
            AssignmentSource::Channel {
                rollout_id: Some(rollout.id),
                bucket: Some(bucket),
            },
        );
    }
    (
        head.revision_ref(),
        AssignmentSource::Channel {
            rollout_id: None,
            bucket: None,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;
    use crate::store::revisions::{PinHead, RolloutHead};

    fn rev(id: i64) -> RevisionRef {
        RevisionRef {
            revision_id: id,
            revision: format!("p-{id}"),
            sequence: id,
            bundle_digest: format!("{id:064x}"),
        }
    }

    fn head(rollout: Option<(i64, i32)>, pins: Vec<PinHead>) -> ChannelHead {
        let base = rev(1);
        ChannelHead {
            revision_id: base.revision_id,
            revision: base.revision,
            sequence: base.sequence,
            bundle_digest: base.bundle_digest,
            rollout: rollout.map(|(id, percentage)| RolloutHead {
                id,
                percentage,
                candidate: rev(2),
            }),
            pins: Arc::new(pins),
        }
    }

    #[test]
    fn bucket_is_the_documented_hash() {
        // SHA-256("7:agent-1"), first 8 bytes big-endian, mod 100 — computed independently.
        let digest = Sha256::digest(b"7:agent-1");
        let n = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(u64::from(bucket(7, "agent-1")), n % 100);
        // Stable across calls and sensitive to both inputs.
        assert_eq!(bucket(7, "agent-1"), bucket(7, "agent-1"));
        let differs = (0..50).any(|i| bucket(7, &format!("a{i}")) != bucket(8, &format!("a{i}")));
        assert!(differs);
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut counts = [0u32; 10];
        for i in 0..10_000 {
            counts[usize::from(bucket(42, &format!("agent-{i}")) / 10)] += 1;
        }
        // Each decile expects 1000; allow a generous ±20 %.
        for (decile, n) in counts.iter().enumerate() {
            assert!((800..=1200).contains(n), "decile {decile}: {n}");
        }
    }

    #[test]
    fn raising_the_percentage_keeps_everyone_already_in() {
        let agents: Vec<String> = (0..500).map(|i| format!("agent-{i}")).collect();
        let inside = |pct: i32| -> Vec<&String> {
            agents
                .iter()
                .filter(|a| {
                    matches!(
                        assign(&head(Some((9, pct)), vec![]), Some(a)).1,
                        AssignmentSource::Rollout { .. }
                    )
                })
                .collect()
        };
        let mut previous = Vec::new();
        for pct in [1, 5, 30, 60, 99, 100] {
            let now = inside(pct);
            assert!(previous.iter().all(|a| now.contains(a)), "{pct}%");
            previous = now;
        }
        assert_eq!(previous.len(), agents.len());
    }

    #[test]
    fn pin_beats_rollout_beats_channel() {
        let pins = vec![PinHead {
            agent_id: "pinned".into(),
            revision: rev(5),
        }];
        let h = head(Some((3, 100)), pins);
        assert_eq!(assign(&h, Some("pinned")), (rev(5), AssignmentSource::Pin));
        assert_eq!(assign(&h, Some("other")).0, rev(2));
        // No agent id (stock OPA): always the channel revision.
        assert_eq!(assign(&h, None).0, rev(1));
        assert_eq!(assign(&head(None, vec![]), Some("x")).0, rev(1));
    }
}
