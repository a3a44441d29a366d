//! Every error outside the OAuth endpoints, as problem details (RFC 9457,
//! `application/problem+json`): [`ApiError`] and its one responder.
//! Internal causes are logged and answered with a generic 500 that never
//! carries a database message; work that cannot be done now but soon can
//! (the database unreachable, too many password hashes waiting) is `503`
//! with `Retry-After`, never a `500`.

use platform::db::{OUTAGE_RETRY_AFTER, is_unavailable};
use rocket::Request;
use rocket::http::Header;
use rocket::response::{self, Responder};
use shared::problem::{FieldError, Problem};

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

impl From<crate::password_hash::HashError> for ApiError {
    fn from(error: crate::password_hash::HashError) -> ApiError {
        match error {
            crate::password_hash::HashError::Busy(busy) => ApiError::Busy(busy.retry_after),
            crate::password_hash::HashError::Failed(message) => ApiError::Internal(message),
        }
    }
}
