//! One run of an oxide-auth flow over one request ([`Flow`]), and the side
//! channel its primitives share: oxide-auth hands each primitive only its
//! own arguments, so what they find out on the way (the client that
//! authenticated, the user read, the tokens minted, the precise reason for
//! a refusal) is kept here, behind a mutex that is never held across an
//! await. Only the primitives of this adapter write to it; the code that
//! runs a flow reads the outcome with [`Flow::conclude`] or
//! [`Flow::error_redirect`].
//!
//! Two translations happen here:
//! - oxide-auth's primitives can only answer `()` or "unspecified", and its
//!   flows turn that into a generic error. A primitive that knows the precise
//!   RFC 6749 error (a replayed code is `invalid_grant`, a client without the
//!   grant is `unauthorized_client`) records it first, and that wins.
//! - oxide-auth's `BearerToken` keeps its fields private and serialises
//!   `token_type: "bearer"` with a wall-clock `expires_in`; the issuer keeps
//!   what it minted, and the response is built from that.

use std::sync::{Mutex, MutexGuard, PoisonError};

use oxide_auth::code_grant::accesstoken::Error as AccessTokenError;
use oxide_auth::code_grant::authorization::ErrorUrl;
use oxide_auth::code_grant::client_credentials::Error as ClientCredentialsError;
use oxide_auth::code_grant::error::{AccessTokenErrorType, AuthorizationErrorType};
use oxide_auth::code_grant::refresh::Error as RefreshError;
use oxide_auth::primitives::registrar::RegistrarError;
use url::Url;

use crate::errors::{OAuthError, OAuthErrorCode};
use crate::oauth::client_auth::PresentedCredentials;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::TokenForm;
use crate::oauth::mint::TokenSuccess;
use crate::store::clients::Client;
use crate::store::codes::StoredCode;
use crate::store::refresh_families;
use crate::store::sessions::SignedIn;
use crate::store::users::{self, User};

/// One request's run of an oxide-auth flow.
pub struct Flow<'r> {
    pub ctx: &'r GrantContext<'r>,
    /// The token request's form; `None` for the authorization request.
    form: Option<&'r TokenForm>,
    /// The client id the request presented, with or without a secret: a
    /// refresh token of another client is then refused without being
    /// touched.
    presented_client: Option<String>,
    learned: Mutex<Learned>,
}

/// What the primitives found out, in the order a request meets it.
#[derive(Default)]
struct Learned {
    /// The last client looked up by id (binding, negotiation, checking).
    loaded: Option<Client>,
    /// The client that proved who it is; grant rules are checked on it.
    authenticated: Option<Client>,
    /// The client whose assertion was checked before the flow ran.
    asserted: Option<Client>,
    /// The user of the grant, read once.
    user: Option<User>,
    /// When the user of an authorization being granted signed in, and in
    /// which session.
    signed_in: Option<SignedIn>,
    /// The precise reason a primitive refused, which beats oxide-auth's.
    refusal: Option<OAuthError>,
    /// What the issuer minted, for the response.
    issued: Option<TokenSuccess>,
}

impl<'r> Flow<'r> {
    /// A token request's flow: `form` and the credentials it presented.
    pub fn token(
        ctx: &'r GrantContext<'r>,
        form: &'r TokenForm,
        presented: &PresentedCredentials,
    ) -> Flow<'r> {
        Flow {
            ctx,
            form: Some(form),
            presented_client: presented.client_id.clone(),
            learned: Mutex::default(),
        }
    }

    /// The authorization request's flow, for `user` when one is signed in.
    pub fn authorization(ctx: &'r GrantContext<'r>, user: Option<(&User, &SignedIn)>) -> Flow<'r> {
        let learned = Learned {
            user: user.map(|(user, _)| user.clone()),
            signed_in: user.map(|(_, signed_in)| signed_in.clone()),
            ..Learned::default()
        };
        Flow {
            ctx,
            form: None,
            presented_client: None,
            learned: Mutex::new(learned),
        }
    }

    fn learned(&self) -> MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `resource` (RFC 8707) a token request names.
    pub(super) fn requested_resource(&self) -> Option<&str> {
        self.form.and_then(|form| form.resource.as_deref())
    }

    pub(super) fn presented_client(&self) -> Option<&str> {
        self.presented_client.as_deref()
    }

    /// Records why a primitive refused. The first reason is the one kept.
    pub(super) fn refuse(&self, error: OAuthError) {
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

    /// The client a `private_key_jwt` assertion of this request proved.
    pub fn proven_by_assertion(&self, client: Client) {
        self.learned().asserted = Some(client);
    }

    /// The client an assertion proved, if it is `client_id`.
    pub(super) fn asserted(&self, client_id: &str) -> Option<Client> {
        self.learned()
            .asserted
            .clone()
            .filter(|c| c.id == client_id)
    }

    /// The client the request is now known to come from.
    pub(super) fn authenticated_as(&self, client: Client) {
        self.learned().authenticated = Some(client);
    }

    pub(super) fn authenticated_or_refuse(&self) -> Result<Client, ()> {
        self.authenticated().ok_or_else(|| {
            tracing::error!("a grant primitive ran before client authentication");
            self.refuse(OAuthError::server_error());
        })
    }

    /// When the user of the authorization being granted signed in.
    pub(super) fn auth_time(&self) -> Option<i64> {
        self.learned().signed_in.as_ref().map(|s| s.auth_time)
    }

    /// The session (`sid`) of the authorization being granted.
    pub(super) fn sid(&self) -> Option<String> {
        self.learned()
            .signed_in
            .as_ref()
            .and_then(|s| s.sid.clone())
    }

    /// Loads a client by id, once per request.
    pub(super) async fn load_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Client>, RegistrarError> {
        if let Some(client) = self.loaded().filter(|c| c.id == client_id) {
            return Ok(Some(client));
        }
        let client = self.ctx.clients.find(client_id).await.map_err(|e| {
            self.db_failed(e);
            RegistrarError::PrimitiveError
        })?;
        if let Some(client) = &client {
            self.learned().loaded = Some(client.clone());
        }
        Ok(client)
    }

    /// The user of the grant, read once per request; `None` when the
    /// account is gone.
    pub(super) async fn user(&self, user_id: &str) -> Result<Option<User>, ()> {
        let known = self.learned().user.clone();
        if let Some(user) = known.filter(|u| u.id == user_id) {
            return Ok(Some(user));
        }
        let user = users::find_by_id(self.ctx.db, user_id)
            .await
            .map_err(|e| self.db_failed(e))?;
        self.learned().user.clone_from(&user);
        Ok(user)
    }

    /// What the issuer minted, for [`conclude`](Self::conclude).
    pub(super) fn record_issued(&self, success: TokenSuccess) {
        self.learned().issued = Some(success);
    }

    /// RFC 6749 §4.1.2: a code used twice SHOULD revoke what it issued.
    pub(super) async fn revoke_what_code_issued(&self, stored: &StoredCode) -> Result<(), ()> {
        let access_expires_at = self.ctx.now + self.ctx.tokens.ttl();
        if let Some(jti) = &stored.access_jti {
            refresh_families::revoke_access_token(self.ctx.db, jti, access_expires_at)
                .await
                .map_err(|e| self.db_failed(e))?;
        }
        if let Some(family) = &stored.family_id {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    pub(super) async fn revoke_family(&self, family: &str) -> Result<(), ()> {
        let ctx = self.ctx;
        let access_expires_at = ctx.now + ctx.tokens.ttl();
        refresh_families::revoke_family(ctx.db, family, ctx.now, access_expires_at)
            .await
            .map_err(|e| self.db_failed(e))
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
            Err(error) => Err(self.failure(translate(error.kind()))),
        }
    }

    /// Why the request failed: a primitive's recorded reason, or `fallback`.
    pub fn failure(&self, fallback: OAuthError) -> OAuthError {
        self.learned().refusal.take().unwrap_or(fallback)
    }

    /// An error redirect of the authorization flow, carrying the recorded
    /// reason when a primitive gave one, else `reason` when the caller
    /// knows better than oxide-auth.
    pub fn error_redirect(&self, mut error: ErrorUrl, reason: Option<OAuthError>) -> Url {
        let mut rename_error = None;
        let refusal = self.learned().refusal.take().or(reason);
        let description = match refusal {
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
