//! The issuer's public keys as the verifier uses them: each JWK of the set
//! checked once, when the set is parsed, and turned into the
//! `jsonwebtoken` `DecodingKey` that signatures are checked with, so that no
//! request parses or builds a key.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::jwk::Jwk;

/// A public key that verifies RS256 signatures, checked and turned into a
/// `jsonwebtoken` [`DecodingKey`] once, when the set is parsed, so that no
/// request builds one.
pub struct VerifyingKey {
    kid: String,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl VerifyingKey {
    /// Parses an RSA signing key. Keys meant for something else (`use`
    /// other than `sig`, `alg` other than `RS256`, another `kty`) or without
    /// a `kid` are refused: a token can only name a key by `kid`.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, String> {
        if jwk.kty != "RSA" {
            return Err(format!("kty {:?} is not RSA", jwk.kty));
        }
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("use is not sig".into());
        }
        if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
            return Err("alg is not RS256".into());
        }
        let kid = match jwk.kid.as_deref() {
            Some(kid) if !kid.is_empty() => kid.to_owned(),
            _ => return Err("no kid".into()),
        };
        let n = decode_component(&jwk.n).ok_or("n is not base64url")?;
        let e = decode_component(&jwk.e).ok_or("e is not base64url")?;
        // Built once here only to refuse, with the reason logged, what is no
        // RSA key at all. A key under 2048 bits still parses; verifying with
        // it fails (RSA_PKCS1_2048_8192_SHA256, which `jsonwebtoken` uses
        // for RS256, enforces the size only then), so nothing it signed is
        // ever accepted.
        RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| format!("not a usable RSA key: {e}"))?;
        let key = DecodingKey::from_rsa_raw_components(&n, &e);
        Ok(VerifyingKey { kid, key })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// What [`jsonwebtoken::decode`] checks a signature with.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

/// Big-endian integer from base64url; leading zero octets, which some
/// issuers send, are dropped because the parser refuses them.
fn decode_component(b64: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    Some(bytes[first..].to_vec())
}

/// Parses every usable key of a set, skipping (and logging) the others, so
/// that one odd key (an EC key, an encryption key) does not hide the rest.
pub fn parse_key_set(set: &Value) -> Result<HashMap<String, Arc<VerifyingKey>>, String> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no keys array")?;
    let mut parsed = HashMap::with_capacity(keys.len());
    for key in keys {
        let jwk: Jwk = match serde_json::from_value(key.clone()) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::warn!(error = %e, "skipping a JWKS entry that is not a JWK");
                continue;
            }
        };
        match VerifyingKey::from_jwk(&jwk) {
            Ok(key) => {
                parsed.insert(key.kid.clone(), Arc::new(key));
            }
            Err(reason) => {
                tracing::warn!(kid = ?jwk.kid, %reason, "skipping a JWKS key we cannot use");
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_keys_that_are_not_rs256_signing_keys() {
        let mut jwk = Jwk::rsa_signing_key(&[0xc3; 256], &[1, 0, 1]);
        jwk.use_ = Some("enc".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.use_ = None;
        jwk.alg = Some("RS512".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.alg = None;
        jwk.kid = None;
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }
}
