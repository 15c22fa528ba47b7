//! `GET /bundles/{persona}`: OPA's bundle service with strong ETags, `If-None-Match` → 304 and
//! long polling (`Prefer: wait=N`).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Principal;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ApiResult};

pub use crate::services::rollout::{Assigned, DEFAULT_CHANNEL};

/// The media type that keeps OPA in long-polling mode.
const LONG_POLL_TYPE: &str = "application/vnd.openpolicyagent.bundles";

/// Regent agents may name themselves so the server can use their registered channel, their
/// rollout bucket and their pin.
pub const AGENT_ID_HEADER: &str = "x-regent-agent-id";

#[derive(Debug, Deserialize)]
pub(super) struct BundleQuery {
    channel: Option<String>,
    agent: Option<String>,
}

/// The revision of `persona` assigned to this caller — THE place deciding what an agent runs:
/// on the channel it follows (`?channel=`, else the agent's registered channel, else `prod`),
/// its pin, else the active rollout's candidate if its bucket is in, else the channel's
/// revision. A caller without an agent id (stock OPA) gets the channel's revision.
pub async fn assigned_revision(
    state: &AppState,
    _principal: &Principal,
    persona: &str,
    channel: Option<&str>,
    agent_id: Option<&str>,
) -> ApiResult<Assigned> {
    match crate::services::rollout::assigned(state, persona, channel, agent_id).await? {
        Some(assigned) => Ok(assigned),
        None => {
            let channel = channel.unwrap_or(DEFAULT_CHANNEL);
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_revision",
                format!(
                    "channel `{channel}` of persona `{persona}` has no revision (or does not exist); \
                     push one with `regent push <dir> --persona {persona}`"
                ),
            ))
        }
    }
}

pub(super) async fn get_bundle(
    State(state): State<AppState>,
    auth: Auth,
    Path(persona): Path<String>,
    Query(query): Query<BundleQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let principal = auth.require_persona(&persona)?;
    if let Some(channel) = &query.channel
        && !valid_channel(channel)
    {
        return Err(ApiError::bad_request(
            "invalid_channel",
            format!("`channel` `{channel}` is not a channel name (`a-z`, `0-9`, `-`, up to 31)"),
        ));
    }
    let agent_id = query
        .agent
        .as_deref()
        .or_else(|| headers.get(AGENT_ID_HEADER).and_then(|v| v.to_str().ok()))
        .filter(|id| !id.is_empty());
    let wait = prefer_wait(&headers).map(|n| n.min(state.config.limits.max_long_poll_seconds));
    let lookup = || {
        assigned_revision(
            &state,
            principal,
            &persona,
            query.channel.as_deref(),
            agent_id,
        )
    };
    let _in_flight = wait.map(|_| state.metrics.long_poll());
    // Subscribe before the first read, so a move between the read and the wait still wakes us.
    let mut subscription = wait.map(|_| state.bundles.subscribe(&persona));
    let mut assigned = lookup().await?;
    if let (Some(wait), Some(subscription)) = (wait, subscription.as_mut()) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        while etag_matches(&headers, &assigned.revision.bundle_digest) {
            tokio::select! {
                () = subscription.changed() => {}
                () = tokio::time::sleep_until(deadline) => {
                    // Last look: a change may have slipped past a listener outage.
                    assigned = lookup().await?;
                    break;
                }
            }
            assigned = lookup().await?;
        }
    }
    if etag_matches(&headers, &assigned.revision.bundle_digest) {
        state.metrics.bundle_served(StatusCode::NOT_MODIFIED);
        return Ok(not_modified(&assigned.revision.bundle_digest));
    }
    let bundle = state
        .store
        .revision_bundle_by_id(assigned.revision.revision_id)
        .await?;
    let content_type = if wait.is_some() {
        LONG_POLL_TYPE
    } else {
        "application/gzip"
    };
    let mut response = (StatusCode::OK, bundle.bundle).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag(&bundle.bundle_digest)) {
        h.insert(header::ETAG, etag);
    }
    if let Ok(revision) = HeaderValue::from_str(&bundle.revision) {
        h.insert("x-regent-revision", revision);
    }
    state.metrics.bundle_served(StatusCode::OK);
    Ok(response)
}

fn not_modified(digest: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag(digest)) {
        h.insert(header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The bundle's SHA-256 as a strong ETag: `"<hex>"`.
fn etag(digest: &str) -> String {
    format!("\"{}\"", bare_digest(digest))
}

fn bare_digest(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Whether any `If-None-Match` entry names this digest. Lenient on purpose: quoted or not,
/// `W/` or not, `sha256:` or not, comma lists, and `*`.
fn etag_matches(headers: &HeaderMap, digest: &str) -> bool {
    let digest = bare_digest(digest);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            tag == "*" || bare_digest(tag).eq_ignore_ascii_case(digest)
        })
}

/// `wait=N` from `Prefer` (OPA: `modes=snapshot,delta;wait=N`), in seconds.
fn prefer_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
        .next()
}

fn valid_channel(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 31
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn prefer_wait_is_found_in_opa_and_plain_forms() {
        let opa = headers(&[("prefer", "modes=snapshot,delta;wait=30")]);
        assert_eq!(prefer_wait(&opa), Some(30));
        assert_eq!(prefer_wait(&headers(&[("prefer", "wait=5")])), Some(5));
        assert_eq!(
            prefer_wait(&headers(&[("prefer", " Wait = \"7\" ")])),
            Some(7)
        );
        assert_eq!(
            prefer_wait(&headers(&[("prefer", "modes=snapshot,delta")])),
            None
        );
        assert_eq!(prefer_wait(&headers(&[("prefer", "wait=soon")])), None);
        assert_eq!(prefer_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn if_none_match_accepts_the_usual_spellings() {
        let d = "ab12";
        for value in [
            "\"ab12\"",
            "ab12",
            "W/\"ab12\"",
            "\"x\", \"ab12\"",
            "*",
            "\"sha256:AB12\"",
        ] {
            assert!(
                etag_matches(&headers(&[("if-none-match", value)]), d),
                "{value}"
            );
        }
        assert!(!etag_matches(&headers(&[("if-none-match", "\"ab1\"")]), d));
        assert!(!etag_matches(&HeaderMap::new(), d));
        assert_eq!(etag("sha256:ab12"), "\"ab12\"");
    }
}
