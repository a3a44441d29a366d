//! The OpenID Connect id_token's claims (OIDC Core §2, §3.1.3.6), and the
//! profile claims that UserInfo answers with by the same rules (§5.4).
//! They are minted where access tokens are, whenever a grant has the
//! `openid` scope (`mint`), and signed by the access tokens' key ring with
//! `typ` `JWT`, so that neither kind of token can pass for the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use shared::scope::{Scope, ScopeSet};

use crate::store::users::User;

/// What an id_token says, besides `iss`, `iat` and `exp`.
pub struct IdTokenFacts<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    pub scope: &'a ScopeSet,
    /// When the user typed their password; absent for grants that began
    /// before sessions existed.
    pub auth_time: Option<i64>,
    /// The session signed in (Back-Channel Logout 1.0 §2.1 `sid`), which a
    /// logout token will name; absent for grants that began outside one.
    pub sid: Option<&'a str>,
    /// The authorization request's `nonce`, echoed exactly; only on the
    /// code exchange (OIDC Core §12.2: a refresh need not repeat it).
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// The claims of an id_token (OIDC Core §2): `aud` is the client alone,
/// `azp` names it too, and the profile claims follow the scopes (§5.4).
pub fn id_token_claims(facts: IdTokenFacts<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), facts.user.id.clone().into());
    claims.insert("aud".into(), facts.client_id.into());
    claims.insert("azp".into(), facts.client_id.into());
    if let Some(auth_time) = facts.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    if let Some(sid) = facts.sid {
        claims.insert("sid".into(), sid.into());
    }
    if let Some(nonce) = facts.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.insert("at_hash".into(), at_hash(facts.access_token).into());
    add_profile_claims(&mut claims, facts.user, facts.scope);
    claims
}

/// OIDC Core §3.1.3.6: base64url of the left half of the SHA-256 of the
/// access token's ASCII (RS256 hashes with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// `email`, `email_verified` with the `email` scope; `name` with `profile`.
/// Email addresses are not verified at signup, and the claim says so.
pub fn add_profile_claims(claims: &mut Map<String, Value>, user: &User, scope: &ScopeSet) {
    if scope.has(Scope::Email) {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), false.into());
    }
    if scope.has(Scope::Profile) {
        claims.insert("name".into(), user.name.clone().into());
    }
}

/// The claims `claims_supported` lists in the discovery document.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "sid",
    "nonce",
    "at_hash",
    "azp",
    "email",
    "email_verified",
    "name",
];
