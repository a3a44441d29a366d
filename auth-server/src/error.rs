//! The two error families of the auth-server and how each becomes HTTP.
//!
//! - [`ApiError`]: everything outside the OAuth endpoints, answered as
//!   problem+json (RFC 9457). Internal causes are logged and answered with a
//!   generic 500 that never carries a database message.
//! - [`OAuthError`]: the token endpoint's RFC 6749 §5.2 errors, answered as
//!   `{"error", "error_description"}` with `Cache-Control: no-store`, and
//!   `WWW-Authenticate` when client authentication failed.
//!
//! Both answer `503` with `Retry-After` when the work cannot be done now
//! but soon can: the database is unreachable (pool timeout, broken
//! connection), or too many password hashes wait. Never a `500` for that.

use std::io::Cursor;

use rocket::Request;
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder, Response};
use shared::oauth::OAuthErrorBody;
use shared::problem::{FieldError, Problem};

use crate::db::is_unavailable;

pub use platform::db::OUTAGE_RETRY_AFTER;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    /// A rate limit was reached; retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests(u64),
    #[error("service unavailable")]
    Unavailable,
    /// Too many password hashes wait; retry after this many seconds.
    #[error("busy")]
    Busy(u64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Validation(errors) => {
                Problem::new(422, "One or more fields are invalid.").with_errors(errors.clone())
            }
            ApiError::BadRequest(detail) => Problem::new(400, *detail),
            ApiError::Conflict(detail) => Problem::new(409, *detail),
            ApiError::NotFound => Problem::new(404, "No such resource."),
            ApiError::UnsupportedMediaType => {
                Problem::new(415, "The request body must be application/json.")
            }
            ApiError::PayloadTooLarge => {
                Problem::new(413, "The request body is larger than the limit of 64 KiB.")
            }
            ApiError::TooManyRequests(_) => Problem::new(
                429,
                "Too many signups from this address; retry after the time given.",
            ),
            ApiError::Unavailable => Problem::new(503, "The service is not ready."),
            ApiError::Busy(_) => Problem::new(
                503,
                "Too many requests are waiting for a password check; retry later.",
            ),
            ApiError::Database(e) if is_unavailable(e) => {
                Problem::new(503, "The service is temporarily unavailable; retry later.")
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                Problem::new(500, "An internal error occurred.")
            }
        }
    }
}

impl ApiError {
    /// Seconds a client should wait before retrying, for a `503`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Busy(seconds) | ApiError::TooManyRequests(seconds) => Some(*seconds),
            ApiError::Database(e) if is_unavailable(e) => Some(OUTAGE_RETRY_AFTER),
            _ => None,
        }
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        match &self {
            ApiError::Database(e) if is_unavailable(e) => {
                tracing::warn!(error = %self, "database unavailable");
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
            }
            _ => {}
        }
        let retry_after = self.retry_after();
        let mut response = self.problem().respond_to(request)?;
        if let Some(seconds) = retry_after {
            response.set_header(Header::new("Retry-After", seconds.to_string()));
        }
        Ok(response)
    }
}

impl From<crate::password::HashError> for ApiError {
    fn from(error: crate::password::HashError) -> ApiError {
        match error {
            crate::password::HashError::Busy(busy) => ApiError::Busy(busy.retry_after),
            crate::password::HashError::Failed(message) => ApiError::Internal(message),
        }
    }
}

/// RFC 6749 §5.2 error codes, plus the throttling answer of the password grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 8707 §2: the `resource` is not one this client may ask for.
    InvalidTarget,
    /// `429`: too many failed attempts, or `503`: the database is
    /// unreachable or the server too busy; either way the client should
    /// wait `Retry-After`.
    TemporarilyUnavailable,
    ServerError,
}

impl OAuthErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::ServerError => "server_error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    /// Fixed text: never an echo of what the client sent.
    pub description: &'static str,
    /// Seconds for `Retry-After` on a throttled request.
    pub retry_after: Option<u64>,
    /// `503` rather than the code's usual status: the server cannot do it
    /// now, through no fault of the client.
    pub service_unavailable: bool,
}

impl OAuthError {
    pub const fn new(code: OAuthErrorCode, description: &'static str) -> OAuthError {
        OAuthError {
            code,
            description,
            retry_after: None,
            service_unavailable: false,
        }
    }

    pub const fn invalid_request(description: &'static str) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidRequest, description)
    }

    pub const fn invalid_client() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed.",
        )
    }

    pub const fn invalid_grant(description: &'static str) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidGrant, description)
    }

    pub const fn unauthorized_client(description: &'static str) -> OAuthError {
        OAuthError::new(OAuthErrorCode::UnauthorizedClient, description)
    }

    pub const fn invalid_scope() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "The requested scope is invalid, unknown, or not allowed.",
        )
    }

    /// RFC 8707 §2.
    pub const fn invalid_target() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "The resource is not one this client may request a token for.",
        )
    }

    pub const fn unsupported_grant_type() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            "The grant type is not supported by this server.",
        )
    }

    pub const fn throttled(retry_after: u64) -> OAuthError {
        OAuthError {
            code: OAuthErrorCode::TemporarilyUnavailable,
            description: "Too many failed attempts; retry later.",
            retry_after: Some(retry_after),
            service_unavailable: false,
        }
    }

    /// `503`: too many password hashes wait.
    pub const fn busy(retry_after: u64) -> OAuthError {
        OAuthError {
            code: OAuthErrorCode::TemporarilyUnavailable,
            description: "The server is busy; retry later.",
            retry_after: Some(retry_after),
            service_unavailable: true,
        }
    }

    /// `503`: the database is unreachable.
    pub const fn outage() -> OAuthError {
        OAuthError {
            code: OAuthErrorCode::TemporarilyUnavailable,
            description: "The service is temporarily unavailable; retry later.",
            retry_after: Some(OUTAGE_RETRY_AFTER),
            service_unavailable: true,
        }
    }

    pub const fn server_error() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::ServerError,
            "The server could not complete the request.",
        )
    }

    pub fn status(&self) -> Status {
        if self.service_unavailable {
            return Status::ServiceUnavailable;
        }
        match self.code {
            OAuthErrorCode::InvalidClient => Status::Unauthorized,
            OAuthErrorCode::TemporarilyUnavailable => Status::TooManyRequests,
            OAuthErrorCode::ServerError => Status::InternalServerError,
            _ => Status::BadRequest,
        }
    }

    pub fn body(&self) -> OAuthErrorBody {
        OAuthErrorBody {
            error: self.code.as_str().to_owned(),
            error_description: self.description.to_owned(),
        }
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(error: sqlx::Error) -> OAuthError {
        if is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable on an OAuth endpoint");
            return OAuthError::outage();
        }
        tracing::error!(%error, "database error on an OAuth endpoint");
        OAuthError::server_error()
    }
}

impl From<crate::password::Busy> for OAuthError {
    fn from(busy: crate::password::Busy) -> OAuthError {
        OAuthError::busy(busy.retry_after)
    }
}

impl<'r> Responder<'r, 'static> for OAuthError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = Response::build();
        response
            .status(self.status())
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Pragma", "no-cache"))
            .sized_body(body.len(), Cursor::new(body));
        if self.code == OAuthErrorCode::InvalidClient {
            response.header(Header::new(
                "WWW-Authenticate",
                r#"Basic realm="auth-server", charset="UTF-8""#,
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.header(Header::new("Retry-After", seconds.to_string()));
        }
        response.ok()
    }
}
