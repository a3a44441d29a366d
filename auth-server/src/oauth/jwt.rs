//! The JWTs the issuer signs, for every grant: RFC 9068 access tokens and
//! OpenID Connect id_tokens, RS256 with the key ring's signing key.
//!
//! Signing goes through `jsonwebtoken`'s signer extension point: the key
//! ring's `SigningKey` is a `JwtSigner`, holding the aws-lc `RsaKeyPair`
//! parsed once when the ring was loaded. The JWS around it is assembled here,
//! with the header's base64 precomputed per key, so a token costs one JSON
//! serialisation and one RSA signature.
//!
//! `jsonwebtoken::encode` is not used: in v11 it takes an `EncodingKey`
//! (the private key's DER bytes) and asks the process-wide `CryptoProvider`
//! for a signer, whose aws-lc implementation parses the private key again on
//! every call. There is no `encode` that takes a `JwtSigner`; the only way to
//! hand `encode` a parsed key would be a custom process-wide provider
//! finding it from the DER bytes in a global table, installed before
//! anything else in the process touches `jsonwebtoken`. Measured with
//! `cargo bench --workspace --bench issue -- mint` (criterion, release, on
//! a shared 2-core machine): `mint_access_token` takes about 260 µs, the
//! aws-lc signature and little else (under heavier load runs scattered
//! between 340 and 830 µs), while `jsonwebtoken::encode` of the same claims
//! with a key of the same size took 1.06 ms, a quarter of the throughput.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::signature::Signer;
use serde::Serialize;
use shared::claims::{AccessTokenClaims, Audience, Confirmation};
use shared::scope::ScopeSet;

use crate::keys::KeyStore;

/// Who a token is for.
#[derive(Debug, Clone)]
pub enum Subject<'a> {
    /// A user, through a user grant; `sub` is the user id. `email` and
    /// `name` are the claims the grant may carry, `None` where it may not.
    User {
        id: &'a str,
        email: Option<&'a str>,
        name: Option<&'a str>,
    },
    /// A client acting for itself (client credentials); `sub` is the client id.
    Client,
}

#[derive(Debug, Clone)]
pub struct MintedToken {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
    pub expires_at: i64,
}

/// The lifetime of a logout token: long enough for a slow receiver, short
/// enough that a copy is soon worthless.
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A fresh access token id (RFC 9068 `jti`).
pub fn new_jti() -> String {
    platform::ids::random_uuid().to_string()
}

#[derive(Debug, thiserror::Error)]
#[error("signing failed")]
pub struct SigningError;

/// Signs the access tokens and id_tokens of every grant; what goes in
/// them is decided by `oauth::mint`.
pub struct TokenMinter {
    keys: Arc<KeyStore>,
    issuer: String,
    audience: String,
    ttl: i64,
}

impl TokenMinter {
    pub fn new(keys: Arc<KeyStore>, issuer: String, audience: String, ttl: i64) -> TokenMinter {
        TokenMinter {
            keys,
            issuer,
            audience,
            ttl,
        }
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The keys tokens are signed with, to recognise our own tokens.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// `AUDIENCE`: the `aud` of a token whose request named no resource.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs an access token for `subject`, obtained by `client_id`, at
    /// `now`, with a `jti` chosen by the caller (a code exchange records it
    /// on the code before minting, so that a concurrent replay can revoke
    /// the token whoever finishes first), for a resource (RFC 8707) already
    /// checked against the client; `None` is `AUDIENCE`.
    pub fn sign_access_token(
        &self,
        subject: Subject<'_>,
        client_id: &str,
        scope: &ScopeSet,
        now: i64,
        jti: String,
        resource: Option<&str>,
    ) -> Result<MintedToken, SigningError> {
        self.sign_bound_access_token(subject, client_id, scope, now, jti, resource, None)
    }

    /// [`TokenMinter::sign_access_token`], bound (`cnf`, RFC 9449 §6) to
    /// the DPoP key of thumbprint `jkt` when there is one.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_bound_access_token(
        &self,
        subject: Subject<'_>,
        client_id: &str,
        scope: &ScopeSet,
        now: i64,
        jti: String,
        resource: Option<&str>,
        jkt: Option<&str>,
    ) -> Result<MintedToken, SigningError> {
        let (sub, email, name) = match subject {
            Subject::User { id, email, name } => (
                id.to_owned(),
                email.map(str::to_owned),
                name.map(str::to_owned),
            ),
            Subject::Client => (client_id.to_owned(), None, None),
        };
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub,
            aud: Audience::One(resource.unwrap_or(&self.audience).to_owned()),
            exp: now + self.ttl,
            iat: now,
            nbf: now,
            jti: jti.clone(),
            client_id: client_id.to_owned(),
            scope: scope.to_string(),
            email,
            name,
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        let token = self.sign_access_claims(&claims, now)?;
        Ok(MintedToken {
            token,
            jti,
            expires_in: self.ttl,
            expires_at: now + self.ttl,
        })
    }

    /// Signs `claims` as an access token (`typ` `at+jwt`) with the ring's
    /// signing key. The claims are the caller's whole: those of an exchanged
    /// token (`act`, an `exp` bounded by its subject's) are more than
    /// [`AccessTokenClaims`] holds. `now` is their `iat`, which decides the
    /// key ([`KeyRing::signer_at`](crate::keys::KeyRing::signer_at)).
    pub fn sign_access_claims(
        &self,
        claims: &impl Serialize,
        now: i64,
    ) -> Result<String, SigningError> {
        let payload = serde_json::to_vec(claims).map_err(|_| SigningError)?;
        let ring = self.keys.current();
        let key = ring.signer_at(now);

        let payload_len = base64::encoded_len(payload.len(), false).unwrap_or(0);
        let mut token = String::with_capacity(key.header_b64.len() + payload_len + 350);
        token.push_str(&key.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key.try_sign(token.as_bytes()).map_err(|_| SigningError)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);

        metrics::counter!("tokens_minted_total").increment(1);
        Ok(token)
    }

    /// Signs an OpenID Connect `id_token` (OIDC Core §2): RS256 with the
    /// signing key of access tokens, `typ` `JWT` so that neither kind of
    /// token can pass for the other. `claims` come from
    /// [`id_token`](super::id_token); `iss`, `iat` and `exp` are set here.
    pub fn sign_id_token(
        &self,
        mut claims: serde_json::Map<String, serde_json::Value>,
        now: i64,
    ) -> Result<String, SigningError> {
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + self.ttl).into());
        self.sign_typed("JWT", &claims, now)
    }

    /// Signs an OpenID Connect Back-Channel Logout token (§2.4) for the
    /// client `audience`: `typ` `logout+jwt` (§2.4: explicitly typed,
    /// so it passes for no other token), the user `subject` and the session `sid`, the
    /// back-channel logout event, and never a `nonce`. `jti` is the
    /// delivery's, the same at every attempt.
    pub fn sign_logout_token(
        &self,
        audience: &str,
        subject: &str,
        sid: &str,
        jti: &str,
        now: i64,
    ) -> Result<String, SigningError> {
        let mut events = serde_json::Map::new();
        events.insert(BACKCHANNEL_LOGOUT_EVENT.into(), serde_json::json!({}));
        let claims = serde_json::json!({
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": jti,
            "sub": subject,
            "sid": sid,
            "events": events,
        });
        self.sign_typed("logout+jwt", &claims, now)
    }

    /// Signs `claims` with the key that signs at `now`, the header naming
    /// `typ`.
    fn sign_typed(
        &self,
        typ: &str,
        claims: &impl Serialize,
        now: i64,
    ) -> Result<String, SigningError> {
        let ring = self.keys.current();
        let key = ring.signer_at(now);
        let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": key.kid});
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        let payload = serde_json::to_vec(claims).map_err(|_| SigningError)?;
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key.try_sign(token.as_bytes()).map_err(|_| SigningError)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}
