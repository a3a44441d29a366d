//! The one context of a token or authorization request: the server's
//! state it works with, the request's parameters, and what oxide-auth's
//! primitives learned while it ran.
//!
//! The primitives share it by reference, so what they learn (the client
//! that authenticated, the tokens minted, the precise reason for a refusal)
//! sits behind a mutex that is never held across an await. Two
//! translations happen here:
//! - oxide-auth's primitives can only answer `()` or "unspecified", and its
//!   flows turn that into a generic error. A primitive that knows the precise
//!   RFC 6749 error (a replayed code is `invalid_grant`, a client without the
//!   grant is `unauthorized_client`) records it first, and that wins.
//! - oxide-auth's `BearerToken` keeps its fields private and serialises
//!   `token_type: "bearer"` with a wall-clock `expires_in`; the issuer keeps
//!   what it minted, and the response is built from that.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use oxide_auth::code_grant::accesstoken::Error as AccessTokenError;
use oxide_auth::code_grant::authorization::ErrorUrl;
use oxide_auth::code_grant::client_credentials::Error as ClientCredentialsError;
use oxide_auth::code_grant::error::{AccessTokenErrorType, AuthorizationErrorType};
use oxide_auth::code_grant::refresh::Error as RefreshError;
use oxide_auth::primitives::registrar::RegistrarError;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use url::Url;

use super::client_auth::PresentedCredentials;
use super::{OAuthParams, RequestMeta, TokenSuccess};
use crate::config::AppConfig;
use crate::errors::{OAuthError, OAuthErrorCode};
use crate::store::clients::{Client, Clients};
use crate::store::db::Db;
use crate::token::TokenMinter;
use shared::clock::AppClock;

/// One token or authorization request's view of the server, and what the
/// primitives learned about it.
pub struct GrantContext<'r> {
    pub db: &'r Db,
    pub clients: &'r Clients,
    pub config: &'r AppConfig,
    pub tokens: &'r TokenMinter,
    /// The server's clock when the request arrived (Unix seconds).
    pub now: i64,
    pub meta: RequestMeta,
    /// The form of a token request; empty for an authorization request.
    pub params: OAuthParams,
    learned: Mutex<Learned>,
}

/// What the primitives found out, in the order a request meets it.
#[derive(Default)]
struct Learned {
    /// The client id the request presented, with or without a secret.
    presented_client: Option<String>,
    /// The last client looked up by id (binding, negotiation, checking).
    loaded: Option<Client>,
    /// The client that proved who it is; grant rules are checked on it.
    authenticated: Option<Client>,
    /// When the user of an authorization being granted signed in.
    auth_time: Option<i64>,
    /// The precise reason a primitive refused, which beats oxide-auth's.
    refusal: Option<OAuthError>,
    /// What the issuer minted, for the response.
    issued: Option<TokenSuccess>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for GrantContext<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let state = (|| {
            Some((
                rocket.state::<Db>()?,
                rocket.state::<Clients>()?,
                rocket.state::<AppConfig>()?,
                rocket.state::<Arc<TokenMinter>>()?,
                rocket.state::<AppClock>()?,
            ))
        })();
        let Some((db, clients, config, tokens, clock)) = state else {
            return Outcome::Error((Status::InternalServerError, "grant state is not managed"));
        };
        let mut context = GrantContext::new(db, clients, config, tokens, clock.0.now());
        context.meta = RequestMeta::of(request);
        Outcome::Success(context)
    }
}

impl<'r> GrantContext<'r> {
    /// A request with no parameters and nothing learned yet, at `now`.
    pub fn new(
        db: &'r Db,
        clients: &'r Clients,
        config: &'r AppConfig,
        tokens: &'r TokenMinter,
        now: i64,
    ) -> GrantContext<'r> {
        GrantContext {
            db,
            clients,
            config,
            tokens,
            now,
            meta: RequestMeta::default(),
            params: OAuthParams::default(),
            learned: Mutex::new(Learned::default()),
        }
    }

    /// The client credentials of the request (Basic header or body).
    pub fn credentials(&self) -> Result<PresentedCredentials, OAuthError> {
        PresentedCredentials::extract(
            self.meta.authorization.as_deref(),
            self.params.get("client_id"),
            self.params.get("client_secret"),
        )
    }

    /// The credentials of a request that must name its client and carry
    /// `required`, checked in that order before any flow runs.
    pub fn named_client(
        &self,
        required: &[&'static str],
    ) -> Result<PresentedCredentials, OAuthError> {
        let presented = self.credentials()?;
        for name in required {
            self.params.require(name)?;
        }
        if presented.client_id.is_none() {
            return Err(OAuthError::invalid_client());
        }
        Ok(presented)
    }

    /// The client the request names; a refresh token of another client is
    /// then refused without being touched.
    pub fn present(&self, presented: &PresentedCredentials) {
        self.learned().presented_client = presented.client_id.clone();
    }

    pub(super) fn presented_client(&self) -> Option<String> {
        self.learned().presented_client.clone()
    }

    /// The `resource` (RFC 8707) a token request names.
    fn resource(&self) -> Option<&str> {
        self.params.get("resource")
    }

    fn learned(&self) -> MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the user whose authorization is about to be stored signed in.
    pub fn signed_in_at(&self, auth_time: i64) {
        self.learned().auth_time = Some(auth_time);
    }

    /// May `client` have tokens for `resource`? `AUDIENCE` always; others
    /// only when registered for the client (`clients create --audience`).
    pub fn allows_resource(&self, client: &Client, resource: &str) -> bool {
        resource == self.tokens.audience()
            || client.metadata.audiences.iter().any(|a| a == resource)
    }

    /// The resource the access token is for: the one requested now, which
    /// must be the one authorized if there was one (RFC 8707 §2.2), or else
    /// the authorized one; `None` is `AUDIENCE`.
    pub(super) fn resource_for(
        &self,
        client: &Client,
        granted: Option<String>,
    ) -> Result<Option<String>, ()> {
        let target = match (self.resource(), granted) {
            (Some(requested), Some(granted)) if requested == granted => Some(granted),
            (Some(requested), None) if self.allows_resource(client, requested) => {
                Some(requested.to_owned())
            }
            (Some(_), _) => {
                self.refuse(OAuthError::invalid_target());
                return Err(());
            }
            (None, granted) => granted,
        };
        Ok(target.filter(|r| r != self.tokens.audience()))
    }

    /// Records why a primitive refused. The first reason is the one kept.
    pub fn refuse(&self, error: OAuthError) {
        self.learned().refusal.get_or_insert(error);
    }

    pub(super) fn db_failed(&self, error: sqlx::Error) {
        self.refuse(OAuthError::from(error));
    }

    /// The client that authenticated on this request.
    pub fn authenticated(&self) -> Option<Client> {
        self.learned().authenticated.clone()
    }

    /// The client the request is about, found by a primitive.
    pub fn loaded(&self) -> Option<Client> {
        self.learned().loaded.clone()
    }

    /// The client the request is now known to come from: one that proved
    /// it, or the password grant's built-in first-party client, which a
    /// request may use without naming it.
    pub fn authenticated_as(&self, client: Client) {
        self.learned().authenticated = Some(client);
    }

    /// When the user of the authorization being granted signed in.
    pub(super) fn auth_time(&self) -> Option<i64> {
        self.learned().auth_time
    }

    /// What the issuer minted, for [`conclude`](Self::conclude).
    pub(super) fn record_issued(&self, success: TokenSuccess) {
        self.learned().issued = Some(success);
    }

    pub(super) fn authenticated_or_refuse(&self) -> Result<Client, ()> {
        self.authenticated().ok_or_else(|| {
            tracing::error!("a grant primitive ran before client authentication");
            self.refuse(OAuthError::server_error());
        })
    }

    /// Loads a client by id, once per request.
    pub(super) async fn load_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Client>, RegistrarError> {
        if let Some(client) = self.loaded().filter(|c| c.id == client_id) {
            return Ok(Some(client));
        }
        let client = self.clients.find(client_id).await.map_err(|e| {
            self.db_failed(e);
            RegistrarError::PrimitiveError
        })?;
        if let Some(client) = &client {
            self.learned().loaded = Some(client.clone());
        }
        Ok(client)
    }

    /// The token response, or why the request failed: the primitive's own
    /// reason if it gave one, else oxide-auth's translated.
    pub fn conclude<T>(
        &self,
        outcome: Result<T, impl FlowError>,
    ) -> Result<TokenSuccess, OAuthError> {
        match outcome {
            Ok(_) => self.learned().issued.take().ok_or_else(|| {
                tracing::error!("a grant flow succeeded without issuing");
                OAuthError::server_error()
            }),
            Err(error) => Err(self.refusal_or(error.kind())),
        }
    }

    /// An error redirect of the authorization flow, carrying the recorded
    /// reason when a primitive gave one.
    pub fn error_redirect(&self, mut error: ErrorUrl) -> Url {
        let mut rename_error = None;
        let description = match self.learned().refusal.take() {
            Some(refusal) => {
                let kind = match refusal.code {
                    OAuthErrorCode::UnauthorizedClient => {
                        AuthorizationErrorType::UnauthorizedClient
                    }
                    OAuthErrorCode::InvalidScope => AuthorizationErrorType::InvalidScope,
                    OAuthErrorCode::TemporarilyUnavailable => {
                        AuthorizationErrorType::TemporarilyUnavailable
                    }
                    OAuthErrorCode::ServerError => AuthorizationErrorType::ServerError,
                    _ => AuthorizationErrorType::InvalidRequest,
                };
                error.description().set_type(kind);
                // oxide-auth has no RFC 8707 `invalid_target`: renamed below.
                if refusal.code == OAuthErrorCode::InvalidTarget {
                    rename_error = Some(refusal.code.as_str());
                }
                refusal.description
            }
            None => match error.description().kind() {
                AuthorizationErrorType::UnsupportedResponseType => {
                    "Only response_type=code is supported."
                }
                AuthorizationErrorType::InvalidScope => {
                    "The requested scope is invalid, unknown, or not allowed."
                }
                AuthorizationErrorType::AccessDenied => "The user denied the request.",
                _ => "The authorization request is invalid.",
            },
        };
        // oxide-auth 0.6 would send its explanation as `description`;
        // RFC 6749 §4.1.2.1 names the parameter `error_description`.
        let mut url: Url = error.into();
        if let Some(code) = rename_error {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "error" { code.into() } else { v };
                    (k.into_owned(), v.into_owned())
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.query_pairs_mut()
            .append_pair("error_description", description);
        url
    }

    fn refusal_or(&self, kind: Option<AccessTokenErrorType>) -> OAuthError {
        self.failure(translate(kind))
    }

    /// Why the request failed: a primitive's recorded reason, or `fallback`.
    pub fn failure(&self, fallback: OAuthError) -> OAuthError {
        self.learned().refusal.take().unwrap_or(fallback)
    }
}

/// The error kinds of oxide-auth's three token flows, for translation.
pub trait FlowError {
    fn kind(self) -> Option<AccessTokenErrorType>;
}

/// A primitive called directly, outside a flow: its reason is recorded.
impl FlowError for () {
    fn kind(self) -> Option<AccessTokenErrorType> {
        None
    }
}

impl FlowError for AccessTokenError {
    fn kind(mut self) -> Option<AccessTokenErrorType> {
        self.description().map(|d| d.kind())
    }
}

impl FlowError for RefreshError {
    fn kind(mut self) -> Option<AccessTokenErrorType> {
        self.description().map(|d| d.kind())
    }
}

impl FlowError for ClientCredentialsError {
    fn kind(mut self) -> Option<AccessTokenErrorType> {
        self.description().map(|d| d.kind())
    }
}

/// oxide-auth's error kinds in our wording. Primitive failures (`None`)
/// without a recorded reason are server errors.
fn translate(kind: Option<AccessTokenErrorType>) -> OAuthError {
    match kind {
        Some(AccessTokenErrorType::InvalidRequest) => OAuthError::invalid_request(
            "The request is missing a required parameter or is malformed.",
        ),
        Some(AccessTokenErrorType::InvalidClient) => OAuthError::invalid_client(),
        Some(AccessTokenErrorType::InvalidGrant) => OAuthError::invalid_grant(
            "The grant is invalid, expired, revoked, or was issued to another client.",
        ),
        Some(AccessTokenErrorType::UnauthorizedClient) => {
            OAuthError::unauthorized_client("This client may not use this grant.")
        }
        Some(AccessTokenErrorType::UnsupportedGrantType) => OAuthError::unsupported_grant_type(),
        Some(AccessTokenErrorType::InvalidScope) => OAuthError::invalid_scope(),
        None => OAuthError::server_error(),
    }
}
