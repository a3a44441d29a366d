//! The issuer's public keys as the verifier uses them: each JWK of the set
//! checked once, when the set is parsed, and turned into the
//! `jsonwebtoken` `DecodingKey` that signatures are checked with, so that no
//! request parses or builds a key.
//!
//! A set has a [`KeyPurpose`]: the issuer's own set verifies access tokens,
//! RS256 only; a client's set (RFC 7523 assertions, RFC 9449 proofs)
//! verifies `ES256`, `PS256`, `RS256` or `EdDSA`, each key only with the
//! algorithms of its kind.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::jwk::Jwk;

/// A public key that verifies RS256 signatures, checked and turned into a
/// `jsonwebtoken` [`DecodingKey`] once, when the set is parsed, so that no
/// request builds one.
pub struct VerifyingKey {
    kid: String,
    key: DecodingKey,
    /// What this key may verify: its kind's algorithms, or the one its
    /// `alg` names.
    algorithms: &'static [Algorithm],
}

/// What a set of keys is trusted to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyPurpose {
    /// The issuer's access tokens: RSA keys with a `kid`, `RS256` only.
    #[default]
    IssuerTokens,
    /// A client's own signatures: [`CLIENT_ALGORITHMS`].
    ClientSignatures,
}

/// The algorithms a client may sign assertions and proofs with.
pub const CLIENT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// JWK members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

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
        Ok(VerifyingKey {
            kid,
            key,
            algorithms: &[Algorithm::RS256],
        })
    }

    /// Parses a client's public signing key: RSA (at least 2048 bits),
    /// EC P-256 or Ed25519. A key with any private member, meant for
    /// encryption, or whose `alg` its kind cannot sign with is refused. A
    /// key without a `kid` is known by its RFC 7638 thumbprint.
    pub fn from_client_jwk(value: &Value) -> Result<VerifyingKey, String> {
        Self::from_client_jwk_with_thumbprint(value).map(|(key, _)| key)
    }

    /// [`VerifyingKey::from_client_jwk`], with the key's RFC 7638 SHA-256
    /// thumbprint (a DPoP proof's `jkt`), from the one parse of the JWK.
    pub fn from_client_jwk_with_thumbprint(
        value: &Value,
    ) -> Result<(VerifyingKey, String), String> {
        let members = value.as_object().ok_or("not a JSON object")?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| members.contains_key(**m)) {
            return Err(format!("has the private member {private:?}"));
        }
        if members.get("use").is_some_and(|u| u != "sig") {
            return Err("use is not sig".into());
        }
        let jwk =
            jsonwebtoken::jwk::Jwk::deserialize(value).map_err(|e| format!("not a JWK: {e}"))?;
        let kty = members.get("kty").and_then(Value::as_str).unwrap_or("");
        let crv = members.get("crv").and_then(Value::as_str).unwrap_or("");
        let family: &'static [Algorithm] = match (kty, crv) {
            ("RSA", _) => &[Algorithm::PS256, Algorithm::RS256],
            ("EC", "P-256") => &[Algorithm::ES256],
            ("OKP", "Ed25519") => &[Algorithm::EdDSA],
            _ => {
                return Err(format!(
                    "kty {kty:?} crv {crv:?} is not a supported signing key"
                ));
            }
        };
        if kty == "RSA" {
            let component = |name: &str| {
                members
                    .get(name)
                    .and_then(Value::as_str)
                    .and_then(decode_component)
                    .ok_or(format!("{name} is not base64url"))
            };
            let (n, e) = (component("n")?, component("e")?);
            RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                .map_err(|e| format!("not a usable RSA key: {e}"))?;
            if n.len() < 256 {
                return Err("an RSA key shorter than 2048 bits".into());
            }
        }
        let algorithms = match members.get("alg") {
            None => family,
            Some(alg) => {
                let named = family
                    .iter()
                    .position(|a| serde_json::to_value(a).is_ok_and(|v| v == *alg))
                    .ok_or("its alg is not one its kind signs with")?;
                &family[named..=named]
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("not a usable key: {e}"))?;
        let thumbprint = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("no thumbprint: {e}"))?;
        let kid = match members.get("kid").and_then(Value::as_str) {
            Some(kid) if !kid.is_empty() => kid.to_owned(),
            _ => thumbprint.clone(),
        };
        let key = VerifyingKey {
            kid,
            key,
            algorithms,
        };
        Ok((key, thumbprint))
    }

    /// Whether this key may verify a signature made with `algorithm`.
    pub fn accepts(&self, algorithm: Algorithm) -> bool {
        self.algorithms.contains(&algorithm)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// What [`jsonwebtoken::decode`] checks a signature with.
    pub fn decoding_key(&self) -> &DecodingKey {
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
    parse_key_set_for(set, KeyPurpose::IssuerTokens)
}

/// [`parse_key_set`] for keys of `purpose`.
pub fn parse_key_set_for(
    set: &Value,
    purpose: KeyPurpose,
) -> Result<HashMap<String, Arc<VerifyingKey>>, String> {
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no keys array")?;
    let mut parsed = HashMap::with_capacity(keys.len());
    for key in keys {
        if purpose == KeyPurpose::ClientSignatures {
            match VerifyingKey::from_client_jwk(key) {
                Ok(key) => {
                    parsed.insert(key.kid.clone(), Arc::new(key));
                }
                Err(reason) => {
                    tracing::warn!(kid = ?key.get("kid"), %reason, "skipping a client key we cannot use");
                }
            }
            continue;
        }
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
