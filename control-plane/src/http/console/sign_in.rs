//! Sign-in (with an API token or a user account) and sign-out.
//!
//! The sign-in form is protected against login CSRF by a double-submit token: the GET sets a
//! short-lived `regent_sign_in` cookie and puts the same value in the form; the POST must
//! carry both. Failures say only what a visitor may know (no hint whether a user exists) and
//! nothing secret is logged.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing};
use serde::Deserialize;

use super::error::{ConsoleError, ConsoleResult};
use super::layout::Chrome;
use super::password;
use super::session::{self, CsrfForm, NoFields, cookie, random_secret, secrets_equal};
use crate::app::AppState;
use crate::auth::Role;

/// The login-CSRF cookie.
const SIGN_IN_COOKIE: &str = "regent_sign_in";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/sign-in", routing::get(page).post(submit))
        .route("/console/sign-out", routing::post(sign_out))
}

#[derive(Debug, Template, WebTemplate)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    pub next: String,
    pub form_token: String,
    pub username: String,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only console pages on this server: never `//host`, `/\host` or an absolute URL.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/console/sign-") =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

fn sign_in_cookie(state: &AppState, value: &str) -> String {
    let secure = if state.config.console_cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SIGN_IN_COOKIE}={value}; Path=/console/sign-in; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    )
}

fn render_form(
    state: &AppState,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
) -> Response {
    let form_token = random_secret();
    let page = SignInPage {
        chrome: Chrome::signed_out(),
        next,
        form_token: form_token.clone(),
        username,
        error,
    };
    (
        status,
        [(header::SET_COOKIE, sign_in_cookie(state, &form_token))],
        page,
    )
        .into_response()
}

async fn page(State(state): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    render_form(
        &state,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        String::new(),
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    form_token: Option<String>,
    next: Option<String>,
    /// Token sign-in.
    token: Option<String>,
    /// Account sign-in.
    username: Option<String>,
    password: Option<String>,
}

/// Who may open a session: a token or user id, whether it is a user, and the role.
struct Verified {
    id: uuid::Uuid,
    is_user: bool,
}

async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ConsoleResult<Response> {
    let form: SignInForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ConsoleError::bad_request("the sign-in form is not url-encoded"))?;
    let next = safe_next(form.next.as_deref());
    let posted = form.form_token.as_deref().unwrap_or("");
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    if posted.is_empty() || !secrets_equal(posted, expected) {
        return Err(ConsoleError::forbidden(
            "the sign-in form expired or was not sent from this site; open the sign-in page again",
        ));
    }
    let username = form.username.clone().unwrap_or_default();
    let fail = |message: &str| {
        Ok(render_form(
            &state,
            StatusCode::UNAUTHORIZED,
            next.clone(),
            username.clone(),
            Some(message.to_owned()),
        ))
    };
    let verified = match (form.token.as_deref().map(str::trim), &form.username) {
        (Some(token), _) if !token.is_empty() => {
            let Some(principal) = state.store.authenticate(token).await? else {
                tracing::info!("console sign-in refused: unknown or revoked token");
                return fail("this token is not valid: it is unknown, revoked or mistyped");
            };
            if principal.role == Role::Agent {
                tracing::info!(token = %principal.name, "console sign-in refused: agent token");
                return fail(
                    "agent tokens cannot sign in to the console; use an admin, publisher or auditor token, or a user account",
                );
            }
            tracing::info!(actor = %principal.actor(), "console sign-in with a token");
            Verified {
                id: principal.token_id,
                is_user: false,
            }
        }
        (_, Some(name)) if !name.trim().is_empty() => {
            let name = name.trim();
            let password_given = form.password.clone().unwrap_or_default();
            let user = state.store.console_user(name).await?;
            let ok = password::verify_async(
                password_given,
                user.as_ref().map(|u| u.password_hash.clone()),
            )
            .await
            .map_err(|e| ConsoleError::internal(&e))?;
            match user {
                Some(user) if ok => {
                    tracing::info!(user = %user.name, role = %user.role, "console sign-in with a password");
                    Verified {
                        id: user.id,
                        is_user: true,
                    }
                }
                _ => {
                    tracing::info!("console sign-in refused: wrong username or password");
                    return fail("wrong username or password");
                }
            }
        }
        _ => return fail("enter an API token, or a username and password"),
    };
    let id = random_secret();
    state
        .store
        .create_console_session(
            &session::hash_session_id(&id),
            verified.id,
            verified.is_user,
            &random_secret(),
            session::session_limits(&state.config),
        )
        .await?;
    let mut response = Redirect::to(&next).into_response();
    let headers = response.headers_mut();
    for value in [
        session::session_cookie(&state.config, &id),
        sign_in_cookie(&state, "").replace("Max-Age=3600", "Max-Age=0"),
    ] {
        if let Ok(value) = value.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Ends the session (any role may sign out; the CSRF token is still required so another site
/// cannot sign a visitor out).
async fn sign_out(
    State(state): State<AppState>,
    CsrfForm { session, .. }: CsrfForm<NoFields>,
) -> ConsoleResult<Response> {
    state
        .store
        .delete_console_session(session.id_hash())
        .await?;
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(value) = session::clear_cookie(&state.config).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
