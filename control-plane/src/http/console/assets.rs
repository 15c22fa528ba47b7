//! The console's CSS and JavaScript, compiled into the binary. URLs carry a content hash
//! (`?v=<hash>`), so the files can be cached for a year and a new build is fetched at once.

use std::sync::LazyLock;

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

const CSS: &str = include_str!("../../../../web/static/console.css");
const JS: &str = include_str!("../../../../web/static/console.js");

pub const CSS_PATH: &str = "/console/static/console.css";
pub const JS_PATH: &str = "/console/static/console.js";

fn versioned(path: &str, body: &str) -> String {
    let hash = Sha256::digest(body.as_bytes());
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{path}?v={hex}")
}

static CSS_URL: LazyLock<String> = LazyLock::new(|| versioned(CSS_PATH, CSS));
static JS_URL: LazyLock<String> = LazyLock::new(|| versioned(JS_PATH, JS));

pub fn css_url() -> &'static str {
    CSS_URL.as_str()
}

pub fn js_url() -> &'static str {
    JS_URL.as_str()
}

#[derive(Debug, Deserialize)]
pub struct Version {
    v: Option<String>,
}

fn serve(
    body: &'static str,
    content_type: &'static str,
    current: &str,
    v: Option<&str>,
) -> Response {
    // Only the current version may be cached forever; an old or missing `v` gets a short
    // lifetime so a stale page picks up the new file soon.
    let fresh = v.is_some_and(|v| current.ends_with(&format!("?v={v}")));
    let cache = if fresh {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

pub async fn css(Query(q): Query<Version>) -> Response {
    serve(CSS, "text/css; charset=utf-8", css_url(), q.v.as_deref())
}

pub async fn js(Query(q): Query<Version>) -> Response {
    serve(
        JS,
        "text/javascript; charset=utf-8",
        js_url(),
        q.v.as_deref(),
    )
}
