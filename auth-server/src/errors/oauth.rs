//! The OAuth endpoints' errors (RFC 6749 §5.2, RFC 6750 §3, RFC 8707 §2):
//! [`OAuthError`] and the one function that writes their JSON,
//! `{"error", "error_description"}` ([`error_response`], on the framing of
//! every OAuth JSON answer, [`json_answer`]), never cached, with `WWW-Authenticate`
//! when client authentication failed and `Retry-After` when the client
//! should wait: `429` when throttled, `503` when the database is
//! unreachable or too many password hashes wait, never a `500` for that.

use std::io::Cursor;

use platform::db::{OUTAGE_RETRY_AFTER, is_unavailable};
use rocket::Request;
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder, Response};
use shared::oauth::OAuthErrorBody;

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
    /// RFC 8628 §3.5: the device grant's answers while it is polled.
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    /// RFC 6749 §4.1.2.1, answered by `/oauth/par` as JSON.
    UnsupportedResponseType,
    /// RFC 9101 §6.3: a request object, which this server does not take.
    RequestNotSupported,
    /// `429`: too many failed attempts, or `503`: the database is
    /// unreachable or the server too busy; either way the client should
    /// wait `Retry-After`.
    TemporarilyUnavailable,
    ServerError,
    /// RFC 9449 §5: a DPoP proof missing where one is required, or bad.
    InvalidDpopProof,
    /// RFC 9449 §8: the proof must carry the server's nonce, sent in the
    /// `DPoP-Nonce` header of the answer.
    UseDpopNonce,
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
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::RequestNotSupported => "request_not_supported",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
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

    /// RFC 9449 §5.
    pub const fn invalid_dpop_proof(description: &'static str) -> OAuthError {
        OAuthError::new(OAuthErrorCode::InvalidDpopProof, description)
    }

    /// RFC 9449 §8: the answer carries a fresh nonce (the token endpoint
    /// adds `DPoP-Nonce` whenever nonces are on).
    pub const fn use_dpop_nonce() -> OAuthError {
        OAuthError::new(
            OAuthErrorCode::UseDpopNonce,
            "The DPoP proof must carry the server's nonce.",
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

impl From<crate::password_hash::Busy> for OAuthError {
    fn from(busy: crate::password_hash::Busy) -> OAuthError {
        OAuthError::busy(busy.retry_after)
    }
}

impl<'r> Responder<'r, 'static> for OAuthError {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = error_response(self.status(), &self.body());
        if self.code == OAuthErrorCode::InvalidClient {
            response.set_header(Header::new(
                "WWW-Authenticate",
                r#"Basic realm="auth-server", charset="UTF-8""#,
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.set_header(Header::new("Retry-After", seconds.to_string()));
        }
        Ok(response)
    }
}

/// Every OAuth error answer, whatever endpoint gives it: `status` and the
/// JSON body, never stored by a cache. The caller adds its challenge.
pub fn error_response(status: Status, body: &OAuthErrorBody) -> Response<'static> {
    json_answer(status, body)
}

/// Every JSON answer of an OAuth endpoint, success or error (RFC 6749
/// §5.1, §5.2; RFC 7662 §4): `status` and `body`, never stored by a cache.
pub fn json_answer(status: Status, body: &impl serde::Serialize) -> Response<'static> {
    let body = serde_json::to_vec(body).unwrap_or_default();
    Response::build()
        .status(status)
        .header(ContentType::JSON)
        .header(Header::new("Cache-Control", "no-store"))
        .header(Header::new("Pragma", "no-cache"))
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}
