//! The token endpoint's answers: the RFC 6749 §5.1 success, never cached,
//! and its failures.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use shared::oauth::TokenResponse;

use crate::errors::{ApiError, OAuthError};
use crate::token::MintedToken;

/// A successful token response (RFC 6749 §5.1): never cached.
#[derive(Debug)]
pub struct TokenSuccess(pub TokenResponse);

impl TokenSuccess {
    pub fn new(minted: MintedToken, scope: String, refresh_token: Option<String>) -> TokenSuccess {
        TokenSuccess(TokenResponse {
            access_token: minted.token,
            token_type: "Bearer".into(),
            expires_in: minted.expires_in,
            scope,
            refresh_token,
            id_token: None,
        })
    }
}

impl<'r> Responder<'r, 'static> for TokenSuccess {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_vec(&self.0).map_err(|_| Status::InternalServerError)?;
        Response::build()
            .status(Status::Ok)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Pragma", "no-cache"))
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Failures of the token endpoint: OAuth errors, or a body over the limit.
#[derive(Debug, Responder)]
pub enum TokenFailure {
    OAuth(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for TokenFailure {
    fn from(error: OAuthError) -> Self {
        TokenFailure::OAuth(error)
    }
}
