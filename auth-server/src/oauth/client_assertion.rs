//! `private_key_jwt` (RFC 7523 §2.2, §3): a client proves who it is with a
//! JWT it signed with a key of its own JWK Set. [`check`] holds the
//! assertion to every rule of the contract, and only then spends its
//! `jti`, in the database, so that an assertion is accepted once across
//! all instances.
//!
//! Every refusal is the same `invalid_client`; the reason goes to the log
//! (never the assertion itself).

use jsonwebtoken::Validation;
use serde_json::Value;
use shared::jwks_cache::CLIENT_ALGORITHMS;

use super::context::GrantContext;
use crate::errors::OAuthError;
use crate::store::clients::Client;
use crate::store::spent_jtis::SpentJtis;

/// RFC 7523 §2.2's `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion is a few hundred bytes; past this it is refused unread.
const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// How far ahead `exp` may be.
const MAX_LIFETIME: i64 = 300;
/// Clock skew allowed on `exp`, `iat` and `nbf`.
const LEEWAY: i64 = 60;
/// The longest `jti` remembered.
const MAX_JTI_CHARS: usize = 256;

/// The client an assertion claims to come from (its `iss`), read without
/// checking anything: only to find the keys it must be checked with.
pub fn claimed_client(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .ok()?
        .claims;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Checks `assertion` for `client`, and spends its `jti`.
pub async fn check(
    ctx: &GrantContext<'_>,
    client: &Client,
    assertion: &str,
) -> Result<(), OAuthError> {
    let claims = match verified_claims(ctx, client, assertion).await {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(client_id = %client.id, reason, "client assertion refused");
            return Err(OAuthError::invalid_client());
        }
    };
    let (jti, exp) = claims;
    let first = SpentJtis::ClientAssertions
        .spend(ctx.db, &client.id, &jti, exp + LEEWAY)
        .await?;
    if !first {
        tracing::info!(client_id = %client.id, "client assertion replayed");
        return Err(OAuthError::invalid_client());
    }
    Ok(())
}

/// The assertion's `jti` and `exp` once its signature and claims passed,
/// or why not.
async fn verified_claims(
    ctx: &GrantContext<'_>,
    client: &Client,
    assertion: &str,
) -> Result<(String, i64), &'static str> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err("too long");
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed header")?;
    let alg = header.alg;
    if !CLIENT_ALGORITHMS.contains(&alg) {
        return Err("algorithm not allowed");
    }
    let keys = ctx.client_keys.keys(client, header.kid.as_deref()).await;
    let mut validation = Validation::new(alg);
    // The times are checked below against the request's clock, and `aud`
    // may be either of two values.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = keys
        .iter()
        .filter(|key| key.accepts(alg))
        .find_map(|key| {
            jsonwebtoken::decode::<Value>(assertion, key.decoding_key(), &validation).ok()
        })
        .ok_or(if keys.is_empty() {
            "no key of the client for it"
        } else {
            "bad signature"
        })?
        .claims;
    rules(ctx, client, &claims)
}

/// RFC 7523 §3 as the contract tightens it.
fn rules(
    ctx: &GrantContext<'_>,
    client: &Client,
    claims: &Value,
) -> Result<(String, i64), &'static str> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(client.id.as_str()) || text("sub") != Some(client.id.as_str()) {
        return Err("iss and sub are not the client_id");
    }
    let issuer = ctx.config.issuer.as_str();
    let token_endpoint = ctx.config.endpoint(shared::routes::TOKEN);
    let is_ours = |aud: &Value| aud == issuer || aud.as_str() == Some(token_endpoint.as_str());
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(all)) => all.iter().any(is_ours),
        Some(one) => is_ours(one),
        None => false,
    };
    if !audience_ok {
        return Err("aud is neither the issuer nor the token endpoint");
    }
    let now = ctx.now;
    let exp = number("exp").ok_or("no exp")?;
    if exp + LEEWAY <= now {
        return Err("expired");
    }
    if exp > now + MAX_LIFETIME {
        return Err("exp more than 5 minutes ahead");
    }
    for name in ["iat", "nbf"] {
        match claims.get(name) {
            None => {}
            Some(value) => match value.as_i64() {
                Some(at) if at <= now + LEEWAY => {}
                _ => return Err("iat or nbf in the future"),
            },
        }
    }
    let jti = text("jti").ok_or("no jti")?;
    if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
        return Err("jti empty or too long");
    }
    Ok((jti.to_owned(), exp))
}
