//! The adapter's error type, [`WebError`]: everything that can fail between
//! Rocket and an oxide-auth flow, answered in the RFC 6749 §5.2 format.

use oxide_auth::endpoint::OAuthError;
use oxide_auth::frontends::simple::endpoint::Error as SimpleError;
use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use std::io::Cursor;

use super::OAuthRequest;

/// Why a request could not be turned into an oxide-auth request, or a flow
/// into a response.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The flow itself gave up (bad request, silent denial, or a primitive
    /// such as the registrar or issuer failed).
    #[error("oauth endpoint: {0}")]
    Endpoint(OAuthError),
    /// A flow tried to set a header value that is not a valid header.
    #[error("invalid header value")]
    Header,
    /// The endpoint needs a form body and the request did not carry one.
    #[error("request body is not application/x-www-form-urlencoded")]
    NotAForm,
    /// The form body is larger than Rocket's `form` limit.
    #[error("request body is larger than the form limit")]
    TooLarge,
    /// More than one `Authorization` header.
    #[error("more than one Authorization header")]
    Authorization,
    /// The body could not be read (client went away, bad transfer encoding).
    #[error("reading the request body failed: {0}")]
    Io(#[from] std::io::Error),
}

impl WebError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> Status {
        match self {
            WebError::Endpoint(OAuthError::PrimitiveError) | WebError::Header => {
                Status::InternalServerError
            }
            WebError::Endpoint(OAuthError::DenySilently | OAuthError::BadRequest)
            | WebError::NotAForm
            | WebError::Authorization
            | WebError::Io(_) => Status::BadRequest,
            WebError::TooLarge => Status::PayloadTooLarge,
        }
    }

    /// The RFC 6749 error code and a fixed description for the client. Server
    /// faults get a generic text: their cause belongs in the log only.
    pub fn oauth_error(&self) -> (&'static str, &'static str) {
        match self {
            WebError::Endpoint(OAuthError::PrimitiveError) | WebError::Header => {
                ("server_error", "the server could not complete the request")
            }
            WebError::Endpoint(OAuthError::DenySilently | OAuthError::BadRequest) => {
                ("invalid_request", "the request is invalid")
            }
            WebError::NotAForm => (
                "invalid_request",
                "the request body must be application/x-www-form-urlencoded",
            ),
            WebError::TooLarge => ("invalid_request", "the request body is too large"),
            WebError::Authorization => ("invalid_request", "more than one Authorization header"),
            WebError::Io(_) => ("invalid_request", "the request body could not be read"),
        }
    }
}

impl From<OAuthError> for WebError {
    fn from(error: OAuthError) -> Self {
        WebError::Endpoint(error)
    }
}

impl From<SimpleError<OAuthRequest>> for WebError {
    fn from(error: SimpleError<OAuthRequest>) -> Self {
        match error {
            SimpleError::Web(error) => error,
            SimpleError::OAuth(error) => WebError::Endpoint(error),
        }
    }
}

impl<'r> Responder<'r, 'static> for WebError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let status = self.status();
        if status.code >= 500 {
            tracing::error!(error = %self, "oauth endpoint failed");
        }
        let (error, description) = self.oauth_error();
        let body =
            serde_json::json!({ "error": error, "error_description": description }).to_string();
        Response::build()
            .status(status)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_cause() {
        assert_eq!(
            WebError::Endpoint(OAuthError::PrimitiveError).status(),
            Status::InternalServerError
        );
        assert_eq!(
            WebError::Endpoint(OAuthError::BadRequest).status(),
            Status::BadRequest
        );
        assert_eq!(
            WebError::Endpoint(OAuthError::DenySilently).status(),
            Status::BadRequest
        );
        assert_eq!(WebError::TooLarge.status(), Status::PayloadTooLarge);
        assert_eq!(WebError::NotAForm.status(), Status::BadRequest);
        assert_eq!(WebError::Authorization.status(), Status::BadRequest);
    }

    #[test]
    fn server_faults_do_not_describe_themselves() {
        let (code, description) = WebError::Endpoint(OAuthError::PrimitiveError).oauth_error();
        assert_eq!(code, "server_error");
        assert!(!description.contains("Primitive"));
    }
}
