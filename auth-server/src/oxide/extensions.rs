//! What the primitives carry through oxide-auth's `Grant` and how our
//! values become oxide-auth's: the private grant extensions ([`ext`]), the
//! scope and time conversions, and the URL of grants that redirect nowhere.
//!
//! Time: our primitives decide expiry with the server's clock (a parameter
//! in tests); oxide-auth compares `Grant::until` with the wall clock, so
//! `until` is "wall-clock now plus the lifetime left on ours".

use chrono::{DateTime, TimeDelta, Utc};
use oxide_auth::primitives::grant::{Extensions, Value};
use oxide_auth::primitives::scope::Scope as OxideScope;
use shared::scope::ScopeSet;
use url::Url;

/// Grants that redirect nowhere (client credentials, refresh) still need a
/// URL in oxide-auth's `Grant`; this one can never be a redirect target,
/// and only the code flow ever redirects.
pub const NO_REDIRECT: &str = "urn:x-auth-server:no-redirect";

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
    /// OpenID Connect: the sign-in session of the grant (`sid`).
    pub const SID: &str = "sid";
    /// RFC 9449 §10: the key thumbprint a code's redemption must prove.
    pub const DPOP_JKT: &str = "dpop_jkt";
}

pub fn private(extensions: &Extensions, key: &str) -> Option<String> {
    extensions
        .private()
        .find(|(name, _)| *name == key)
        .and_then(|(_, value)| value.map(str::to_owned))
}

pub fn set_private(extensions: &mut Extensions, key: &str, value: impl Into<String>) {
    extensions.set_raw(key.to_owned(), Value::private(Some(value.into())));
}

pub(super) fn to_oxide(scope: &ScopeSet) -> Result<OxideScope, ()> {
    scope.to_string().parse().map_err(|_| ())
}

pub fn from_oxide(scope: &OxideScope) -> ScopeSet {
    ScopeSet::parse(&scope.to_string())
}

/// `expires_at` on our clock, as a wall-clock instant for oxide-auth.
pub fn wall_deadline(expires_at: i64, now: i64) -> DateTime<Utc> {
    let left = TimeDelta::try_seconds(expires_at.saturating_sub(now)).unwrap_or_default();
    DateTime::<Utc>::from(shared::clock::system_time())
        .checked_add_signed(left)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(super) fn no_redirect() -> Result<Url, ()> {
    Url::parse(NO_REDIRECT).map_err(|_| ())
}
