//! Bundle assignments and digests.

use regent_protocol::{AssignmentError, BundleAssignmentV1, Sha256Digest};
use serde_json::json;

const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn assignment() -> BundleAssignmentV1 {
    BundleAssignmentV1 {
        persona: "hr-bot".into(),
        channel: "stable".into(),
        revision: "hr-bot-42".into(),
        sequence: 42,
        digest: HEX.parse().unwrap(),
        download_url: "https://regent.example/bundles/hr-bot".into(),
        oci_reference: Some(format!("registry.example/regent/hr-bot@sha256:{HEX}")),
    }
}

#[test]
fn round_trips() {
    let assignment = assignment();
    let json = serde_json::to_value(&assignment).unwrap();
    assert_eq!(json["digest"], HEX);
    assert_eq!(json["sequence"], 42);
    assert_eq!(
        serde_json::from_value::<BundleAssignmentV1>(json).unwrap(),
        assignment
    );

    let mut without_oci = assignment;
    without_oci.oci_reference = None;
    let json = serde_json::to_value(&without_oci).unwrap();
    assert!(json.get("oci_reference").is_none());
    assert_eq!(
        serde_json::from_value::<BundleAssignmentV1>(json).unwrap(),
        without_oci
    );
}

#[test]
fn digests_are_64_lower_case_hex() {
    let digest: Sha256Digest = HEX.parse().unwrap();
    assert_eq!(digest.to_oci(), format!("sha256:{HEX}"));
    assert_eq!(
        Sha256Digest::from_bytes([0xab; 32]).as_hex(),
        "ab".repeat(32)
    );
    for bad in [
        HEX.to_uppercase(),
        format!("sha256:{HEX}"),
        HEX[..63].to_owned(),
        format!("{HEX}0"),
        "g".repeat(64),
    ] {
        assert_eq!(
            bad.parse::<Sha256Digest>(),
            Err(AssignmentError::Digest(bad.clone()))
        );
        let mut json = serde_json::to_value(assignment()).unwrap();
        json["digest"] = json!(bad);
        assert!(
            serde_json::from_value::<BundleAssignmentV1>(json).is_err(),
            "{bad}"
        );
    }
}
