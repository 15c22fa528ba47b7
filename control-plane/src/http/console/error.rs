//! The console's edge error: every failure is an HTML page (never problem+json), a signed-out
//! visitor is redirected to the sign-in page, and 5xx pages are generic (detail in the log).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::layout::Chrome;
use crate::http::error::ApiError;
use crate::store::StoreError;

/// A console failure. Build one with the constructors; `?` converts store and API errors.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): 303 to `/console/sign-in?next=<next>`.
    SignIn { next: String },
    /// An HTML error page.
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
}

pub type ConsoleResult<T> = Result<T, ConsoleError>;

impl ConsoleError {
    pub fn page(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        ConsoleError::Page {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::page(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::page(StatusCode::NOT_FOUND, "Not found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::page(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::page(StatusCode::CONFLICT, "Refused", message)
    }

    /// A 500 whose cause is logged here and never shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "console internal error");
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "the server could not complete this request; the details are in the server log",
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Page { status, .. } => *status,
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn { next } => {
                let query =
                    serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
                let location = format!("/console/sign-in?{query}");
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                response
            }
            ConsoleError::Page {
                status,
                title,
                message,
            } => {
                // 5xx messages are already generic (see `internal`).
                let page = ErrorPage {
                    chrome: Chrome::signed_out(),
                    status: status.as_u16(),
                    title,
                    message: &message,
                };
                match page.render() {
                    Ok(html) => (
                        status,
                        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        html,
                    )
                        .into_response(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot render the console error page");
                        (status, "error").into_response()
                    }
                }
            }
        }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::not_found(format!("{what} not found")),
            StoreError::Conflict { detail } => Self::conflict(detail),
            StoreError::Invalid { detail } => {
                Self::page(StatusCode::UNPROCESSABLE_ENTITY, "Refused", detail)
            }
            StoreError::Database(e) => Self::internal(&e),
        }
    }
}

/// Services shared with the JSON API report [`ApiError`]s; their 4xx detail is safe to show.
impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        if e.status.is_server_error() {
            // `ApiError::internal` already logged the cause.
            return Self::page(
                e.status,
                "Something went wrong",
                "the server could not complete this request; the details are in the server log",
            );
        }
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            _ => "Refused",
        };
        Self::page(e.status, title, e.detail)
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        Self::internal(&e)
    }
}
