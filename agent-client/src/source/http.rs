//! The control plane's OPA bundle API: `GET {server}/bundles/{persona}?channel=…`, `If-None-Match` = the ETag
//! of the last activated bundle, `Prefer: modes=snapshot;wait=N` long polling (kept only while 200 replies
//! carry `application/vnd.openpolicyagent.bundles`, as OPA does), 304 = no change, errors back off.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use tokio::time::Instant;

use super::{activate_download, request_done, request_failed};
use crate::agent::{Activation, Agent, PersonaRuntime};
use crate::backoff;
use crate::config::seconds;
use crate::shutdown::Shutdown;
use crate::snapshot::{Origin, digest_from_etag};

/// The media type that keeps a client in long-polling mode.
pub const LONG_POLL_TYPE: &str = "application/vnd.openpolicyagent.bundles";

/// One persona's bundle-API poller.
#[derive(Debug)]
pub struct HttpSource {
    pub agent: Agent,
    pub rt: Arc<PersonaRuntime>,
    pub client: reqwest::Client,
    pub url: String,
}

enum Polled {
    NotModified,
    Downloaded { long_poll: bool },
}

impl HttpSource {
    pub fn new(
        agent: Agent,
        rt: Arc<PersonaRuntime>,
        client: reqwest::Client,
        server: &str,
        channel: Option<&str>,
    ) -> HttpSource {
        let mut url = format!("{}/bundles/{}", server.trim_end_matches('/'), rt.name);
        if let Some(channel) = channel {
            url.push_str("?channel=");
            url.push_str(channel);
        }
        HttpSource {
            agent,
            rt,
            client,
            url,
        }
    }

    pub async fn run(self, mut shutdown: Shutdown) {
        let polling = self.agent.config().polling.clone();
        let wait = polling.long_polling_timeout_seconds;
        let mut long_poll = wait > 0;
        let mut retries = 0u32;
        let mut etag: Option<String> = self
            .rt
            .snapshot()
            .and_then(|s| s.origin.etag().map(str::to_owned));
        loop {
            let started = Instant::now();
            let result = tokio::select! {
                () = shutdown.wait() => return,
                result = self.poll(long_poll, &mut etag) => result,
            };
            let periodic = backoff::uniform(
                seconds(polling.min_delay_seconds),
                seconds(polling.max_delay_seconds),
            );
            let delay = match result {
                Ok(Polled::Downloaded { long_poll: kept }) => {
                    retries = 0;
                    long_poll = kept && wait > 0;
                    if long_poll { Duration::ZERO } else { periodic }
                }
                Ok(Polled::NotModified) => {
                    retries = 0;
                    // A 304 long before the wait elapsed means the server does not hold requests.
                    let held = started.elapsed() >= Duration::from_secs(wait) / 2;
                    if long_poll && held {
                        Duration::ZERO
                    } else {
                        periodic
                    }
                }
                Err(()) => {
                    retries = retries.saturating_add(1);
                    backoff::delay(seconds(polling.max_delay_seconds), retries)
                }
            };
            tokio::select! {
                () = shutdown.wait() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn poll(&self, long_poll: bool, etag: &mut Option<String>) -> Result<Polled, ()> {
        let polling = &self.agent.config().polling;
        let header_timeout = seconds(polling.response_header_timeout_seconds);
        let wait = polling.long_polling_timeout_seconds;
        let mut request = self
            .client
            .get(&self.url)
            .header("x-regent-agent-id", &self.rt.agent_id);
        if let Some(token) = &self.rt.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(etag) = etag.as_deref() {
            request = request.header(IF_NONE_MATCH, etag);
        }
        request = if long_poll {
            request
                .header("prefer", format!("modes=snapshot;wait={wait}"))
                .timeout(Duration::from_secs(wait) + header_timeout + Duration::from_secs(60))
        } else {
            request
                .header("prefer", "modes=snapshot")
                .timeout(header_timeout + Duration::from_secs(60))
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                request_done(&self.rt, false);
                request_failed(&self.rt, format!("GET {} failed: {e}", self.url), None);
                return Err(());
            }
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            request_done(&self.rt, true);
            // An earlier failure (network, server) is over; a refused bundle's error stays until replaced.
            self.rt.update_state(|s| {
                if s.rejected_digest.is_none() {
                    s.error = None;
                }
            });
            return Ok(Polled::NotModified);
        }
        if status != StatusCode::OK {
            let body: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            request_done(&self.rt, false);
            request_failed(
                &self.rt,
                format!("server replied {status}: {body}"),
                Some(status.as_u16()),
            );
            return Err(());
        }
        let kept_long_poll = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().starts_with(LONG_POLL_TYPE));
        let response_etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.agent.config().bundle_limits.max_archive_bytes;
        let body = match read_capped(response, limit).await {
            Ok(body) => body,
            Err(message) => {
                request_done(&self.rt, false);
                request_failed(&self.rt, message, None);
                return Err(());
            }
        };
        request_done(&self.rt, true);
        let expected = response_etag.as_deref().and_then(digest_from_etag);
        let origin = Origin::ControlPlane {
            etag: response_etag.clone(),
        };
        match activate_download(&self.agent, &self.rt, body, expected, origin).await {
            Ok(Activation::Activated { .. } | Activation::Unchanged) => {
                *etag = response_etag;
                Ok(Polled::Downloaded {
                    long_poll: kept_long_poll,
                })
            }
            Err(_) => Err(()),
        }
    }
}

/// Reads a body, refusing it as soon as it passes `limit` bytes.
pub(crate) async fn read_capped(
    response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(format!(
            "bundle is larger than the {limit}-byte limit (`bundle_limits.max_archive_bytes`)"
        ));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the bundle failed: {e}"))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(format!(
                "bundle is larger than the {limit}-byte limit (`bundle_limits.max_archive_bytes`)"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
