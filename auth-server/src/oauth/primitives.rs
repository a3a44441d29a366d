//! oxide-auth's primitives over our own tables, shared by every grant:
//!
//! - [`ClientRegistrar`]: the `clients` table (exact redirect URIs, scopes,
//!   SHA-256 secrets compared in constant time, public clients);
//! - [`CodeAuthorizer`]: one-time authorization codes, stored hashed and
//!   bound to client, redirect URI, user, scope and PKCE challenge;
//! - [`JwtIssuer`]: the RFC 9068 access tokens of [`TokenIssuer`] (the one
//!   minting function) and opaque rotating refresh tokens stored hashed;
//! - [`GrantChecks`]: the per-client rules oxide-auth has no place for
//!   (allowed grants, PKCE required for public clients, `plain` refused).
//!
//! oxide-auth-async's code-grant state machines drive them for the
//! authorization request and the authorization code, refresh and client
//! credentials grants ([`GrantEndpoint`]); the password grant, which
//! oxide-auth lacks, calls the registrar and the issuer directly.
//!
//! Two translations are needed, both kept in [`GrantSession`]:
//! - oxide-auth's primitives can only answer `()` or "unspecified", and its
//!   flows turn that into a generic error. A primitive that knows the precise
//!   RFC 6749 error (a replayed code is `invalid_grant`, a client without the
//!   grant is `unauthorized_client`) records it first, and that wins.
//! - oxide-auth's `BearerToken` keeps its fields private and serialises
//!   `token_type: "bearer"` with a wall-clock `expires_in`; the issuer keeps
//!   what it minted, and the response is built from that.
//!
//! Time: our primitives decide expiry with the server's clock (a parameter
//! in tests); oxide-auth compares `Grant::until` with the wall clock, so
//! `until` is "wall-clock now plus the lifetime left on ours".

use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use oxide_auth::code_grant::accesstoken::{
    Authorization, Error as AccessTokenError, Request as AccessTokenRequest,
};
use oxide_auth::code_grant::authorization::{ErrorUrl, Request as AuthorizationRequest};
use oxide_auth::code_grant::client_credentials::{
    Error as ClientCredentialsError, Request as ClientCredentialsRequest,
};
use oxide_auth::code_grant::error::{AccessTokenErrorType, AuthorizationErrorType};
use oxide_auth::code_grant::refresh::{Error as RefreshError, Request as RefreshRequest};
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, RegistrarError,
};
use oxide_auth::primitives::scope::Scope as OxideScope;
use oxide_auth_async::code_grant::{access_token, authorization, client_credentials, refresh};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};
use rocket::async_trait;
use shared::scope::{Scope, ScopeSet};
use url::Url;

use super::password::{current_rights, granted_scope, user_scopes};
use super::{TokenParams, TokenSuccess, codes, pkce, refresh_tokens};
use crate::clients::{self, Client, PresentedCredentials};
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::token::{Subject, TokenIssuer, new_jti};
use crate::users;

const BAD_CODE: &str = "The authorization code is invalid, expired, or was already used.";
const BAD_REFRESH: &str = "The refresh token is invalid, expired, or revoked.";

/// Grants that redirect nowhere (client credentials, password, refresh)
/// still need a URL in oxide-auth's `Grant`; this one can never be a
/// redirect target, and only the code flow ever redirects.
const NO_REDIRECT: &str = "urn:x-auth-server:no-redirect";

/// Private grant extensions: facts a grant carries from one primitive to
/// the next (never sent to a client).
pub mod ext {
    /// The plain code being exchanged: marks a code exchange, whose access
    /// token id and refresh family were bound to the code as it was spent.
    pub const CODE: &str = "code";
    /// The `jti` chosen for the access token before minting.
    pub const ACCESS_JTI: &str = "access_jti";
    /// The PKCE S256 challenge of the authorization request.
    pub const CHALLENGE: &str = "code_challenge";
    /// The redirect URI exactly as the authorization request sent it.
    pub const REDIRECT_URI: &str = "redirect_uri";
    /// The refresh-token family a rotation continues, or a code exchange
    /// begun.
    pub const FAMILY: &str = "refresh_family";
    /// The scope of the original grant, which a narrowed refresh keeps for
    /// the next rotation (RFC 6749 §6).
    pub const GRANT_SCOPE: &str = "grant_scope";
    /// Present when the client acts for itself (client credentials).
    pub const CLIENT_SUBJECT: &str = "client_subject";
    /// OpenID Connect: the authorization request's `nonce`, for the id_token.
    pub const NONCE: &str = "nonce";
    /// OpenID Connect: when the user signed in (unix seconds).
    pub const AUTH_TIME: &str = "auth_time";
    /// RFC 8707: the resource the grant was authorized for.
    pub const RESOURCE: &str = "resource";
}

/// The longest `nonce` accepted: it is stored and echoed in every id_token
/// of the grant, and real ones are a few dozen characters.
pub const MAX_NONCE_CHARS: usize = 512;

fn private(extensions: &Extensions, key: &str) -> Option<String> {
    extensions
        .private()
        .find(|(name, _)| *name == key)
        .and_then(|(_, value)| value.map(str::to_owned))
}

fn set_private(extensions: &mut Extensions, key: &str, value: impl Into<String>) {
    extensions.set_raw(key.to_owned(), Value::private(Some(value.into())));
}

fn to_oxide(scope: &ScopeSet) -> Result<OxideScope, ()> {
    scope.to_string().parse().map_err(|_| ())
}

fn from_oxide(scope: &OxideScope) -> ScopeSet {
    ScopeSet::parse(&scope.to_string())
}

/// `expires_at` on our clock, as a wall-clock instant for oxide-auth.
fn wall_deadline(expires_at: i64, now: i64) -> DateTime<Utc> {
    let left = TimeDelta::try_seconds(expires_at.saturating_sub(now)).unwrap_or_default();
    DateTime::<Utc>::from(shared::clock::system_time())
        .checked_add_signed(left)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn no_redirect() -> Result<Url, ()> {
    Url::parse(NO_REDIRECT).map_err(|_| ())
}

fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One token or authorization request's view of the server: what the
/// primitives share, and what they learned.
pub struct GrantSession<'a> {
    pub db: &'a Db,
    pub config: &'a AppConfig,
    pub tokens: &'a TokenIssuer,
    pub now: i64,
    /// The client id the request presented, with or without a secret.
    presented_client: Option<String>,
    /// The last client looked up by id (binding, negotiation, checking).
    loaded: Mutex<Option<Client>>,
    /// The client that proved who it is; grant rules are checked on it.
    authenticated: Mutex<Option<Client>>,
    /// The precise reason a primitive refused, which beats oxide-auth's.
    refusal: Mutex<Option<OAuthError>>,
    /// What the issuer minted, for the response.
    issued: Mutex<Option<TokenSuccess>>,
    /// RFC 8707: the `resource` of a token request.
    resource: Option<String>,
    /// When the user of an authorization being granted signed in.
    auth_time: Mutex<Option<i64>>,
}

impl<'a> GrantSession<'a> {
    pub fn new(
        db: &'a Db,
        config: &'a AppConfig,
        tokens: &'a TokenIssuer,
        now: i64,
        presented_client: Option<String>,
    ) -> GrantSession<'a> {
        GrantSession {
            db,
            config,
            tokens,
            now,
            presented_client,
            loaded: Mutex::new(None),
            authenticated: Mutex::new(None),
            refusal: Mutex::new(None),
            issued: Mutex::new(None),
            resource: None,
            auth_time: Mutex::new(None),
        }
    }

    /// The `resource` (RFC 8707) a token request names.
    pub fn with_resource(mut self, resource: Option<&str>) -> GrantSession<'a> {
        self.resource = resource.map(str::to_owned);
        self
    }

    /// When the user whose authorization is about to be stored signed in.
    pub fn signed_in_at(&self, auth_time: i64) {
        *lock(&self.auth_time) = Some(auth_time);
    }

    /// May `client` have tokens for `resource`? `AUDIENCE` always; others
    /// only when registered for the client (`clients create --audience`).
    pub fn allows_resource(&self, client: &Client, resource: &str) -> bool {
        resource == self.tokens.audience() || client.audiences.iter().any(|a| a == resource)
    }

    /// The resource the access token is for: the one requested now, which
    /// must be the one authorized if there was one (RFC 8707 §2.2), or else
    /// the authorized one; `None` is `AUDIENCE`.
    fn resource_for(&self, client: &Client, granted: Option<String>) -> Result<Option<String>, ()> {
        let target = match (self.resource.as_deref(), granted) {
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
        lock(&self.refusal).get_or_insert(error);
    }

    fn db_failed(&self, error: sqlx::Error) {
        self.refuse(OAuthError::from(error));
    }

    /// The client that authenticated on this request.
    pub fn authenticated(&self) -> Option<Client> {
        lock(&self.authenticated).clone()
    }

    /// The client the request is about, found by a primitive.
    pub fn loaded(&self) -> Option<Client> {
        lock(&self.loaded).clone()
    }

    /// For the password grant's built-in first-party client, which a
    /// request may use without naming it.
    pub fn assume_client(&self, client: Client) {
        *lock(&self.authenticated) = Some(client);
    }

    fn authenticated_or_refuse(&self) -> Result<Client, ()> {
        self.authenticated().ok_or_else(|| {
            tracing::error!("a grant primitive ran before client authentication");
            self.refuse(OAuthError::server_error());
        })
    }

    /// Loads a client by id, once per request.
    async fn load_client(&self, client_id: &str) -> Result<Option<Client>, RegistrarError> {
        if let Some(client) = self.loaded().filter(|c| c.id == client_id) {
            return Ok(Some(client));
        }
        let client = clients::find(self.db, client_id).await.map_err(|e| {
            self.db_failed(e);
            RegistrarError::PrimitiveError
        })?;
        if let Some(client) = &client {
            *lock(&self.loaded) = Some(client.clone());
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
            Ok(_) => lock(&self.issued).take().ok_or_else(|| {
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
        let description = match lock(&self.refusal).take() {
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
        lock(&self.refusal).take().unwrap_or(fallback)
    }

    /// Mints the access token (and refresh token, where the client may
    /// refresh) for a grant: the one path every grant's tokens take.
    /// `rotating` is the refresh token presented, when this is a rotation.
    async fn mint(&self, grant: &Grant, rotating: Option<&str>) -> Result<IssuedToken, ()> {
        let client = self.authenticated_or_refuse()?;
        if client.id != grant.client_id {
            tracing::error!("a grant for another client reached the issuer");
            self.refuse(OAuthError::server_error());
            return Err(());
        }
        let scope = from_oxide(&grant.scope);
        let signing_failed = |_| self.refuse(OAuthError::server_error());
        let extensions = &grant.extensions;

        let resource = self.resource_for(&client, private(extensions, ext::RESOURCE))?;
        let resource = resource.as_deref();
        let mut id_token = None;

        let (minted, refresh) = if private(extensions, ext::CLIENT_SUBJECT).is_some() {
            let minted = self
                .tokens
                .mint_for(
                    Subject::Client,
                    &client.id,
                    &scope,
                    self.now,
                    new_jti(),
                    resource,
                )
                .map_err(signing_failed)?;
            (minted, None)
        } else {
            let user = users::find_by_id(self.db, &grant.owner_id)
                .await
                .map_err(|e| self.db_failed(e))?;
            let Some(user) = user else {
                self.refuse(OAuthError::invalid_grant(
                    "The user of this grant no longer exists.",
                ));
                return Err(());
            };
            let subject = Subject::User {
                id: &user.id,
                email: &user.email,
                name: &user.name,
            };
            // A code exchange chose its jti when it spent the code.
            let jti = private(extensions, ext::ACCESS_JTI).unwrap_or_else(new_jti);
            // Signed before any transaction, so no lock waits on RSA.
            let minted = self
                .tokens
                .mint_for(subject, &client.id, &scope, self.now, jti, resource)
                .map_err(signing_failed)?;
            if scope.has(Scope::OpenId) {
                let auth_time = private(extensions, ext::AUTH_TIME).and_then(|t| t.parse().ok());
                let claims = super::oidc::id_token_claims(super::oidc::IdTokenFacts {
                    user: &user,
                    client_id: &client.id,
                    scope: &scope,
                    auth_time,
                    nonce: private(extensions, ext::NONCE).as_deref(),
                    access_token: &minted.token,
                });
                let signed = self
                    .tokens
                    .sign_id_token(claims, self.now)
                    .map_err(signing_failed)?;
                id_token = Some(signed);
            }
            let refresh = if client.allows_grant("refresh_token") {
                let grant_scope =
                    private(extensions, ext::GRANT_SCOPE).unwrap_or_else(|| scope.to_string());
                let new = refresh_tokens::NewRefreshToken {
                    client_id: &client.id,
                    user_id: &user.id,
                    scope: &grant_scope,
                    access_jti: &minted.jti,
                    ttl: self.config.refresh_token_ttl,
                    now: self.now,
                };
                self.issue_refresh(extensions, rotating, new).await?
            } else {
                None
            };
            (minted, refresh)
        };

        let until = wall_deadline(minted.expires_at, self.now);
        let token = minted.token.clone();
        let mut success = TokenSuccess::new(minted, scope.to_string(), refresh.clone());
        success.0.id_token = id_token;
        *lock(&self.issued) = Some(success);
        Ok(IssuedToken {
            token,
            refresh,
            until,
            token_type: TokenType::Bearer,
        })
    }

    /// The refresh token of a grant: a new family for a fresh grant, the
    /// first token of the family a code bound at redemption, or the
    /// successor of the presented token. The last two are refused, with
    /// the access token minted for them listed as revoked, when the family
    /// was revoked meanwhile (a concurrent replay).
    async fn issue_refresh(
        &self,
        extensions: &Extensions,
        rotating: Option<&str>,
        new: refresh_tokens::NewRefreshToken<'_>,
    ) -> Result<Option<String>, ()> {
        let family = private(extensions, ext::FAMILY);
        let is_code = private(extensions, ext::CODE).is_some();
        let (family, refused) = match (rotating, family) {
            (Some(_), Some(family)) => (family, BAD_REFRESH),
            (None, Some(family)) if is_code => (family, BAD_CODE),
            // A code exchange for which no family was begun issues none.
            (None, None) if is_code => return Ok(None),
            (None, _) => {
                let max_lifetime = self.config.refresh_token_max_lifetime;
                let issued = refresh_tokens::start_family(self.db, new, max_lifetime)
                    .await
                    .map_err(|e| self.db_failed(e))?;
                return Ok(Some(issued.token));
            }
            (Some(_), None) => {
                tracing::error!("a rotation reached the issuer without its family");
                self.refuse(OAuthError::server_error());
                return Err(());
            }
        };
        let access_jti = new.access_jti.to_owned();
        let access_expires_at = self.now + self.tokens.ttl();
        let continued =
            refresh_tokens::continue_family(self.db, &family, rotating, new, access_expires_at)
                .await
                .map_err(|e| self.db_failed(e))?;
        match continued {
            refresh_tokens::Continued::Issued(issued) => Ok(Some(issued.token)),
            refresh_tokens::Continued::Replayed
            | refresh_tokens::Continued::FamilyEnded
            | refresh_tokens::Continued::TokenDead => {
                // Never handed out, but a code's jti may already be known
                // to whoever revoked the family: keep the list complete.
                refresh_tokens::revoke_access_token(self.db, &access_jti, access_expires_at)
                    .await
                    .map_err(|e| self.db_failed(e))?;
                self.refuse(OAuthError::invalid_grant(refused));
                Err(())
            }
        }
    }

    /// RFC 6749 §4.1.2: a code used twice SHOULD revoke what it issued.
    async fn revoke_what_code_issued(&self, stored: &codes::StoredCode) -> Result<(), ()> {
        let access_expires_at = self.now + self.tokens.ttl();
        if let Some(jti) = &stored.access_jti {
            refresh_tokens::revoke_access_token(self.db, jti, access_expires_at)
                .await
                .map_err(|e| self.db_failed(e))?;
        }
        if let Some(family) = &stored.family_id {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    async fn revoke_family(&self, family: &str) -> Result<(), ()> {
        let access_expires_at = self.now + self.tokens.ttl();
        refresh_tokens::revoke_family(self.db, family, self.now, access_expires_at)
            .await
            .map_err(|e| self.db_failed(e))
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

/// oxide-auth's `Registrar` over the `clients` table.
pub struct ClientRegistrar<'s> {
    session: &'s GrantSession<'s>,
}

impl<'s> ClientRegistrar<'s> {
    pub fn new(session: &'s GrantSession<'s>) -> ClientRegistrar<'s> {
        ClientRegistrar { session }
    }
}

#[async_trait]
impl Registrar for ClientRegistrar<'_> {
    /// Binds a client to a redirect URI registered for it, compared as an
    /// exact string (RFC 9700 §2.1: no prefix, no normalisation). Without a
    /// redirect URI, the grant redirects nowhere.
    async fn bound_redirect<'a>(
        &self,
        bound: ClientUrl<'a>,
    ) -> Result<BoundClient<'a>, RegistrarError> {
        let client = self
            .session
            .load_client(&bound.client_id)
            .await?
            .ok_or(RegistrarError::Unspecified)?;
        let redirect_uri = match bound.redirect_uri {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri.as_str()) => uri.into_owned(),
            Some(_) => return Err(RegistrarError::Unspecified),
            None => {
                ExactUrl::new(NO_REDIRECT.to_owned()).map_err(|_| RegistrarError::PrimitiveError)?
            }
        };
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(redirect_uri)),
        })
    }

    /// The requested scope if the client may have all of it, else
    /// `invalid_scope`; without a request, everything the client may have.
    async fn negotiate<'a>(
        &self,
        bound: BoundClient<'a>,
        scope: Option<OxideScope>,
    ) -> Result<PreGrant, RegistrarError> {
        let client = self
            .session
            .load_client(&bound.client_id)
            .await?
            .ok_or(RegistrarError::Unspecified)?;
        let requested = scope.map(|s| s.to_string());
        let granted = granted_scope(requested.as_deref(), &client.scopes).map_err(|error| {
            self.session.refuse(error);
            RegistrarError::Unspecified
        })?;
        Ok(PreGrant {
            client_id: client.id,
            redirect_uri: bound.redirect_uri.into_owned(),
            scope: to_oxide(&granted).map_err(|()| RegistrarError::PrimitiveError)?,
        })
    }

    /// A confidential client must present its secret, a public one none.
    async fn check(
        &self,
        client_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<(), RegistrarError> {
        let secret = match passphrase.map(std::str::from_utf8) {
            Some(Err(_)) => return Err(RegistrarError::Unspecified),
            Some(Ok(secret)) => Some(secret),
            None => None,
        };
        let client = self.session.load_client(client_id).await?;
        let client = clients::verify(client, secret).ok_or(RegistrarError::Unspecified)?;
        *lock(&self.session.authenticated) = Some(client);
        Ok(())
    }
}

/// oxide-auth's `Authorizer` over the `authorization_codes` table.
pub struct CodeAuthorizer<'s> {
    session: &'s GrantSession<'s>,
}

impl<'s> CodeAuthorizer<'s> {
    pub fn new(session: &'s GrantSession<'s>) -> CodeAuthorizer<'s> {
        CodeAuthorizer { session }
    }
}

#[async_trait]
impl Authorizer for CodeAuthorizer<'_> {
    /// Stores a code for a consenting user. The code never carries more
    /// than the user holds, whatever the client negotiated (RFC 6749 §3.3:
    /// the token response says what was granted).
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let session = self.session;
        let user = users::find_by_id(session.db, &grant.owner_id)
            .await
            .map_err(|e| session.db_failed(e))?;
        let Some(user) = user else {
            session.refuse(OAuthError::server_error());
            return Err(());
        };
        let scope = from_oxide(&grant.scope).intersection(&user_scopes(&user));
        let redirect_uri = private(&grant.extensions, ext::REDIRECT_URI)
            .unwrap_or_else(|| grant.redirect_uri.to_string());
        let challenge = private(&grant.extensions, ext::CHALLENGE);
        let nonce = private(&grant.extensions, ext::NONCE);
        let resource = private(&grant.extensions, ext::RESOURCE);
        let auth_time = *lock(&session.auth_time);
        codes::create(
            session.db,
            codes::NewCode {
                client_id: &grant.client_id,
                user_id: &user.id,
                redirect_uri: &redirect_uri,
                scope: &scope.to_string(),
                code_challenge: challenge.as_deref(),
                nonce: nonce.as_deref(),
                auth_time,
                resource: resource.as_deref(),
                now: session.now,
            },
        )
        .await
        .map_err(|e| session.db_failed(e))
    }

    /// Spends a code before anything else is checked: a code presented
    /// with a wrong verifier or redirect URI is as dead as a used one, so a
    /// stolen code gets one guess.
    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let session = self.session;
        let client = session.authenticated_or_refuse()?;
        if !client.allows_grant("authorization_code") {
            session.refuse(OAuthError::unauthorized_client(
                "This client may not use the authorization_code grant.",
            ));
            return Err(());
        }
        // What the exchange will issue is chosen now and bound to the code
        // as it is spent, so a concurrent replay always has it to revoke.
        let access_jti = new_jti();
        let family_id = client
            .allows_grant("refresh_token")
            .then(refresh_tokens::new_family_id);
        let plan = codes::Plan {
            client_id: &client.id,
            access_jti: &access_jti,
            family_id: family_id.as_deref(),
            max_lifetime: session.config.refresh_token_max_lifetime,
            now: session.now,
        };
        let redemption = codes::redeem(session.db, code, &plan)
            .await
            .map_err(|e| session.db_failed(e))?;
        let stored = match redemption {
            codes::Redemption::Fresh(stored) => stored,
            codes::Redemption::Replayed(stored) => {
                tracing::warn!(client_id = %client.id, "authorization code replayed");
                if stored.client_id == client.id {
                    session.revoke_what_code_issued(&stored).await?;
                }
                session.refuse(OAuthError::invalid_grant(BAD_CODE));
                return Ok(None);
            }
            codes::Redemption::Invalid => {
                session.refuse(OAuthError::invalid_grant(BAD_CODE));
                return Ok(None);
            }
        };
        if stored.client_id != client.id {
            session.refuse(OAuthError::invalid_grant(BAD_CODE));
            return Ok(None);
        }
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::CODE, code);
        if let Some(jti) = &stored.access_jti {
            set_private(&mut extensions, ext::ACCESS_JTI, jti.as_str());
        }
        if let Some(family) = &stored.family_id {
            set_private(&mut extensions, ext::FAMILY, family.as_str());
        }
        set_private(
            &mut extensions,
            ext::REDIRECT_URI,
            stored.redirect_uri.as_str(),
        );
        if let Some(challenge) = &stored.code_challenge {
            set_private(&mut extensions, ext::CHALLENGE, challenge.as_str());
        }
        if let Some(nonce) = &stored.nonce {
            set_private(&mut extensions, ext::NONCE, nonce.as_str());
        }
        if let Some(auth_time) = stored.auth_time {
            set_private(&mut extensions, ext::AUTH_TIME, auth_time.to_string());
        }
        if let Some(resource) = &stored.resource {
            set_private(&mut extensions, ext::RESOURCE, resource.as_str());
        }
        // oxide-auth compares redirect URIs as parsed URLs; GrantChecks
        // then compares the exact strings.
        let redirect_uri = Url::parse(&stored.redirect_uri).map_err(|_| {
            session.refuse(OAuthError::invalid_grant(BAD_CODE));
        })?;
        Ok(Some(Grant {
            owner_id: stored.user_id,
            client_id: stored.client_id,
            scope: to_oxide(&ScopeSet::parse(&stored.scope))?,
            redirect_uri,
            until: wall_deadline(stored.expires_at, session.now),
            extensions,
        }))
    }
}

/// oxide-auth's `Issuer`: RFC 9068 JWT access tokens and rotating refresh
/// tokens.
pub struct JwtIssuer<'s> {
    session: &'s GrantSession<'s>,
}

impl<'s> JwtIssuer<'s> {
    pub fn new(session: &'s GrantSession<'s>) -> JwtIssuer<'s> {
        JwtIssuer { session }
    }

    /// A grant the client obtained directly at the token endpoint (password
    /// grant): no code, no redirect.
    pub fn direct_grant(&self, owner_id: &str, client_id: &str, scope: &ScopeSet) -> Option<Grant> {
        let now = self.session.now;
        Some(Grant {
            owner_id: owner_id.to_owned(),
            client_id: client_id.to_owned(),
            scope: to_oxide(scope).ok()?,
            redirect_uri: no_redirect().ok()?,
            until: wall_deadline(now + self.session.tokens.ttl(), now),
            extensions: Extensions::new(),
        })
    }
}

#[async_trait]
impl Issuer for JwtIssuer<'_> {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        self.session.mint(&grant, None).await
    }

    /// Rotation (RFC 9700 §4.14.2): the presented token is spent, a new one
    /// of the same family issued, in one transaction. Of two requests with
    /// the same token only one wins; the other is a reuse and kills the
    /// family, the winner's successor included.
    async fn refresh(&mut self, token: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let session = self.session;
        let client = session.authenticated_or_refuse()?;
        if !client.allows_grant("refresh_token") {
            session.refuse(OAuthError::unauthorized_client(
                "This client may not use the refresh_token grant.",
            ));
            return Err(());
        }
        if grant.scope.iter().next().is_none() {
            session.refuse(OAuthError::invalid_scope());
            return Err(());
        }
        // Spending the presented token and storing its successor are one
        // transaction under the family lock; a reuse revokes the family.
        let issued = session.mint(&grant, Some(token)).await?;
        Ok(RefreshedToken {
            token: issued.token,
            refresh: issued.refresh,
            until: issued.until,
            token_type: issued.token_type,
        })
    }

    /// A live access token of ours: signed by one of our keys, for our
    /// issuer, not expired, not revoked.
    async fn recover_token(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let session = self.session;
        let Some(claims) =
            super::introspect::own_access_token(session.tokens.keys(), session.config, token)
        else {
            return Ok(None);
        };
        if claims.exp <= session.now {
            return Ok(None);
        }
        let revoked = refresh_tokens::is_access_token_revoked(session.db, &claims.jti)
            .await
            .map_err(|e| session.db_failed(e))?;
        if revoked {
            return Ok(None);
        }
        Ok(Some(Grant {
            owner_id: claims.sub,
            client_id: claims.client_id,
            scope: to_oxide(&ScopeSet::parse(&claims.scope))?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(claims.exp, session.now),
            extensions: Extensions::new(),
        }))
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let session = self.session;
        let no_grant = || {
            session.refuse(OAuthError::invalid_grant(BAD_REFRESH));
            Ok(None)
        };
        let stored = refresh_tokens::find(session.db, token)
            .await
            .map_err(|e| session.db_failed(e))?;
        let Some(stored) = stored else {
            return no_grant();
        };
        // Another client's token is refused without being touched (RFC 6749 §6).
        if session
            .presented_client
            .as_deref()
            .is_some_and(|id| id != stored.client_id)
        {
            return no_grant();
        }
        if stored.used_at.is_some() && stored.revoked_at.is_none() {
            tracing::warn!(client_id = %stored.client_id, "rotated refresh token presented again");
            session.revoke_family(&stored.family_id).await?;
            return no_grant();
        }
        if !stored.is_live(session.now) {
            return no_grant();
        }
        // The grant as the user's rights stand now: a deleted user gets
        // nothing, a demoted admin loses `profiles:read` here and in every
        // later token of the family.
        let rights = current_rights(session.db, &stored.user_id)
            .await
            .map_err(|e| session.db_failed(e))?;
        let scope = match rights {
            Some(rights) => ScopeSet::parse(&stored.scope).intersection(&rights),
            None => ScopeSet::default(),
        };
        if scope.is_empty() {
            return no_grant();
        }
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::FAMILY, stored.family_id.as_str());
        set_private(&mut extensions, ext::GRANT_SCOPE, scope.to_string());
        // The id_token of a refresh names the original sign-in (OIDC Core
        // §12.2); the access token keeps the grant's resource.
        let (auth_time, resource) = refresh_tokens::family_context(session.db, &stored.family_id)
            .await
            .map_err(|e| session.db_failed(e))?;
        if let Some(auth_time) = auth_time {
            set_private(&mut extensions, ext::AUTH_TIME, auth_time.to_string());
        }
        if let Some(resource) = resource {
            set_private(&mut extensions, ext::RESOURCE, resource);
        }
        Ok(Some(Grant {
            owner_id: stored.user_id,
            client_id: stored.client_id,
            scope: to_oxide(&scope)?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(stored.expires_at, session.now),
            extensions,
        }))
    }
}

/// The rules oxide-auth leaves to extensions: which grants a client may
/// use, and PKCE as RFC 9700 §2.1.1 wants it.
pub struct GrantChecks<'s> {
    session: &'s GrantSession<'s>,
}

#[async_trait]
impl authorization::Extension for GrantChecks<'_> {
    /// Runs once the client and redirect URI are bound, so a refusal here
    /// goes back to the client.
    async fn extend(
        &mut self,
        request: &(dyn AuthorizationRequest + Sync),
    ) -> Result<Extensions, ()> {
        let session = self.session;
        let client = session.loaded().ok_or(())?;
        let refuse = |description| {
            session.refuse(OAuthError::invalid_request(description));
            Err(())
        };
        if !client.allows_grant("authorization_code") {
            session.refuse(OAuthError::unauthorized_client(
                "This client may not use the authorization code grant.",
            ));
            return Err(());
        }
        let challenge = request.extension("code_challenge");
        let method = request.extension("code_challenge_method");
        match (challenge.as_deref(), method.as_deref()) {
            (None, None) if client.is_public() => {
                return refuse("PKCE (code_challenge with S256) is required.");
            }
            (None, None) => {}
            (Some(challenge), Some("S256")) if pkce::is_s256_challenge(challenge) => {}
            (Some(_), Some("S256")) => return refuse("The code_challenge is malformed."),
            (Some(_), None | Some("plain")) | (None, Some("plain")) => {
                return refuse("Only the S256 code_challenge_method is supported.");
            }
            _ => return refuse("The code_challenge_method is not supported."),
        }
        let nonce = request.extension("nonce");
        if nonce
            .as_deref()
            .is_some_and(|n| n.chars().count() > MAX_NONCE_CHARS)
        {
            return refuse("The nonce is longer than 512 characters.");
        }
        let resource = request.extension("resource");
        if let Some(resource) = resource.as_deref()
            && !session.allows_resource(&client, resource)
        {
            session.refuse(OAuthError::invalid_target());
            return Err(());
        }
        let mut extensions = Extensions::new();
        if let Some(nonce) = nonce {
            set_private(&mut extensions, ext::NONCE, nonce);
        }
        if let Some(resource) = resource.filter(|r| r != session.tokens.audience()) {
            set_private(&mut extensions, ext::RESOURCE, resource);
        }
        // The string as sent: the exchange must present the same one.
        if let Some(redirect_uri) = request.redirect_uri() {
            set_private(&mut extensions, ext::REDIRECT_URI, redirect_uri);
        }
        if let Some(challenge) = challenge {
            set_private(&mut extensions, ext::CHALLENGE, challenge);
        }
        Ok(extensions)
    }
}

#[async_trait]
impl access_token::Extension for GrantChecks<'_> {
    async fn extend(
        &mut self,
        request: &(dyn AccessTokenRequest + Sync),
        data: Extensions,
    ) -> Result<Extensions, ()> {
        let session = self.session;
        let client = session.authenticated_or_refuse()?;
        let refuse = |error| {
            session.refuse(error);
            Err(())
        };
        // RFC 6749 §4.1.3: identical to the authorization request's.
        if request.redirect_uri().as_deref() != private(&data, ext::REDIRECT_URI).as_deref() {
            return refuse(OAuthError::invalid_grant(
                "The redirect_uri does not match the authorization request.",
            ));
        }
        let challenge = private(&data, ext::CHALLENGE);
        match (challenge.as_deref(), request.extension("code_verifier")) {
            (Some(challenge), Some(verifier)) if pkce::verify_s256(&verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return refuse(OAuthError::invalid_grant(
                    "The code_verifier does not match the challenge.",
                ));
            }
            (Some(_), None) => {
                return refuse(OAuthError::invalid_request(
                    "The code_verifier parameter is required.",
                ));
            }
            // A verifier without a challenge is refused, or a downgrade
            // would go unnoticed.
            (None, Some(_)) => {
                return refuse(OAuthError::invalid_grant(
                    "No code_challenge was sent for this code.",
                ));
            }
            (None, None) if client.is_public() => {
                return refuse(OAuthError::invalid_grant("Public clients must use PKCE."));
            }
            (None, None) => {}
        }
        Ok(data)
    }
}

#[async_trait]
impl client_credentials::Extension for GrantChecks<'_> {
    async fn extend(
        &mut self,
        _: &(dyn ClientCredentialsRequest + Sync),
    ) -> Result<Extensions, ()> {
        let session = self.session;
        let client = session.authenticated_or_refuse()?;
        // A public client has nothing to prove who it is with (RFC 6749 §4.4).
        if client.is_public() || !client.allows_grant("client_credentials") {
            session.refuse(OAuthError::unauthorized_client(
                "This client may not use the client_credentials grant.",
            ));
            return Err(());
        }
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::CLIENT_SUBJECT, client.id);
        Ok(extensions)
    }
}

/// Our endpoint as oxide-auth-async's flows see it: the authorization
/// request and the three token grants it drives.
pub struct GrantEndpoint<'s> {
    registrar: ClientRegistrar<'s>,
    authorizer: CodeAuthorizer<'s>,
    issuer: JwtIssuer<'s>,
    checks: GrantChecks<'s>,
}

impl<'s> GrantEndpoint<'s> {
    pub fn new(session: &'s GrantSession<'s>) -> GrantEndpoint<'s> {
        GrantEndpoint {
            registrar: ClientRegistrar { session },
            authorizer: CodeAuthorizer { session },
            issuer: JwtIssuer { session },
            checks: GrantChecks { session },
        }
    }
}

impl authorization::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn extension(&mut self) -> &mut (dyn authorization::Extension + Send) {
        &mut self.checks
    }
}

impl access_token::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut (dyn access_token::Extension + Send) {
        &mut self.checks
    }
}

impl refresh::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
}

impl client_credentials::Endpoint for GrantEndpoint<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.registrar
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        &mut self.authorizer
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        &mut self.issuer
    }
    fn extension(&mut self) -> &mut (dyn client_credentials::Extension + Send) {
        &mut self.checks
    }
}

/// A parsed token request as oxide-auth's flows read it. Client
/// credentials reach them only through `authorization()`, already merged
/// from the Basic header or the body by [`PresentedCredentials`], so that
/// oxide-auth's own merging never sees them twice.
pub struct TokenRequest<'a> {
    params: &'a TokenParams,
    credentials: &'a PresentedCredentials,
}

impl<'a> TokenRequest<'a> {
    pub fn new(params: &'a TokenParams, credentials: &'a PresentedCredentials) -> TokenRequest<'a> {
        TokenRequest {
            params,
            credentials,
        }
    }

    fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params.get(name).map(Cow::Borrowed)
    }

    /// Body parameters other than the client's credentials.
    fn extension_param(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "client_id" | "client_secret" => None,
            _ => self.param(name),
        }
    }

    fn confidential(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        match (&self.credentials.client_id, &self.credentials.client_secret) {
            (Some(id), Some(secret)) => {
                Some((Cow::Borrowed(id.as_str()), Cow::Borrowed(secret.as_bytes())))
            }
            _ => None,
        }
    }
}

impl AccessTokenRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.param("code")
    }
    fn authorization(&self) -> Authorization<'_> {
        match (&self.credentials.client_id, &self.credentials.client_secret) {
            (Some(id), Some(secret)) => Authorization::UsernamePassword(
                Cow::Borrowed(id.as_str()),
                Cow::Borrowed(secret.as_bytes()),
            ),
            (Some(id), None) => Authorization::Username(Cow::Borrowed(id.as_str())),
            (None, _) => Authorization::None,
        }
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        None
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.param("redirect_uri")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}

impl RefreshRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn refresh_token(&self) -> Option<Cow<'_, str>> {
        self.param("refresh_token")
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    /// Confidential clients only: a public client is matched against the
    /// token's client by the issuer.
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        self.confidential()
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}

impl ClientCredentialsRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        self.confidential()
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}
