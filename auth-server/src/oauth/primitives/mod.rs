//! oxide-auth's primitives over our own tables, one file per role:
//!
//! - [`ClientRegistrar`] (`registrar`): the `clients` table (exact redirect
//!   URIs, scopes, SHA-256 secrets compared in constant time, public
//!   clients);
//! - [`CodeAuthorizer`] (`authorizer`): one-time authorization codes, stored
//!   hashed and bound to client, redirect URI, user, scope and PKCE
//!   challenge;
//! - [`GrantIssuer`] (`issuer`): RFC 9068 access tokens from the
//!   [`TokenMinter`](crate::token::TokenMinter) and opaque rotating refresh
//!   tokens stored hashed; every grant's tokens go through its `mint`;
//! - [`GrantChecks`] (`checks`): the per-client rules oxide-auth has no
//!   place for (allowed grants, PKCE required for public clients, `plain`
//!   refused, `nonce` and `resource`);
//! - [`GrantEndpoint`] (`endpoint`): the four together, as oxide-auth-async's
//!   flows want them;
//! - [`TokenRequest`] (`request`): a token request as those flows read it.
//!
//! The flows drive them for the authorization request and the
//! authorization code, refresh and client credentials grants; the password
//! grant, which oxide-auth lacks, calls the registrar and the issuer's
//! `mint` directly. Each primitive works on the request's
//! [`GrantContext`](super::GrantContext), where it records what it learned
//! and, when it refuses, why.
//!
//! Time: our primitives decide expiry with the server's clock (a parameter
//! in tests); oxide-auth compares `Grant::until` with the wall clock, so
//! `until` is "wall-clock now plus the lifetime left on ours".

mod authorizer;
mod checks;
mod endpoint;
mod issuer;
mod registrar;
mod request;

pub use authorizer::CodeAuthorizer;
pub use checks::{GrantChecks, MAX_NONCE_CHARS};
pub use endpoint::GrantEndpoint;
pub use issuer::{GrantIssuer, Issuance};
pub use registrar::ClientRegistrar;
pub use request::TokenRequest;

use chrono::{DateTime, TimeDelta, Utc};
use oxide_auth::primitives::grant::{Extensions, Value};
use oxide_auth::primitives::scope::Scope as OxideScope;
use shared::scope::ScopeSet;
use url::Url;

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
