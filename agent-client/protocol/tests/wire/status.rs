//! Status reports: a stock OPA payload parses; Regent's round-trips with OPA's counter names.

use regent_protocol::{
    BundleStatusV1, BundleTypeV1, DecisionLogDeliveryV1, DropCountersV1, PluginStateV1,
    PluginStatusV1, RegentStatusV1, StatusMetricsV1, StatusReportV1,
};
use serde_json::{Map, json};

use crate::support::fixture;

fn stock() -> StatusReportV1 {
    serde_json::from_value(fixture("opa-status.json")).unwrap()
}

#[test]
fn stock_opa_status_parses() {
    let status = stock();
    assert_eq!(
        status.instance_id(),
        Some("1780d507-aea2-45cc-ae50-fa153c8e4a5a")
    );
    assert_eq!(status.labels["version"], "1.4.2");
    assert!(status.regent.is_none());

    let hr = &status.bundles["hr-bot"];
    assert_eq!(hr.active_revision.as_deref(), Some("hr-bot-42"));
    assert_eq!(hr.bundle_type, Some(BundleTypeV1::Snapshot));
    assert_eq!(hr.size, Some(18342));
    assert_eq!(
        hr.last_successful_activation.map(|t| t.to_rfc3339()),
        Some("2026-11-24T10:14:58.507611204+00:00".to_owned())
    );
    assert_eq!(
        hr.metrics
            .as_ref()
            .map(|m| m["timer_rego_module_compile_ns"].clone()),
        Some(json!(61200311))
    );

    // Go's zero time means "never".
    let libs = &status.bundles["shared-libs"];
    assert_eq!(libs.last_successful_activation, None);
    assert_eq!(libs.last_successful_download, None);
    assert!(libs.last_request.is_some());
    assert_eq!(
        (libs.code.as_deref(), libs.http_code),
        (Some("bundle_error"), Some(404))
    );

    let it = &status.bundles["it-bot"];
    assert_eq!(it.bundle_type, Some(BundleTypeV1::Delta));
    assert_eq!(it.errors[0]["location"]["row"], 12);

    assert_eq!(
        status
            .discovery
            .as_ref()
            .and_then(|d| d.active_revision.as_deref()),
        Some("disco-3")
    );
    let logs = status.decision_logs.as_ref().unwrap();
    assert_eq!(
        (logs.code.as_deref(), logs.http_code),
        (Some("decision_log_error"), Some(429))
    );

    let state = |name: &str| status.plugins[name].state.clone();
    assert_eq!(state("bundle"), Some(PluginStateV1::Ok));
    assert_eq!(state("decision_logs"), Some(PluginStateV1::Error));
    assert_eq!(state("envoy_ext_authz_grpc"), Some(PluginStateV1::NotReady));
    assert_eq!(
        state("future_plugin"),
        Some(PluginStateV1::Other("DEGRADED".into()))
    );
    assert_eq!(
        status.plugins["decision_logs"].message.as_deref(),
        Some("log upload failed")
    );

    let prometheus = status
        .metrics
        .as_ref()
        .and_then(|m| m.prometheus.as_ref())
        .unwrap();
    assert_eq!(
        prometheus["http_request_duration_seconds"]["type"],
        "HISTOGRAM"
    );
}

#[test]
fn stock_opa_drop_counters_are_read_from_prometheus() {
    let drops = stock().decision_log_drops();
    assert_eq!(
        drops,
        DropCountersV1 {
            decision_logs_dropped_buffer_size_limit_exceeded: 2,
            decision_logs_nd_builtin_cache_dropped: 1,
            ..DropCountersV1::default()
        }
    );
}

#[test]
fn stock_opa_status_round_trips() {
    let status = stock();
    let again: StatusReportV1 =
        serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
    assert_eq!(again, status);
    // Unknown plugin states and bundle types survive as text.
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["plugins"]["future_plugin"]["state"], "DEGRADED");
    assert_eq!(
        json["plugins"]["envoy_ext_authz_grpc"]["state"],
        "NOT_READY"
    );
}

#[test]
fn minimal_and_null_payloads_parse() {
    for payload in [
        json!({}),
        json!({"labels": null, "bundles": null, "plugins": null}),
        json!({"labels": {"id": "x"}, "bundle": {"name": "legacy", "last_request": "0001-01-01T00:00:00Z"}}),
        json!({"bundles": {"b": {}}, "plugins": {"p": {}}, "metrics": {"other_provider": {"x": 1}}}),
    ] {
        let status: StatusReportV1 = serde_json::from_value(payload.clone()).unwrap();
        assert_eq!(
            status.decision_log_drops(),
            DropCountersV1::default(),
            "{payload}"
        );
    }
    let legacy: StatusReportV1 =
        serde_json::from_value(json!({"bundle": {"name": "legacy"}})).unwrap();
    assert_eq!(
        legacy.bundle.and_then(|b| b.name).as_deref(),
        Some("legacy")
    );
}

fn regent_report() -> StatusReportV1 {
    let mut prometheus = Map::new();
    prometheus.insert(
        "counter_decision_logs_dropped_buffer_size_limit_exceeded".into(),
        json!(9),
    );
    StatusReportV1 {
        labels: [("id", "hr-bot-7f9c"), ("version", "regent-0.1.0")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        bundles: [(
            "hr-bot".to_owned(),
            BundleStatusV1 {
                name: Some("hr-bot".into()),
                active_revision: Some("hr-bot-42".into()),
                last_successful_activation: Some("2026-11-24T10:14:58.5Z".parse().unwrap()),
                bundle_type: Some(BundleTypeV1::Snapshot),
                size: Some(18342),
                ..BundleStatusV1::default()
            },
        )]
        .into(),
        plugins: [(
            "bundle".to_owned(),
            PluginStatusV1 {
                state: Some(PluginStateV1::Warn),
                message: Some("stale".into()),
            },
        )]
        .into(),
        metrics: Some(StatusMetricsV1 {
            prometheus: Some(prometheus),
            other: Map::new(),
        }),
        regent: Some(RegentStatusV1 {
            agent_id: "hr-bot-7f9c".into(),
            persona: "hr-bot".into(),
            active_revision_sequence: Some(42),
            last_error: Some("fetch hr-bot-43: connection refused".into()),
            decision_logs: DecisionLogDeliveryV1 {
                queue_length: 12,
                queue_capacity: 10_000,
                spool_events: 300,
                spool_bytes: 81_920,
                spool_bytes_limit: Some(64 << 20),
                delivered_events: 1_000_000,
                dropped: DropCountersV1 {
                    decision_logs_dropped_buffer_size_limit_exceeded: 3,
                    decision_logs_dropped_spool_size_limit_exceeded: 4,
                    ..DropCountersV1::default()
                },
            },
        }),
        ..StatusReportV1::default()
    }
}

#[test]
fn regent_status_round_trips_with_opa_counter_names() {
    let report = regent_report();
    let json = serde_json::to_value(&report).unwrap();
    let again: StatusReportV1 = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(again, report);

    let regent = &json["regent"];
    assert_eq!(regent["active_revision_sequence"], 42);
    assert_eq!(regent["decision_logs"]["queue_capacity"], 10_000);
    assert_eq!(
        regent["decision_logs"]["dropped"]["decision_logs_dropped_buffer_size_limit_exceeded"],
        3
    );
    assert_eq!(
        regent["decision_logs"]["dropped"]["decision_logs_dropped_spool_size_limit_exceeded"],
        4
    );
    assert_eq!(json["bundles"]["hr-bot"]["type"], "snapshot");
    assert_eq!(
        json["bundles"]["hr-bot"]["last_successful_activation"],
        "2026-11-24T10:14:58.500Z"
    );
    assert!(json["bundles"]["hr-bot"].get("last_request").is_none());
    assert_eq!(json["plugins"]["bundle"]["state"], "WARN");
    // Regent's block wins over the Prometheus counters.
    assert_eq!(
        report
            .decision_log_drops()
            .decision_logs_dropped_buffer_size_limit_exceeded,
        3
    );
}

#[test]
fn regent_block_tolerates_missing_and_unknown_counters() {
    let status: StatusReportV1 = serde_json::from_value(json!({
        "labels": {"id": "a-1"},
        "regent": {
            "agent_id": "a-1",
            "persona": "it-bot",
            "decision_logs": {"queue_length": 5, "dropped": {"decision_logs_encoding_failure": 1, "future_counter": 7}},
            "future_field": true
        }
    }))
    .unwrap();
    let regent = status.regent.unwrap();
    assert_eq!(regent.active_revision_sequence, None);
    assert_eq!(regent.decision_logs.queue_length, 5);
    assert_eq!(regent.decision_logs.queue_capacity, 0);
    assert_eq!(
        regent.decision_logs.dropped.decision_logs_encoding_failure,
        1
    );
}
