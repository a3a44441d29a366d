//! The one error type of the service's routes and its single responder:
//! RFC 6750 challenges for bearer failures, problem+json (RFC 9457) for
//! everything else, `503` with `Retry-After` while the database cannot be
//! reached, and a plain 500 that hides internals (which are logged).

use rocket::Request;
use rocket::http::Header;
use rocket::response::{self, Responder};
use shared::access::AccessError;
use shared::problem::{FieldError, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("access refused")]
    Access(AccessError),
    #[error("not found")]
    NotFound(&'static str),
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("body is not JSON")]
    NotJson,
    #[error("body names a member twice")]
    DuplicateMember,
    #[error("body is not application/json")]
    UnsupportedMediaType,
    #[error("body too large")]
    TooLarge,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("encoding the answer: {0}")]
    Encoding(#[from] serde_json::Error),
}

impl From<AccessError> for ProfileError {
    fn from(error: AccessError) -> ProfileError {
        ProfileError::Access(error)
    }
}

impl<'r> Responder<'r, 'static> for ProfileError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let problem = match self {
            ProfileError::Access(error) => return error.respond_to(request),
            ProfileError::NotFound(detail) => Problem::new(404, detail),
            ProfileError::Invalid(errors) => {
                Problem::new(422, "Some fields are not valid.").with_errors(errors)
            }
            ProfileError::NotJson => Problem::new(400, "The request body is not valid JSON."),
            ProfileError::DuplicateMember => {
                Problem::new(400, "The request body names a member twice.")
            }
            ProfileError::UnsupportedMediaType => {
                Problem::new(415, "The request body must be application/json.")
            }
            ProfileError::TooLarge => {
                Problem::new(413, "The request body is larger than the limit of 64 KiB.")
            }
            ProfileError::Database(error) if platform::db::is_unavailable(&error) => {
                tracing::warn!(%error, "database unavailable");
                let mut response =
                    Problem::new(503, "The service is temporarily unavailable; retry later.")
                        .respond_to(request)?;
                response.set_header(Header::new(
                    "Retry-After",
                    platform::db::OUTAGE_RETRY_AFTER.to_string(),
                ));
                return Ok(response);
            }
            ProfileError::Database(error) => {
                tracing::error!(%error, "database error");
                Problem::new(500, "An internal error occurred.")
            }
            ProfileError::Encoding(error) => {
                tracing::error!(%error, "encoding a profile failed");
                Problem::new(500, "An internal error occurred.")
            }
        };
        problem.respond_to(request)
    }
}
