//! Recognising the tokens this issuer signed, with the workspace's one JWS
//! verifier ([`shared::verifier::Jws`]) over the local key ring, whose keys
//! were turned into verifying keys when the ring was loaded: no network
//! call and no database read. Introspection, revocation, UserInfo, logout's
//! `id_token_hint`, the refresh flow's recovery of an access token, the
//! admin API's guard and token exchange all ask here.
//!
//! An access token that verified is remembered by its digest
//! ([`crate::keys::verified`]) until it expires, and counts only while the
//! key that verified it is still in the ring: presented again, it costs no
//! RSA verification and no parse. Time (`exp`, `nbf`) is never part of the
//! remembered verdict; callers check it on every use.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use shared::claims::AccessTokenClaims;
use shared::verifier::{ClaimRules, Jws, MAX_LEEWAY_SECS, TokenKind};

use crate::config::AppConfig;
use crate::keys::KeyStore;
use crate::keys::verified::{self, VerifiedToken};

/// The claims of an access token we signed, whatever its expiry and its
/// audience; `None` for anything else (bad signature, unknown key, another
/// issuer, not an access token).
pub fn own_access_token(
    keys: &KeyStore,
    config: &AppConfig,
    token: &str,
) -> Option<AccessTokenClaims> {
    own_access_token_members(keys, config, token).map(|verified| verified.claims.clone())
}

/// The `sub` and `aud` of an id_token we signed, whatever its expiry
/// (an `id_token_hint` is usually expired); `None` for anything else.
pub fn own_id_token(keys: &KeyStore, config: &AppConfig, token: &str) -> Option<(String, String)> {
    let jws = Jws::parse(token, TokenKind::Id).ok()?;
    let ring = keys.current();
    let key = ring.keys.iter().find(|key| key.kid == jws.kid())?;
    let claims = jws
        .claims(&key.verifying, &ClaimRules::id_tokens(&config.issuer))
        .ok()?;
    let sub = claims.get("sub")?.as_str()?.to_owned();
    let aud = claims.get("aud")?.as_str()?.to_owned();
    Some((sub, aud))
}

/// An access token we signed, as [`own_access_token`] finds it, with the
/// members of its payload beyond [`AccessTokenClaims`] (`act`, `cnf`) that
/// token exchange reads: remembered, or verified now (the signature proven
/// before the payload is read) and remembered.
pub fn own_access_token_members(
    keys: &KeyStore,
    config: &AppConfig,
    token: &str,
) -> Option<Arc<VerifiedToken>> {
    let digest = verified::digest(token);
    let ring = keys.current();
    let now = shared::clock::unix_now();
    if let Some(found) = keys.verified().get(&digest, &ring, now) {
        return Some(found);
    }
    let jws = Jws::parse(token, TokenKind::Access).ok()?;
    let key = ring.keys.iter().find(|key| key.kid == jws.kid())?;
    // A handful of small allocations, next to an RSA verification.
    let rules = ClaimRules::access_tokens(&config.issuer, None, MAX_LEEWAY_SECS);
    let (_, claims) = jws.access_token(&key.verifying, &rules, None).ok()?;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let members = shared::strict_json::object_from_slice(&bytes).ok()?;
    let found = Arc::new(VerifiedToken {
        claims,
        members,
        key: key.clone(),
    });
    keys.verified().insert(digest, found.clone(), now);
    Some(found)
}
