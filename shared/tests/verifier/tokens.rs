//! RFC 9068 / RFC 8725 validation: every way a token can be wrong is
//! refused, and the right one passes.

use std::sync::LazyLock;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use shared::jwks_cache::JwksCache;
use shared::scope::Scope;
use shared::verifier::{MAX_TOKEN_BYTES, TokenRejection, Verifier, VerifierConfig};

use crate::support::{AUDIENCE, ISSUER, NOW, TestKey, claims, signing_input};

static ISSUER_KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);
static ATTACKER_KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);

fn verifier() -> Verifier {
    let keys = JwksCache::fixed(&TestKey::set(&[&ISSUER_KEY])).unwrap();
    Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), keys)
}

async fn check(
    token: &str,
) -> Result<std::sync::Arc<shared::verifier::VerifiedToken>, TokenRejection> {
    verifier().verify(token, NOW).await
}

fn with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn without(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

#[tokio::test]
async fn a_token_from_the_issuer_passes_with_its_claims_and_scopes() {
    let verified = check(&ISSUER_KEY.sign(&claims())).await.unwrap();
    assert_eq!(verified.kid, ISSUER_KEY.kid());
    assert_eq!(verified.claims.sub, "5f0c3c4e-2b4d-4c47-9a0e-0d6a0d5f3a11");
    assert_eq!(verified.claims.email.as_deref(), Some("ada@example.com"));
    assert!(verified.scopes.has(Scope::ProfileRead));
    assert!(verified.scopes.has(Scope::ProfileWrite));
    assert!(!verified.scopes.has(Scope::ProfilesRead));
}

#[tokio::test]
async fn typ_may_carry_the_media_type_prefix_in_any_case() {
    let mut header = ISSUER_KEY.header();
    header["typ"] = json!("Application/AT+JWT");
    assert!(
        check(&ISSUER_KEY.sign_with_header(&header, &claims()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn audience_may_be_an_array_containing_ours() {
    let token = ISSUER_KEY.sign(&with("aud", json!(["other-api", AUDIENCE])));
    assert!(check(&token).await.is_ok());
    let token = ISSUER_KEY.sign(&with("aud", json!(["other-api"])));
    assert_eq!(
        check(&token).await.err(),
        Some(TokenRejection::WrongAudience)
    );
}

#[tokio::test]
async fn algorithm_comes_from_configuration_not_the_token() {
    // alg none, unsigned and with a junk signature.
    let mut header = ISSUER_KEY.header();
    header["alg"] = json!("none");
    let input = signing_input(&header, &claims());
    assert_eq!(
        check(&format!("{input}.")).await.err(),
        Some(TokenRejection::Malformed)
    );
    assert_eq!(
        check(&format!("{input}.AAAA")).await.err(),
        Some(TokenRejection::WrongAlgorithm)
    );
    // HS256 keyed with the public key material, the classic confusion.
    header["alg"] = json!("HS256");
    let input = signing_input(&header, &claims());
    for secret in [ISSUER_KEY.pem.as_bytes(), ISSUER_KEY.jwk.n.as_bytes()] {
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            check(&format!("{input}.{signature}")).await.err(),
            Some(TokenRejection::WrongAlgorithm)
        );
    }
    // RS512 is not RS256 either.
    header["alg"] = json!("RS512");
    assert_eq!(
        check(&ISSUER_KEY.sign_with_header(&header, &claims()))
            .await
            .err(),
        Some(TokenRejection::WrongAlgorithm)
    );
}

#[tokio::test]
async fn a_key_the_issuer_never_published_is_refused() {
    // Same kid as the issuer's key, other key: the signature fails.
    let mut header = ATTACKER_KEY.header();
    header["kid"] = json!(ISSUER_KEY.kid());
    assert_eq!(
        check(&ATTACKER_KEY.sign_with_header(&header, &claims()))
            .await
            .err(),
        Some(TokenRejection::BadSignature)
    );
    // Its own kid: unknown.
    assert_eq!(
        check(&ATTACKER_KEY.sign(&claims())).await.err(),
        Some(TokenRejection::UnknownKey)
    );
    // No kid at all.
    let mut header = ISSUER_KEY.header();
    header.as_object_mut().unwrap().remove("kid");
    assert_eq!(
        check(&ISSUER_KEY.sign_with_header(&header, &claims()))
            .await
            .err(),
        Some(TokenRejection::MissingKid)
    );
}

#[tokio::test]
async fn key_locating_headers_are_never_followed() {
    for (name, value) in [
        ("jku", json!("https://attacker.test/jwks.json")),
        ("x5u", json!("https://attacker.test/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("jwk", serde_json::to_value(&ATTACKER_KEY.jwk).unwrap()),
    ] {
        let mut header = ATTACKER_KEY.header();
        header[name] = value;
        assert_eq!(
            check(&ATTACKER_KEY.sign_with_header(&header, &claims()))
                .await
                .err(),
            Some(TokenRejection::KeyLocatingHeader),
            "{name}"
        );
        // Even on a token the issuer's key did sign.
        let mut header = ISSUER_KEY.header();
        header[name] = json!("x");
        assert!(
            check(&ISSUER_KEY.sign_with_header(&header, &claims()))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn unknown_critical_extensions_and_wrong_typ_are_refused() {
    let mut header = ISSUER_KEY.header();
    header["crit"] = json!(["exp"]);
    header["exp"] = json!(NOW + 10);
    assert_eq!(
        check(&ISSUER_KEY.sign_with_header(&header, &claims()))
            .await
            .err(),
        Some(TokenRejection::UnknownCritical)
    );
    for typ in [json!("JWT"), json!("application/jwt"), json!(7)] {
        let mut header = ISSUER_KEY.header();
        header["typ"] = typ;
        assert_eq!(
            check(&ISSUER_KEY.sign_with_header(&header, &claims()))
                .await
                .err(),
            Some(TokenRejection::WrongType)
        );
    }
    let mut header = ISSUER_KEY.header();
    header.as_object_mut().unwrap().remove("typ");
    assert_eq!(
        check(&ISSUER_KEY.sign_with_header(&header, &claims()))
            .await
            .err(),
        Some(TokenRejection::WrongType)
    );
}

#[tokio::test]
async fn issuer_and_audience_must_match_exactly() {
    for iss in [
        json!("https://issuer.test/"),
        json!("https://evil.test"),
        json!(""),
    ] {
        let result = check(&ISSUER_KEY.sign(&with("iss", iss))).await;
        assert!(
            matches!(
                result.err(),
                Some(TokenRejection::WrongIssuer | TokenRejection::ClaimType("iss"))
            ),
            "iss"
        );
    }
    let token = ISSUER_KEY.sign(&with("aud", json!("profile-api-2")));
    assert_eq!(
        check(&token).await.err(),
        Some(TokenRejection::WrongAudience)
    );
}

#[tokio::test]
async fn time_claims_allow_at_most_sixty_seconds_of_skew() {
    let cases = [
        ("exp", NOW - 59, None),
        ("exp", NOW - 60, Some(TokenRejection::Expired)),
        ("exp", NOW - 3600, Some(TokenRejection::Expired)),
        ("nbf", NOW + 60, None),
        ("nbf", NOW + 61, Some(TokenRejection::NotYetValid)),
        ("iat", NOW + 61, Some(TokenRejection::IssuedInFuture)),
    ];
    for (name, value, expected) in cases {
        let token = ISSUER_KEY.sign(&with(name, json!(value)));
        assert_eq!(check(&token).await.err(), expected, "{name}={value}");
    }
    // A configured leeway above the limit is clamped to it.
    let keys = JwksCache::fixed(&TestKey::set(&[&ISSUER_KEY])).unwrap();
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.leeway_secs = 3600;
    let lenient = Verifier::new(config, keys);
    let token = ISSUER_KEY.sign(&with("exp", json!(NOW - 61)));
    assert_eq!(
        lenient.verify(&token, NOW).await.err(),
        Some(TokenRejection::Expired)
    );
}

#[tokio::test]
async fn every_rfc_9068_claim_is_required_with_its_json_type() {
    for name in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
        assert_eq!(
            check(&ISSUER_KEY.sign(&without(name))).await.err(),
            Some(TokenRejection::MissingClaim(name)),
            "{name}"
        );
    }
    let wrong_types = [
        ("iss", json!(1)),
        ("sub", json!(["a"])),
        ("aud", json!(5)),
        ("aud", json!([1])),
        ("exp", json!("1750000900")),
        ("exp", json!(1.75e9 + 0.5)),
        ("iat", json!(null)),
        ("nbf", json!("soon")),
        ("jti", json!({})),
        ("client_id", json!(true)),
        ("scope", json!(["profile:read"])),
        ("email", json!(1)),
    ];
    for (name, value) in wrong_types {
        let token = ISSUER_KEY.sign(&with(name, value.clone()));
        assert_eq!(
            check(&token).await.err(),
            Some(TokenRejection::ClaimType(match name {
                "iss" => "iss",
                "sub" => "sub",
                "aud" => "aud",
                "exp" => "exp",
                "iat" => "iat",
                "nbf" => "nbf",
                "jti" => "jti",
                "client_id" => "client_id",
                "scope" => "scope",
                _ => "email",
            })),
            "{name}={value}"
        );
    }
    // nbf and scope are optional in RFC 9068.
    let verified = check(&ISSUER_KEY.sign(&without("nbf"))).await.unwrap();
    assert_eq!(verified.claims.nbf, NOW);
    let verified = check(&ISSUER_KEY.sign(&without("scope"))).await.unwrap();
    assert!(verified.scopes.is_empty());
}

#[tokio::test]
async fn damaged_and_oversized_tokens_are_refused_before_use() {
    let token = ISSUER_KEY.sign(&claims());
    // Flip one byte of the signature.
    let mut bytes = token.clone().into_bytes();
    let at = token.rfind('.').unwrap() + 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).unwrap();
    assert_eq!(
        check(&flipped).await.err(),
        Some(TokenRejection::BadSignature)
    );
    // Flip one byte of the payload.
    let mut bytes = token.clone().into_bytes();
    let at = token.find('.').unwrap() + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(check(&tampered).await.is_err());
    for junk in ["garbage", "abc.def.ghi", "a.b.c.d", "..", "e30.e30.e30"] {
        assert!(check(junk).await.is_err(), "{junk}");
    }
    // Oversized, even when otherwise valid.
    let big = ISSUER_KEY.sign(&with("name", json!("x".repeat(MAX_TOKEN_BYTES))));
    assert_eq!(check(&big).await.err(), Some(TokenRejection::TooLong));
}

/// `header` and `claims` as given, byte for byte, RS256-signed with the
/// issuer's key: how a token with a repeated member is made.
fn sign_raw(header: &str, claims: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &ISSUER_KEY.encoding, Algorithm::RS256)
            .unwrap();
    format!("{input}.{signature}")
}

/// The issuer's claims as JSON text with `extra` spliced in after `{`.
fn claims_text_with(extra: &str) -> String {
    let text = claims().to_string();
    format!("{{{extra},{}", &text[1..])
}

#[tokio::test]
async fn a_member_named_twice_in_the_claims_or_the_header_is_refused_even_signed() {
    let header = ISSUER_KEY.header().to_string();
    // The baseline, made the same way, passes.
    assert!(
        check(&sign_raw(&header, &claims().to_string()))
            .await
            .is_ok()
    );

    for extra in [
        // Another user's id first or last: parsers keeping either would
        // disagree on whose token this is.
        r#""sub":"someone-else""#,
        r#""iss":"https://issuer.test""#,
        r#""aud":"profile-api""#,
        r#""exp":1750000900"#,
        // Escaped to the same name.
        r#""s\u0075b":"someone-else""#,
        r#""scope":"profiles:read""#,
    ] {
        let claims = claims_text_with(extra);
        assert_eq!(
            check(&sign_raw(&header, &claims)).await.err(),
            Some(TokenRejection::DuplicateMember),
            "{extra}"
        );
    }
    // A repeated name inside a nested member counts too.
    let nested = claims_text_with(r#""act":{"sub":"a","sub":"b"}"#);
    assert_eq!(
        check(&sign_raw(&header, &nested)).await.err(),
        Some(TokenRejection::DuplicateMember)
    );
    // The same name in different objects is no repetition.
    let distinct = claims_text_with(r#""act":{"sub":"a","act":{"sub":"b"}}"#);
    assert!(check(&sign_raw(&header, &distinct)).await.is_ok());

    let kid = ISSUER_KEY.kid();
    for header in [
        format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","alg":"RS256"}}"#),
        format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}","alg":"RS256"}}"#),
        format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"other","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"RS256","typ":"JWT","typ":"at+jwt","kid":"{kid}"}}"#),
    ] {
        assert_eq!(
            check(&sign_raw(&header, &claims().to_string())).await.err(),
            Some(TokenRejection::DuplicateMember),
            "{header}"
        );
    }
    assert_eq!(TokenRejection::DuplicateMember.label(), "duplicate_member");
}

#[tokio::test]
async fn cnf_is_read_as_a_dpop_binding_and_any_other_confirmation_is_refused() {
    let unbound = check(&ISSUER_KEY.sign(&claims())).await.unwrap();
    assert_eq!(unbound.claims.cnf, None);
    let bound = check(&ISSUER_KEY.sign(&with("cnf", json!({"jkt": "abc"}))))
        .await
        .unwrap();
    assert_eq!(
        bound.claims.cnf.as_ref().map(|cnf| cnf.jkt.as_str()),
        Some("abc")
    );
    for cnf in [
        json!("abc"),
        json!({}),
        json!({"jkt": ""}),
        json!({"jkt": 1}),
        json!({"x5t#S256": "abc"}),
        json!({"jkt": "abc", "x5t#S256": "abc"}),
    ] {
        assert_eq!(
            check(&ISSUER_KEY.sign(&with("cnf", cnf.clone())))
                .await
                .err(),
            Some(TokenRejection::ClaimType("cnf")),
            "{cnf}"
        );
    }
}
