//! The server-rendered console under `/console` (askama templates in `web/templates`, CSS and
//! JS in `web/static`, compiled into the binary). Usable without JavaScript.
//!
//! # Adding a page
//! 1. Write `web/templates/<page>.html`: `{% extends "base.html" %}`, fill
//!    `{% block title %}` and `{% block content %}`. Shared macros (`<time>`, copyable digests,
//!    empty states) are in `web/templates/macros.html`: `{% import "macros.html" as m %}`,
//!    then `{% call m::time(ts) %}{% endcall %}` (askama 0.16 needs the `endcall`).
//! 2. Add `http/console/<page>.rs` with the page struct next to its handler:
//!    ```text
//!    #[derive(Template, WebTemplate)]
//!    #[template(path = "<page>.html")]
//!    pub struct MyPage { pub chrome: Chrome, /* what the page shows */ }
//!
//!    async fn my_page(State(state): State<AppState>, session: Session) -> ConsoleResult<MyPage> {
//!        Ok(MyPage { chrome: session.chrome(nav::AUDIT), /* … */ })
//!    }
//!    ```
//!    [`Session`] redirects signed-out visitors to the sign-in page; errors (`?` on store and
//!    service errors, or [`ConsoleError`] constructors) become HTML error pages.
//! 3. Give the module a `pub fn routes() -> Router<AppState>` for its GET routes and merge it
//!    in [`routes`] below.
//! 4. Every route that changes something is a POST whose handler takes [`Mutation<T>`]
//!    (signed in + CSRF token + not an auditor; `T` is the form without `csrf`) and is listed
//!    in [`mutations`] — never registered elsewhere — so the table-driven test in
//!    `tests/console_guards.rs` proves it refuses auditors, bad CSRF tokens and signed-out
//!    visitors. Forms carry `<input type="hidden" name="csrf" value="{{ chrome.csrf() }}">`.
//!    Read-only exports (GET) need no CSRF token.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Redirect, Response};
use axum::routing::{self, MethodRouter};

use crate::app::AppState;

pub mod assets;
pub mod audit;
pub mod error;
pub mod fleet;
pub mod layout;
pub mod overview;
pub mod password;
pub mod persona;
pub mod rollout;
pub mod session;
pub mod sign_in;

pub use error::{ConsoleError, ConsoleResult};
pub use layout::{Chrome, Ts, nav};
pub use session::{CsrfForm, Mutation, NoFields, Session};

/// Every state-changing console route (all POST, all taking [`Mutation`]): the path pattern
/// and its handler. Sign-in and sign-out are not listed (sign-out is open to auditors).
pub fn mutations() -> Vec<(&'static str, MethodRouter<AppState>)> {
    let mut all = Vec::new();
    all.extend(rollout::mutations());
    all
}

/// The path patterns of [`mutations`], for tests that walk every mutating route.
pub fn mutating_paths() -> Vec<&'static str> {
    mutations().into_iter().map(|(path, _)| path).collect()
}

/// The console's routes, merged into the application router by `app::router`.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route(
            "/console/",
            routing::get(|| async { Redirect::permanent("/console") }),
        )
        .route(assets::CSS_PATH, routing::get(assets::css))
        .route(assets::JS_PATH, routing::get(assets::js))
        .route("/console/{*rest}", routing::get(not_found))
        .merge(sign_in::routes())
        .merge(overview::routes())
        .merge(rollout::routes())
        .merge(persona::routes())
        .merge(fleet::routes())
        .merge(audit::routes());
    for (path, handler) in mutations() {
        router = router.route(path, handler);
    }
    router.layer(axum::middleware::map_response(security_headers))
}

/// Unknown console pages: signed-out visitors go to sign-in first, then see an HTML 404.
async fn not_found(_session: Session) -> ConsoleError {
    ConsoleError::not_found("there is no console page at this address")
}

/// Pages are private and must not be framed, cached by shared caches, or run foreign script.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let defaults = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}
