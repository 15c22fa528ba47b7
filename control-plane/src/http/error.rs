//! The one edge error: every failure becomes an RFC 9457 `application/problem+json` body with a
//! stable `code`. 5xx bodies are generic; their detail goes to the log only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_bundle`.
    pub code: &'static str,
    /// Human-readable detail: what was wrong, where, and what to do.
    pub detail: String,
    /// Extra structured fields (e.g. `file`, `line`, `failed_tests`).
    pub extra: serde_json::Map<String, Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"regent\""),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn too_large(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
    }

    /// A 500 whose cause is logged here and never shown to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; the details are in the server log",
        )
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Problem {
            kind: format!("https://regent.dev/problems/{}", self.code),
            title,
            status: self.status.as_u16(),
            code: self.code,
            detail: &self.detail,
            extra: &self.extra,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict { detail } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            StoreError::Invalid { detail } => ApiError::unprocessable("invalid", detail),
            StoreError::Database(e) => {
                if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) {
                    tracing::error!(error = %e, "database unavailable");
                    ApiError::unavailable(
                        "database_unavailable",
                        "the database is unavailable; retry later",
                    )
                    .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
                } else {
                    ApiError::internal(&e)
                }
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
