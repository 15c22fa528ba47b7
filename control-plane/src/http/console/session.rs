//! Console sessions: the cookie, the [`Session`] extractor (signed-in visitors only) and the
//! [`Mutation`] extractor every state-changing form goes through (session, CSRF token, role).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::{ConsoleError, ConsoleResult};
use super::layout::{Chrome, UserView};
use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::config::Config;
use crate::store::console::SessionLimits;

/// The session cookie's name.
pub const COOKIE: &str = "regent_session";

/// Largest form body the console accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// 32 random bytes, base64url: a session id or a CSRF token.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a session cookie value.
pub fn hash_session_id(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

pub fn session_limits(config: &Config) -> SessionLimits {
    SessionLimits {
        idle_seconds: i64::from(config.console.session_idle_minutes) * 60,
        absolute_seconds: i64::from(config.console.session_max_hours) * 3600,
    }
}

/// `Set-Cookie` for a new session (HttpOnly, SameSite=Lax, Path=/, `Secure` when configured).
/// No `Max-Age`: the cookie ends with the browser, the server enforces the real expiry.
pub fn session_cookie(config: &Config, id: &str) -> String {
    let secure = if config.console_cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(config: &Config) -> String {
    let secure = if config.console_cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time equality of two secrets (lengths are not secret).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A signed-in visitor (admin, publisher or auditor). Extracting it redirects everyone else to
/// `/console/sign-in?next=<this page>`.
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub role: Role,
    /// The token every form on the page must carry back.
    pub csrf: String,
    /// Signed in with a user account (else with an API token).
    pub is_user: bool,
    principal_id: uuid::Uuid,
    id_hash: Vec<u8>,
}

impl Session {
    /// The page frame for this visitor, with `nav` (a [`super::layout::nav`] constant) current.
    pub fn chrome(&self, nav: &'static str) -> Chrome {
        Chrome {
            user: Some(UserView {
                name: self.name.clone(),
                role: self.role,
                csrf: self.csrf.clone(),
            }),
            nav,
            ..Chrome::signed_out()
        }
    }

    /// The principal services see. User accounts are named `user:<name>` so they can never be
    /// mistaken for an API token of the same name in audit records.
    pub fn principal(&self) -> Principal {
        Principal {
            token_id: self.principal_id,
            name: if self.is_user {
                format!("user:{}", self.name)
            } else {
                self.name.clone()
            },
            role: self.role,
            persona: None,
        }
    }

    /// The actor written into audit records, e.g. `publisher:user:alice` or `admin:ci`.
    pub fn actor(&self) -> String {
        self.principal().actor()
    }

    /// Refuses the auditor role (403 page): call it in every handler that changes something.
    /// [`Mutation`] calls it for you.
    pub fn require_change(&self) -> ConsoleResult<()> {
        if matches!(self.role, Role::Admin | Role::Publisher) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(format!(
                "the `{}` role can read everything but change nothing; sign in as a publisher or admin to do this",
                self.role
            )))
        }
    }

    /// Refuses a form whose CSRF token is missing or not this session's (403 page).
    pub fn check_csrf(&self, presented: Option<&str>) -> ConsoleResult<()> {
        match presented {
            Some(token) if secrets_equal(token, &self.csrf) => Ok(()),
            Some(_) => Err(ConsoleError::forbidden(
                "the form's security token does not match your session; reload the page and try again",
            )),
            None => Err(ConsoleError::forbidden(
                "the form carries no security token; reload the page and try again",
            )),
        }
    }

    /// The hash the session is stored under (sign-out deletes it).
    pub fn id_hash(&self) -> &[u8] {
        &self.id_hash
    }
}

/// Where to come back to after signing in: this page for GET, the console home otherwise.
fn next_for(parts: &Parts) -> String {
    if parts.method == Method::GET {
        parts
            .uri
            .path_and_query()
            .map_or_else(|| "/console".to_owned(), |pq| pq.as_str().to_owned())
    } else {
        "/console".to_owned()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ConsoleResult<Session> {
        let sign_in = || ConsoleError::SignIn {
            next: next_for(parts),
        };
        let Some(id) = cookie(&parts.headers, COOKIE).filter(|v| !v.is_empty()) else {
            return Err(sign_in());
        };
        let id_hash = hash_session_id(id);
        let limits = session_limits(&state.config);
        let Some(record) = state.store.console_session(&id_hash, limits).await? else {
            return Err(sign_in());
        };
        Ok(Session {
            name: record.name,
            role: record.role,
            csrf: record.csrf_token,
            is_user: record.is_user,
            principal_id: record.principal_id,
            id_hash,
        })
    }
}

/// For forms whose only field is `csrf`.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

/// A form post from a signed-in visitor (else 303 to sign-in) whose `csrf` field matches the
/// session (else 403). `form` is the url-encoded body parsed as `T` (the `csrf` field need not
/// be in `T`). For changes, use [`Mutation`], which also refuses auditors.
#[derive(Debug)]
pub struct CsrfForm<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> ConsoleResult<CsrfForm<T>> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        drop(parts);
        let body: Bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::bad_request("the form could not be read or is too large"))?;
        let csrf: CsrfField = serde_urlencoded::from_bytes(&body)
            .map_err(|_| ConsoleError::bad_request("the form is not url-encoded"))?;
        session.check_csrf(csrf.csrf.as_deref())?;
        let form = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ConsoleError::bad_request(format!("the form is incomplete: {e}")))?;
        Ok(CsrfForm { session, form })
    }
}

/// A state-changing form post: the visitor is signed in (else 303 to sign-in), the form's
/// `csrf` field matches the session (else 403) and the role may change things (else 403).
#[derive(Debug)]
pub struct Mutation<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Mutation<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> ConsoleResult<Mutation<T>> {
        let CsrfForm { session, form } = CsrfForm::<T>::from_request(request, state).await?;
        session.require_change()?;
        Ok(Mutation { session, form })
    }
}
