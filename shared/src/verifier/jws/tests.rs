//! The checks of one token: its compact form and `typ`, and, with a real
//! key and real signatures, the mapping of `jsonwebtoken`'s refusals and
//! that a refusal by the library stands even where our own reading of the
//! claims finds nothing wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{KeyPair as _, RsaPublicKeyComponents};
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;
use crate::jwk::Jwk;
use crate::verifier::MAX_LEEWAY_SECS;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "profile-api";
/// Long before the wall clock of any run: `jsonwebtoken`'s own
/// expiry check, were it on, would refuse every token here.
const NOW: i64 = 1_750_000_000;

struct Key {
    encoding: EncodingKey,
    verifying: VerifyingKey,
}

static KEY: LazyLock<Key> = LazyLock::new(|| {
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pair.as_der().expect("pkcs8").as_ref())
    );
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let jwk = Jwk::rsa_signing_key(&public.n, &public.e);
    Key {
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem"),
        verifying: VerifyingKey::from_jwk(&jwk).expect("jwk"),
    }
});

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": NOW + 900,
        "iat": NOW, "nbf": NOW, "jti": "jti-1", "client_id": "first-party",
        "scope": "profile:read"
    })
}

fn header(typ: &str) -> Value {
    json!({"alg": "RS256", "typ": typ, "kid": KEY.verifying.kid()})
}

fn sign_with(header: &Value, claims: &Value, algorithm: Algorithm) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &KEY.encoding, algorithm).expect("sign");
    format!("{input}.{signature}")
}

fn sign(claims: &Value) -> String {
    sign_with(&header("at+jwt"), claims, Algorithm::RS256)
}

fn with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn without(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().map(|c| c.remove(name));
    claims
}

fn rules() -> ClaimRules {
    ClaimRules::access_tokens(ISSUER, Some(AUDIENCE), MAX_LEEWAY_SECS)
}

fn access(token: &str, now: Option<i64>) -> Result<AccessTokenClaims, TokenRejection> {
    let jws = Jws::parse(token, TokenKind::Access)?;
    jws.access_token(&KEY.verifying, &rules(), now)
        .map(|(_, claims)| claims)
}

/// `jsonwebtoken`'s verdict alone: our header checks skipped and
/// our reading of the claims accepting anything.
fn library_verdict(token: &str, rules: &ClaimRules) -> Result<(), TokenRejection> {
    let mut parts = token.split('.');
    let jws = Jws {
        token,
        payload: parts.nth(1).unwrap_or_default(),
        kid: KEY.verifying.kid().to_owned(),
    };
    jws.verify_with(&KEY.verifying, rules, |_| Ok(()))
}

#[test]
fn a_valid_token_passes_on_a_clock_far_from_the_wall_clock() {
    let token = sign(&claims());
    assert!(access(&token, Some(NOW)).is_ok());
    // Minted and checked far in the future: nbf and iat lie far
    // beyond the wall clock, which `jsonwebtoken` does not read here.
    let later = 4_000_000_000;
    let token = sign(&json!({
        "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": later + 900,
        "iat": later, "nbf": later, "jti": "jti-1", "client_id": "first-party"
    }));
    assert!(access(&token, Some(later)).is_ok());
    assert_eq!(
        access(&token, Some(NOW)).err(),
        Some(TokenRejection::NotYetValid)
    );
}

#[test]
fn expiry_is_refused_on_exp_plus_leeway_by_our_clock() {
    let token = sign(&claims());
    let exp = NOW + 900;
    assert!(access(&token, Some(exp + MAX_LEEWAY_SECS - 1)).is_ok());
    assert_eq!(
        access(&token, Some(exp + MAX_LEEWAY_SECS)).err(),
        Some(TokenRejection::Expired)
    );
    // Without a clock, whatever its expiry (introspection).
    assert!(access(&token, None).is_ok());
    // A negative exp is an expired token, not a missing claim
    // (`jsonwebtoken` reads only unsigned times).
    let token = sign(&with("exp", json!(-5)));
    assert_eq!(
        access(&token, Some(NOW)).err(),
        Some(TokenRejection::Expired)
    );
}

#[test]
fn the_library_refusals_keep_their_reasons() {
    let rules = rules();
    assert_eq!(library_verdict(&sign(&claims()), &rules), Ok(()));
    assert_eq!(
        library_verdict(&sign(&with("iss", json!("https://evil.test"))), &rules),
        Err(TokenRejection::WrongIssuer)
    );
    assert_eq!(
        library_verdict(&sign(&with("aud", json!("other-api"))), &rules),
        Err(TokenRejection::WrongAudience)
    );
    assert_eq!(
        library_verdict(&sign(&with("aud", json!(["a", "b"]))), &rules),
        Err(TokenRejection::WrongAudience)
    );
    for name in ["iss", "sub", "aud", "exp"] {
        assert_eq!(
            library_verdict(&sign(&without(name)), &rules),
            Err(TokenRejection::MissingClaim(name)),
            "{name}"
        );
    }
    // A valid signature, but by another algorithm than the header's
    // RS256, and a header naming that other algorithm.
    let rs384 = sign_with(&header("at+jwt"), &claims(), Algorithm::RS384);
    assert_eq!(
        library_verdict(&rs384, &rules),
        Err(TokenRejection::BadSignature)
    );
    let mut other = header("at+jwt");
    other["alg"] = json!("RS384");
    let rs384 = sign_with(&other, &claims(), Algorithm::RS384);
    assert_eq!(
        library_verdict(&rs384, &rules),
        Err(TokenRejection::WrongAlgorithm)
    );
    assert_eq!(
        access(&rs384, Some(NOW)).err(),
        Some(TokenRejection::WrongAlgorithm)
    );
    let mut ps256 = header("at+jwt");
    ps256["alg"] = json!("PS256");
    let ps256 = sign_with(&ps256, &claims(), Algorithm::PS256);
    assert_eq!(
        library_verdict(&ps256, &rules),
        Err(TokenRejection::WrongAlgorithm)
    );
    // A damaged signature, in base64 and in value.
    let token = sign(&claims());
    assert_eq!(
        library_verdict(&format!("{token}!"), &rules),
        Err(TokenRejection::Malformed)
    );
    let (signed, _) = token.rsplit_once('.').unwrap_or_default();
    assert_eq!(
        library_verdict(&format!("{signed}.AAAA"), &rules),
        Err(TokenRejection::BadSignature)
    );
}

#[test]
fn our_reading_names_the_first_fault() {
    // Two faults: ours come first, in our order, though the library
    // would name the issuer.
    let mut two_faults = with("iss", json!("https://evil.test"));
    two_faults.as_object_mut().map(|c| c.remove("jti"));
    assert_eq!(
        access(&sign(&two_faults), Some(NOW)).err(),
        Some(TokenRejection::MissingClaim("jti"))
    );
    let array = with("iss", json!(["https://evil.test"]));
    assert_eq!(
        access(&sign(&array), Some(NOW)).err(),
        Some(TokenRejection::ClaimType("iss"))
    );
    // An issuer array naming ours passes the library; not us.
    let array = with("iss", json!([ISSUER]));
    assert_eq!(library_verdict(&sign(&array), &rules()), Ok(()));
    assert_eq!(
        access(&sign(&array), Some(NOW)).err(),
        Some(TokenRejection::ClaimType("iss"))
    );
    // A string exp: our claim type, not the library's missing claim.
    assert_eq!(
        access(&sign(&with("exp", json!("soon"))), Some(NOW)).err(),
        Some(TokenRejection::ClaimType("exp"))
    );
    assert_eq!(
        access(&sign(&with("iss", json!("https://evil.test"))), Some(NOW)).err(),
        Some(TokenRejection::WrongIssuer)
    );
    assert_eq!(
        access(&sign(&with("aud", json!("other-api"))), Some(NOW)).err(),
        Some(TokenRejection::WrongAudience)
    );
    assert_eq!(
        access(&sign(&without("exp")), Some(NOW)).err(),
        Some(TokenRejection::MissingClaim("exp"))
    );
    // A repeated `iss`: the library's serde refuses it as JSON; we
    // say why.
    let text = claims().to_string();
    let repeated = format!("{{\"iss\":\"{ISSUER}\",{}", &text[1..]);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header("at+jwt").to_string()),
        URL_SAFE_NO_PAD.encode(repeated)
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &KEY.encoding, Algorithm::RS256)
        .unwrap_or_default();
    assert_eq!(
        access(&format!("{input}.{signature}"), Some(NOW)).err(),
        Some(TokenRejection::DuplicateMember)
    );
}

#[test]
fn any_audience_and_id_tokens_for_the_issuer_itself() {
    let token = sign(&with("aud", json!("https://other-resource.test")));
    let anywhere = ClaimRules::access_tokens(ISSUER, None, MAX_LEEWAY_SECS);
    let jws = Jws::parse(&token, TokenKind::Access);
    assert!(
        jws.and_then(|jws| jws.access_token(&KEY.verifying, &anywhere, None))
            .is_ok()
    );
    // An access token is no id_token and the other way round.
    assert_eq!(
        Jws::parse(&token, TokenKind::Id).err(),
        Some(TokenRejection::WrongType)
    );
    let id_token = sign_with(
        &header("JWT"),
        &json!({"iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": 1}),
        Algorithm::RS256,
    );
    assert_eq!(
        Jws::parse(&id_token, TokenKind::Access).err(),
        Some(TokenRejection::WrongType)
    );
    let read = |token: &str, issuer: &str| {
        Jws::parse(token, TokenKind::Id)
            .and_then(|jws| jws.claims(&KEY.verifying, &ClaimRules::id_tokens(issuer)))
    };
    let claims = read(&id_token, ISSUER);
    assert_eq!(
        claims.ok().and_then(|c| c.get("aud").cloned()),
        Some(json!("client-1"))
    );
    assert_eq!(
        read(&id_token, "https://evil.test").err(),
        Some(TokenRejection::WrongIssuer)
    );
}

#[test]
fn a_header_the_library_cannot_read_is_malformed_before_the_signature() {
    let mut odd = header("at+jwt");
    odd["cty"] = json!(5);
    let token = sign_with(&odd, &claims(), Algorithm::RS256);
    assert_eq!(
        Jws::parse(&token, TokenKind::Access).err(),
        Some(TokenRejection::Malformed)
    );
    odd["cty"] = json!("at+jwt");
    let token = sign_with(&odd, &claims(), Algorithm::RS256);
    assert!(access(&token, Some(NOW)).is_ok());
}

#[test]
fn typ_is_compared_case_insensitively_with_optional_prefix() {
    assert!(is_access_token_typ("at+jwt"));
    assert!(is_access_token_typ("AT+JWT"));
    assert!(is_access_token_typ("application/at+jwt"));
    assert!(is_access_token_typ("Application/At+Jwt"));
    assert!(!is_access_token_typ("JWT"));
    assert!(!is_access_token_typ("application/jwt"));
    assert!(!is_access_token_typ("text/at+jwt"));
}

#[test]
fn compact_form_needs_three_non_empty_parts() {
    assert!(split_compact("a.b.c").is_ok());
    assert_eq!(split_compact("a.b").err(), Some(TokenRejection::Malformed));
    assert_eq!(
        split_compact("a.b.c.d").err(),
        Some(TokenRejection::Malformed)
    );
    assert_eq!(split_compact("a..c").err(), Some(TokenRejection::Malformed));
    let long = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(split_compact(&long).err(), Some(TokenRejection::TooLong));
}
