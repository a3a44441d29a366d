//! What the claims of a signed token are held to: [`ClaimRules`] (the
//! issuer, the audience if any, the leeway of the time checks, and the
//! `jsonwebtoken` [`Validation`] applied with the signature), and the strict
//! reading of an access token's claims with the JSON type RFC 9068 §2.2
//! requires of each.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::{MAX_LEEWAY_SECS, TokenRejection};
use crate::claims::{AccessTokenClaims, Audience, Confirmation};

/// What a signed token's claims are held to: the issuer, the audience if
/// any, the leeway of the time checks, and the [`Validation`] that
/// `jsonwebtoken` applies with the signature. The [`super::Verifier`]
/// builds its rules once; they are a few small sets, cheap next to an RSA
/// check, so the issuer builds them where it recognises its own tokens.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    pub(super) issuer: String,
    /// `None` when any audience will do: the issuer introspects tokens of
    /// every resource it serves (RFC 8707).
    audience: Option<String>,
    leeway_secs: i64,
    pub(super) validation: Validation,
}

impl ClaimRules {
    /// Rules for access tokens of `issuer` for `audience`, or for any
    /// audience. `leeway_secs` is clamped to [`MAX_LEEWAY_SECS`].
    pub fn access_tokens(issuer: &str, audience: Option<&str>, leeway_secs: i64) -> ClaimRules {
        ClaimRules::new(issuer, audience, leeway_secs, &["iss", "sub", "aud", "exp"])
    }

    /// Rules for the id_tokens `issuer` signs: whatever their audience (the
    /// caller reads the client from it), with `iss`, `sub` and `aud`.
    pub fn id_tokens(issuer: &str) -> ClaimRules {
        ClaimRules::new(issuer, None, MAX_LEEWAY_SECS, &["iss", "sub", "aud"])
    }

    fn new(
        issuer: &str,
        audience: Option<&str>,
        leeway_secs: i64,
        required: &[&str],
    ) -> ClaimRules {
        let leeway_secs = leeway_secs.clamp(0, MAX_LEEWAY_SECS);
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(required);
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        // Time is checked by us with the caller's clock; see the module doc.
        // The leeway is ours all the same, should these ever be turned on.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = leeway_secs.unsigned_abs();
        ClaimRules {
            issuer: issuer.to_owned(),
            audience: audience.map(str::to_owned),
            leeway_secs,
            validation,
        }
    }

    /// `iss`, `aud` when one is pinned, and with `now` the time claims, in
    /// that order: the first fault found names the refusal.
    pub(super) fn check(
        &self,
        claims: &AccessTokenClaims,
        now: Option<i64>,
    ) -> Result<(), TokenRejection> {
        if claims.iss != self.issuer {
            return Err(TokenRejection::WrongIssuer);
        }
        if let Some(audience) = &self.audience
            && !claims.aud.contains(audience)
        {
            return Err(TokenRejection::WrongAudience);
        }
        let Some(now) = now else {
            return Ok(());
        };
        let leeway = self.leeway_secs;
        // RFC 7519 §4.1.4: the token must not be accepted on or after exp.
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenRejection::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(TokenRejection::NotYetValid);
        }
        if claims.iat > now.saturating_add(leeway) {
            return Err(TokenRejection::IssuedInFuture);
        }
        Ok(())
    }
}

/// Reads the claims, requiring every RFC 9068 §2.2 claim with its JSON type.
pub(super) fn claims_from(
    payload: &Map<String, Value>,
) -> Result<AccessTokenClaims, TokenRejection> {
    let iat = integer(payload, "iat")?;
    Ok(AccessTokenClaims {
        iss: string(payload, "iss")?,
        sub: string(payload, "sub")?,
        aud: audience(payload)?,
        exp: integer(payload, "exp")?,
        iat,
        // Not required by RFC 9068; without it the token is valid from iat.
        nbf: optional(payload, "nbf", Value::as_i64)?.unwrap_or(iat),
        jti: string(payload, "jti")?,
        client_id: string(payload, "client_id")?,
        // RFC 9068 §2.2.3: scope is present only when scopes were granted.
        scope: optional(payload, "scope", |v| v.as_str().map(str::to_owned))?.unwrap_or_default(),
        email: optional(payload, "email", |v| v.as_str().map(str::to_owned))?,
        name: optional(payload, "name", |v| v.as_str().map(str::to_owned))?,
        cnf: confirmation(payload)?,
    })
}

/// `cnf` is either absent or a DPoP binding; any other confirmation method
/// (an mTLS certificate hash, say) is one we cannot check, so the token is
/// refused rather than taken as unbound.
fn confirmation(payload: &Map<String, Value>) -> Result<Option<Confirmation>, TokenRejection> {
    const CNF: &str = "cnf";
    let Some(cnf) = payload.get(CNF) else {
        return Ok(None);
    };
    match cnf.get("jkt") {
        Some(Value::String(jkt))
            if !jkt.is_empty() && cnf.as_object().is_some_and(|o| o.len() == 1) =>
        {
            Ok(Some(Confirmation { jkt: jkt.clone() }))
        }
        _ => Err(TokenRejection::ClaimType(CNF)),
    }
}

pub(super) fn string(
    payload: &Map<String, Value>,
    name: &'static str,
) -> Result<String, TokenRejection> {
    match payload.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(TokenRejection::ClaimType(name)),
        None => Err(TokenRejection::MissingClaim(name)),
    }
}

fn integer(payload: &Map<String, Value>, name: &'static str) -> Result<i64, TokenRejection> {
    match payload.get(name) {
        Some(value) => value.as_i64().ok_or(TokenRejection::ClaimType(name)),
        None => Err(TokenRejection::MissingClaim(name)),
    }
}

fn optional<T>(
    payload: &Map<String, Value>,
    name: &'static str,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, TokenRejection> {
    match payload.get(name) {
        None => Ok(None),
        Some(value) => read(value).map(Some).ok_or(TokenRejection::ClaimType(name)),
    }
}

fn audience(payload: &Map<String, Value>) -> Result<Audience, TokenRejection> {
    const AUD: &str = "aud";
    match payload.get(AUD) {
        Some(Value::String(one)) => Ok(Audience::One(one.clone())),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Audience::Many)
            .ok_or(TokenRejection::ClaimType(AUD)),
        Some(_) => Err(TokenRejection::ClaimType(AUD)),
        None => Err(TokenRejection::MissingClaim(AUD)),
    }
}
