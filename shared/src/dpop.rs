//! DPoP proofs (RFC 9449 §4.3): the one check every service that takes
//! sender-constrained tokens runs, the issuer at its token endpoint and
//! every resource server through the verifier alike. [`check_proof`]
//! takes the proof as the `DPoP` header carried it and what the request
//! was (method, URL, the access token if one came with it) and answers the
//! key's RFC 7638 thumbprint (`jkt`, what `cnf` binds a token to) with the
//! proof's `jti` and `iat`, or why the proof is refused.
//!
//! What stays the caller's: remembering `jti`s for the window (a table at
//! the issuer, bounded memory at a resource server), the server nonce, and
//! comparing `jkt` with the token's `cnf`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::jwks_cache::{CLIENT_ALGORITHMS, VerifyingKey};
use crate::strict_json;

/// The `typ` of a proof's header.
pub const PROOF_TYP: &str = "dpop+jwt";
/// How far a proof's `iat` may be from now, either way.
pub const PROOF_WINDOW_SECS: i64 = 60;
/// A proof is a few hundred bytes (an RSA key makes it about 1.5 KiB).
const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` a caller is asked to remember.
const MAX_JTI_CHARS: usize = 256;

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, as sent (`POST`, `GET`).
    pub method: &'a str,
    /// The URL the client called, as this service is known by (behind a
    /// proxy, its public URL); its query and fragment are ignored.
    pub url: &'a str,
    /// The access token sent with the proof, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
    /// The time the request arrived (Unix seconds).
    pub now: i64,
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    pub jkt: String,
    /// To be remembered for [`PROOF_WINDOW_SECS`] either side of `iat`.
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, if any (RFC 9449 §8).
    pub nonce: Option<String>,
}

/// Why a proof was refused. The text is for logs; it never holds the
/// proof or a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof is not a compact JWS of JSON objects")]
    Malformed,
    #[error("the proof's typ is not dpop+jwt")]
    Typ,
    #[error("the proof's alg is not ES256, PS256, RS256 or EdDSA")]
    Algorithm,
    #[error("the proof's jwk is missing, private, or not a key for its alg")]
    Key,
    #[error("the proof's signature does not verify with its jwk")]
    Signature,
    #[error("the proof's htm is not the request's method")]
    Method,
    #[error("the proof's htu is not the request's URL")]
    Url,
    #[error("the proof's iat is missing or not within 60 s of now")]
    Time,
    #[error("the proof's jti is missing or too long")]
    Jti,
    #[error("the proof's ath is not the hash of the access token")]
    AccessTokenHash,
}

/// Checks a DPoP proof for `request`: `typ` `dpop+jwt`; `alg` one of
/// [`CLIENT_ALGORITHMS`]; a public `jwk` (no private member) of that kind,
/// which the signature verifies with; `htm` the method; `htu` the URL,
/// both normalised (scheme and host lower-case, default port dropped, no
/// query or fragment); `iat` within [`PROOF_WINDOW_SECS`]; a `jti`; and,
/// when an access token came with it, `ath` its base64url SHA-256. No
/// member may be named twice in the header or the claims.
pub fn check_proof(proof: &str, request: &ProofRequest<'_>) -> Result<VerifiedProof, ProofError> {
    check_proof_digested(proof, request, None)
}

/// [`check_proof`] for a caller that holds the SHA-256 of
/// `request.access_token` already: a resource server hashes the token once
/// for its verified-token cache, and `ath` is the same digest. `digest`
/// must be that of `request.access_token`; `None` hashes it here.
pub(crate) fn check_proof_digested(
    proof: &str,
    request: &ProofRequest<'_>,
    digest: Option<&[u8; 32]>,
) -> Result<VerifiedProof, ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header = json_part(header)?;
    let claims = json_part(payload)?;

    let typ = header.get("typ").and_then(Value::as_str);
    if !typ.is_some_and(|typ| typ.eq_ignore_ascii_case(PROOF_TYP)) {
        return Err(ProofError::Typ);
    }
    let alg = header
        .get("alg")
        .and_then(|alg| Algorithm::deserialize(alg).ok())
        .filter(|alg| CLIENT_ALGORITHMS.contains(alg))
        .ok_or(ProofError::Algorithm)?;
    // A critical extension we do not know must not be ignored (RFC 7515
    // §4.1.11), and we know none.
    if header.contains_key("crit") {
        return Err(ProofError::Malformed);
    }
    let jwk = header.get("jwk").ok_or(ProofError::Key)?;
    let (key, jkt) =
        VerifyingKey::from_client_jwk_with_thumbprint(jwk).map_err(|_| ProofError::Key)?;
    if !key.accepts(alg) {
        return Err(ProofError::Key);
    }
    // The signature over the two parts read above: `jsonwebtoken::decode`
    // would decode and parse both again, the header's key with it. The
    // times and the rest are checked below, against the request.
    let (signed, signature) = proof.rsplit_once('.').ok_or(ProofError::Malformed)?;
    let verified =
        jsonwebtoken::crypto::verify(signature, signed.as_bytes(), key.decoding_key(), alg)
            .map_err(|_| ProofError::Signature)?;
    if !verified {
        return Err(ProofError::Signature);
    }

    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(request.method) {
        return Err(ProofError::Method);
    }
    let sent_htu = text("htu").ok_or(ProofError::Url)?;
    let htu = normalised_url(sent_htu).ok_or(ProofError::Url)?;
    // The same text normalises the same way: a client that sends the URL
    // as we know it (the usual case) spares a second parse.
    if sent_htu != request.url && normalised_url(request.url).is_none_or(|url| url != htu) {
        return Err(ProofError::Url);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .filter(|iat| iat.abs_diff(request.now) <= PROOF_WINDOW_SECS.unsigned_abs())
        .ok_or(ProofError::Time)?;
    let jti = text("jti")
        .filter(|jti| !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS)
        .ok_or(ProofError::Jti)?;
    if let Some(token) = request.access_token {
        let digest: [u8; 32] = match digest {
            Some(digest) => *digest,
            None => Sha256::digest(token.as_bytes()).into(),
        };
        let expected = URL_SAFE_NO_PAD.encode(digest);
        if text("ath") != Some(expected.as_str()) {
            return Err(ProofError::AccessTokenHash);
        }
    }
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce: text("nonce").map(str::to_owned),
    })
}

/// One base64url part of the proof, as a JSON object with no member named
/// twice.
fn json_part(part: &str) -> Result<Map<String, Value>, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Malformed)?;
    strict_json::object_from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

/// RFC 9449 §4.3 with RFC 3986 §6.2.2–6.2.3 normalisation: an absolute
/// http(s) URL, scheme and host lower-case, default port dropped, without
/// its query and fragment.
fn normalised_url(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

#[cfg(test)]
mod tests;
