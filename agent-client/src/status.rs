//! Status reports: OPA's `UpdateRequestV1` plus Regent's block, one per persona (the control plane binds an
//! agent id to one persona), `POST {server}/status` after each poll, each log upload and every change
//! (debounced), and at least every heartbeat. A failed POST is logged, not retried: the next report carries
//! the fresh state, as OPA does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use regent_protocol::{
    BundleStatusV1, BundleTypeV1, DecisionLogsStatusV1, PluginStateV1, PluginStatusV1,
    RegentStatusV1, StatusMetricsV1, StatusReportV1,
};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};

use crate::agent::{Agent, PersonaRuntime};
use crate::config::seconds;
use crate::shutdown::Shutdown;

impl Agent {
    /// The status report for `persona`, as it would be sent now.
    pub fn status_report(&self, persona: &str) -> Option<StatusReportV1> {
        self.persona(persona).map(|rt| self.report(rt))
    }

    pub(crate) fn report(&self, rt: &PersonaRuntime) -> StatusReportV1 {
        let config = &self.inner.config;
        let snapshot = rt.snapshot();
        let state = rt.bundle_state();
        let mut bundle = BundleStatusV1 {
            name: Some(rt.name.clone()),
            active_revision: snapshot.as_ref().map(|s| s.revision.clone()),
            last_successful_activation: state.last_successful_activation,
            last_successful_download: state.last_successful_download,
            last_successful_request: state.last_successful_request,
            last_request: state.last_request,
            bundle_type: Some(BundleTypeV1::Snapshot),
            size: state.size.or(snapshot.as_ref().map(|s| s.size)),
            ..BundleStatusV1::default()
        };
        if let Some(s) = &snapshot {
            let mut m = Map::new();
            m.insert(
                "timer_rego_module_compile_ns".into(),
                Value::from(s.compile_time.as_nanos() as u64),
            );
            bundle.metrics = Some(m);
        }
        if let Some(error) = &state.error {
            bundle.code = Some("bundle_error".into());
            bundle.message = Some(error.message.clone());
            bundle.http_code = error.http_code;
        }
        let spool_limit = config.decision_logs.spool_max_bytes;
        let delivery = rt
            .log_queue()
            .map(|q| q.delivery(spool_limit))
            .unwrap_or_default();
        let upload_error = rt.log_counters().and_then(|c| c.last_error());
        let mut plugins = BTreeMap::new();
        plugins.insert(
            "bundle".to_owned(),
            plugin(match (&snapshot, &state.error) {
                (None, _) => (
                    PluginStateV1::NotReady,
                    state.error.as_ref().map(|e| e.message.clone()),
                ),
                (Some(_), Some(e)) => (PluginStateV1::Warn, Some(e.message.clone())),
                (Some(_), None) => (PluginStateV1::Ok, None),
            }),
        );
        plugins.insert("status".to_owned(), plugin((PluginStateV1::Ok, None)));
        let mut decision_logs = None;
        if let Some(counters) = rt.log_counters() {
            plugins.insert(
                "decision_logs".to_owned(),
                plugin(match &upload_error {
                    Some(e) => (PluginStateV1::Warn, Some(e.message.clone())),
                    None => (PluginStateV1::Ok, None),
                }),
            );
            let mut m = Map::new();
            m.insert(
                "counter_decision_logs_poisoned".into(),
                Value::from(counters.poisoned.load(Ordering::Relaxed)),
            );
            m.insert(
                "counter_decision_logs_spilled".into(),
                Value::from(counters.spilled.load(Ordering::Relaxed)),
            );
            decision_logs = Some(DecisionLogsStatusV1 {
                code: upload_error
                    .as_ref()
                    .map(|_| "decision_log_error".to_owned()),
                message: upload_error.as_ref().map(|e| e.message.clone()),
                http_code: upload_error.as_ref().and_then(|e| e.http_code),
                metrics: Some(m),
            });
        }
        let drops = delivery.dropped;
        let mut prometheus = Map::new();
        for (name, value) in [
            (
                "decision_logs_dropped_rate_limit_exceeded",
                drops.decision_logs_dropped_rate_limit_exceeded,
            ),
            (
                "decision_logs_dropped_buffer_size_limit_exceeded",
                drops.decision_logs_dropped_buffer_size_limit_exceeded,
            ),
            (
                "decision_logs_dropped_buffer_size_limit_bytes_exceeded",
                drops.decision_logs_dropped_buffer_size_limit_bytes_exceeded,
            ),
            (
                "decision_logs_encoding_failure",
                drops.decision_logs_encoding_failure,
            ),
            (
                "decision_logs_nd_builtin_cache_dropped",
                drops.decision_logs_nd_builtin_cache_dropped,
            ),
            (
                "decision_logs_dropped_spool_size_limit_exceeded",
                drops.decision_logs_dropped_spool_size_limit_exceeded,
            ),
        ] {
            prometheus.insert(format!("counter_{name}"), Value::from(value));
        }
        let last_error = state
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .or_else(|| upload_error.map(|e| format!("decision logs: {}", e.message)));
        StatusReportV1 {
            labels: rt.labels.clone(),
            bundles: BTreeMap::from([(rt.name.clone(), bundle)]),
            decision_logs,
            plugins,
            metrics: Some(StatusMetricsV1 {
                prometheus: Some(prometheus),
                other: Map::new(),
            }),
            regent: Some(RegentStatusV1 {
                agent_id: rt.agent_id.clone(),
                persona: rt.name.clone(),
                active_revision_sequence: snapshot.as_ref().map(|s| s.sequence),
                last_error,
                decision_logs: delivery,
            }),
            ..StatusReportV1::default()
        }
    }

    /// Sends `rt`'s status whenever it changes (debounced) and at least every heartbeat, until shutdown;
    /// then once more.
    pub(crate) async fn status_loop(
        self,
        rt: Arc<PersonaRuntime>,
        client: reqwest::Client,
        url: String,
        mut shutdown: Shutdown,
    ) {
        let status = &self.inner.config.status;
        let debounce = seconds(status.debounce_seconds);
        let heartbeat = seconds(status.heartbeat_seconds).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                () = rt.changed.notified() => {
                    tokio::select! {
                        () = shutdown.wait() => break,
                        () = tokio::time::sleep(debounce) => {}
                    }
                }
                () = tokio::time::sleep(heartbeat) => {}
            }
            self.send_status(&rt, &client, &url).await;
        }
        self.send_status(&rt, &client, &url).await;
    }

    async fn send_status(&self, rt: &PersonaRuntime, client: &reqwest::Client, url: &str) {
        let report = self.report(rt);
        let body = match serde_json::to_vec(&report) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the status report");
                return;
            }
        };
        let mut request = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(Duration::from_secs(10))
            .body(body);
        if let Some(token) = &rt.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                let status = response.status();
                let text: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                tracing::warn!(persona = %rt.name, %status, body = %text, "status report refused");
            }
            Err(e) => {
                tracing::debug!(persona = %rt.name, error = %e, "status report not delivered")
            }
        }
    }
}

fn plugin((state, message): (PluginStateV1, Option<String>)) -> PluginStatusV1 {
    PluginStatusV1 {
        state: Some(state),
        message,
    }
}
