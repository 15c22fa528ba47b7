//! The sidecar's local HTTP API (hyper 1, HTTP/1.1, loopback by default).
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /v1/data/{path}` | OPA's `{"input": …}` | `{"result": <decision.v1>, "decision_id": …}` |
//! | `POST /v1/decide` | `{"persona"?: …, "input": <agent-action.v1>}` | `{allow, reasons, obligations, persona, revision, sequence, decision_id}` |
//! | `GET /health` | — | 200 once every persona has a policy, else 503 naming what is missing |
//! | `GET /metrics` | — | Prometheus text |
//!
//! `/v1/data/{path}`: `{path}` is either a persona name (`/v1/data/hr-bot`, a Regent shorthand) or the
//! decision entrypoint of the persona chosen by `?persona=`, else `input.agent.persona`, else
//! `http.default_persona`, else the only persona (`/v1/data/regent/persona/decision?persona=hr-bot`). Any
//! other path is 404 — the sidecar answers decisions, not arbitrary queries. Unlike OPA, an undefined
//! decision is never an empty answer: the result is always a decision, a fail-closed deny included.
//!
//! Request bodies are capped (`http.max_body_bytes`, 413 beyond). Errors use OPA's `{"code", "message"}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;

use crate::agent::{Agent, PersonaRuntime};
use crate::config::seconds;
use crate::decide::Decision;
use crate::shutdown::Shutdown;

type Reply = Response<Full<Bytes>>;

/// Serves the API on `listener` until `shutdown`, then stops accepting and lets in-flight requests finish
/// (up to `http.shutdown_grace_seconds`).
pub async fn serve(
    agent: Agent,
    listener: TcpListener,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let agent = agent.clone();
        let service = service_fn(move |request| {
            let agent = agent.clone();
            async move { Ok::<_, Infallible>(handle(&agent, request, peer).await) }
        });
        let connection = http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = seconds(agent.config().http.shutdown_grace_seconds);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the shutdown grace time");
    }
    Ok(())
}

/// Routes one request.
pub async fn handle(agent: &Agent, request: Request<Incoming>, peer: SocketAddr) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    match (method, path.as_str()) {
        (Method::GET, "/health") => health(agent),
        (Method::GET, "/metrics") => {
            let mut reply = Response::new(Full::new(Bytes::from(agent.render_metrics())));
            reply.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            reply
        }
        (Method::POST, "/v1/decide") => match read_json(agent, request).await {
            Ok(body) => decide(agent, body, peer),
            Err(reply) => reply,
        },
        (Method::POST, p) if p.starts_with("/v1/data/") || p == "/v1/data" => {
            let rule = p
                .trim_start_matches("/v1/data")
                .trim_matches('/')
                .to_owned();
            match read_json(agent, request).await {
                Ok(body) => data(agent, &rule, query.as_deref(), body, peer),
                Err(reply) => reply,
            }
        }
        (_, "/health" | "/metrics" | "/v1/decide") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        ),
        (_, p) if p.starts_with("/v1/data") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST for /v1/data",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            &format!("`{path}` not found; see /v1/data, /v1/decide, /health, /metrics"),
        ),
    }
}

fn health(agent: &Agent) -> Reply {
    let missing = agent.not_ready();
    if missing.is_empty() {
        return json_reply(StatusCode::OK, &json!({"status": "ok"}));
    }
    let personas: serde_json::Map<String, Json> = missing
        .into_iter()
        .map(|(p, why)| (p, Json::from(why)))
        .collect();
    json_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"status": "unavailable", "personas": personas}),
    )
}

fn decide(agent: &Agent, body: Json, peer: SocketAddr) -> Reply {
    let Json::Object(mut body) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "the body must be a JSON object `{\"persona\": …, \"input\": …}`",
        );
    };
    let input = body.remove("input").unwrap_or(Json::Null);
    let named = match body.remove("persona") {
        None | Some(Json::Null) => None,
        Some(Json::String(p)) => Some(p),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "`persona` must be a string",
            );
        }
    };
    let rt = match pick_persona(agent, named.as_deref(), &input) {
        Ok(rt) => rt,
        Err(reply) => return *reply,
    };
    let decision = agent.decide_json(&rt.name, input, Some(peer.to_string()));
    json_reply(StatusCode::OK, &decision_json(&decision))
}

fn data(agent: &Agent, rule: &str, query: Option<&str>, body: Json, peer: SocketAddr) -> Reply {
    let input = match body {
        Json::Object(mut map) => map.remove("input").unwrap_or(Json::Null),
        Json::Null => Json::Null,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "the body must be a JSON object `{\"input\": …}`",
            );
        }
    };
    let rt = match agent.persona(rule) {
        Some(rt) => rt,
        None => {
            let named = query_param(query, "persona");
            let rt = match pick_persona(agent, named.as_deref(), &input) {
                Ok(rt) => rt,
                Err(reply) => return *reply,
            };
            let entrypoint = rt
                .snapshot()
                .map(|s| s.entrypoint.clone())
                .or_else(|| rt.entrypoint.clone());
            if let Some(entrypoint) = entrypoint
                && entrypoint.trim_matches('/') != rule
            {
                return error(
                    StatusCode::NOT_FOUND,
                    "resource_not_found",
                    &format!(
                        "`/v1/data/{rule}` is not the decision entrypoint of persona `{}` (`{entrypoint}`)",
                        rt.name
                    ),
                );
            }
            rt
        }
    };
    let decision = agent.decide_json(&rt.name, input, Some(peer.to_string()));
    let result = serde_json::to_value(decision.to_v1()).unwrap_or(Json::Null);
    json_reply(
        StatusCode::OK,
        &json!({"result": result, "decision_id": decision.decision_id.to_string()}),
    )
}

/// `?persona=`, else `input.agent.persona`, else the default persona, else the only one.
fn pick_persona<'a>(
    agent: &'a Agent,
    named: Option<&str>,
    input: &Json,
) -> Result<&'a PersonaRuntime, Box<Reply>> {
    let from_input = input.pointer("/agent/persona").and_then(Json::as_str);
    let name = named
        .or(from_input)
        .or(agent.config().http.default_persona.as_deref())
        .or_else(|| match agent.personas() {
            [only] => Some(only.name.as_str()),
            _ => None,
        });
    let Some(name) = name else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "name the persona: `?persona=`, `input.agent.persona` or `http.default_persona`",
        )));
    };
    agent.persona(name).map(|rt| &**rt).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            &format!("persona `{name}` is not configured on this agent"),
        ))
    })
}

fn decision_json(decision: &Decision) -> Json {
    json!({
        "allow": decision.allow,
        "reasons": decision.reasons,
        "obligations": decision.obligations,
        "persona": decision.persona,
        "revision": decision.revision,
        "sequence": decision.sequence,
        "decision_id": decision.decision_id.to_string(),
    })
}

async fn read_json(agent: &Agent, request: Request<Incoming>) -> Result<Json, Reply> {
    let limit = agent.config().http.max_body_bytes;
    let too_large = || {
        let mut reply = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            &format!("the body is larger than {limit} bytes (`http.max_body_bytes`)"),
        );
        // The rest of the body is not read, so the connection cannot be reused.
        reply
            .headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        reply
    };
    if request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
    {
        return Err(too_large());
    }
    let bytes = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                &format!("cannot read the body: {e}"),
            ));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            &format!("the body is not JSON: {e}"),
        )
    })
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn json_reply(status: StatusCode, body: &Json) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"code": code, "message": message}))
}
