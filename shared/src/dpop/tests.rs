//! The proof check with real keys of every allowed kind, and each way a
//! proof can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
    RsaPublicKeyComponents,
};
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::ThumbprintHash;
use serde_json::json;

use super::*;

const NOW: i64 = 1_750_000_000;
const URL: &str = "https://api.example.com/profile/me";
const TOKEN: &str = "an.access.token";

struct Key {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn es256() -> Key {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    Key {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

fn ed25519() -> Key {
    let pair = Ed25519KeyPair::generate().unwrap();
    Key {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(pair.to_pkcs8().unwrap().as_ref()),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }),
    }
}

static RSA: LazyLock<(EncodingKey, Value)> = LazyLock::new(|| {
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pair.as_der().expect("pkcs8").as_ref())
    );
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let jwk = json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
    });
    (EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), jwk)
});

fn rsa(alg: Algorithm) -> Key {
    Key {
        alg,
        encoding: RSA.0.clone(),
        jwk: RSA.1.clone(),
    }
}

fn claims() -> Value {
    json!({
        "htm": "GET", "htu": URL, "iat": NOW, "jti": "proof-1",
        "ath": URL_SAFE_NO_PAD.encode(Sha256::digest(TOKEN.as_bytes())),
    })
}

fn header(key: &Key) -> Value {
    json!({"typ": "dpop+jwt", "alg": serde_json::to_value(key.alg).unwrap(), "jwk": key.jwk})
}

/// A proof with exactly this header and these claims, signed by `key`.
fn sign(key: &Key, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg).unwrap();
    format!("{input}.{signature}")
}

fn request() -> ProofRequest<'static> {
    ProofRequest {
        method: "GET",
        url: URL,
        access_token: Some(TOKEN),
        now: NOW,
    }
}

fn thumbprint(jwk: &Value) -> String {
    serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
        .unwrap()
        .thumbprint(ThumbprintHash::SHA256)
        .unwrap()
}

#[test]
fn a_good_proof_of_every_allowed_kind_passes_with_its_thumbprint() {
    for key in [
        es256(),
        ed25519(),
        rsa(Algorithm::RS256),
        rsa(Algorithm::PS256),
    ] {
        let proof = sign(&key, &header(&key), &claims());
        let verified = check_proof(&proof, &request()).unwrap();
        assert_eq!(verified.jkt, thumbprint(&key.jwk), "{:?}", key.alg);
        assert_eq!(verified.jti, "proof-1");
        assert_eq!(verified.iat, NOW);
        assert_eq!(verified.nonce, None);
    }
}

/// RFC 7638 §3.1's example key and its published thumbprint.
#[test]
fn the_thumbprint_is_rfc_7638s() {
    let jwk = json!({
        "kty": "RSA", "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    });
    assert_eq!(
        thumbprint(&jwk),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn the_url_is_compared_normalised_without_query_or_fragment() {
    let key = es256();
    for htu in [
        "https://api.example.com/profile/me",
        "HTTPS://API.Example.COM/profile/me",
        "https://api.example.com:443/profile/me",
        "https://api.example.com/profile/me?x=1#f",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        let proof = sign(&key, &header(&key), &c);
        assert!(check_proof(&proof, &request()).is_ok(), "{htu}");
    }
    let mut with_query = request();
    with_query.url = "https://api.example.com/profile/me?page=2";
    let proof = sign(&key, &header(&key), &claims());
    assert!(check_proof(&proof, &with_query).is_ok());
    for htu in [
        "https://api.example.com/profile/other",
        "http://api.example.com/profile/me",
        "https://api.example.com:8443/profile/me",
        "https://evil.example/profile/me",
        "/profile/me",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        let proof = sign(&key, &header(&key), &c);
        assert_eq!(
            check_proof(&proof, &request()),
            Err(ProofError::Url),
            "{htu}"
        );
    }
}

#[test]
fn every_wrong_proof_is_refused_for_its_reason() {
    let key = es256();
    let good_header = header(&key);
    let with = |name: &str, value: Value| {
        let mut c = claims();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value;
        }
        c
    };
    let header_with = |name: &str, value: Value| {
        let mut h = good_header.clone();
        if value.is_null() {
            h.as_object_mut().unwrap().remove(name);
        } else {
            h[name] = value;
        }
        h
    };
    let mut private = key.jwk.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
    let cases: Vec<(&str, String, ProofError)> = vec![
        (
            "typ JWT",
            sign(&key, &header_with("typ", json!("JWT")), &claims()),
            ProofError::Typ,
        ),
        (
            "no typ",
            sign(&key, &header_with("typ", Value::Null), &claims()),
            ProofError::Typ,
        ),
        (
            "a private key",
            sign(&key, &header_with("jwk", private), &claims()),
            ProofError::Key,
        ),
        (
            "no jwk",
            sign(&key, &header_with("jwk", Value::Null), &claims()),
            ProofError::Key,
        ),
        (
            "signed by another key",
            sign(&es256(), &good_header, &claims()),
            ProofError::Signature,
        ),
        (
            "an Ed25519 jwk for ES256",
            sign(&key, &header_with("jwk", ed25519().jwk), &claims()),
            ProofError::Key,
        ),
        (
            "crit",
            sign(&key, &header_with("crit", json!(["exp"])), &claims()),
            ProofError::Malformed,
        ),
        (
            "POST for GET",
            sign(&key, &good_header, &with("htm", json!("POST"))),
            ProofError::Method,
        ),
        (
            "no htu",
            sign(&key, &good_header, &with("htu", Value::Null)),
            ProofError::Url,
        ),
        (
            "iat too old",
            sign(&key, &good_header, &with("iat", json!(NOW - 61))),
            ProofError::Time,
        ),
        (
            "iat ahead",
            sign(&key, &good_header, &with("iat", json!(NOW + 61))),
            ProofError::Time,
        ),
        (
            "iat the least i64",
            sign(&key, &good_header, &with("iat", json!(i64::MIN))),
            ProofError::Time,
        ),
        (
            "no jti",
            sign(&key, &good_header, &with("jti", Value::Null)),
            ProofError::Jti,
        ),
        (
            "ath of another token",
            sign(&key, &good_header, &with("ath", json!("AAAA"))),
            ProofError::AccessTokenHash,
        ),
        (
            "no ath",
            sign(&key, &good_header, &with("ath", Value::Null)),
            ProofError::AccessTokenHash,
        ),
        ("not a JWS", "a.b".to_owned(), ProofError::Malformed),
        ("too long", "a".repeat(9000), ProofError::Malformed),
    ];
    for (why, proof, expected) in cases {
        assert_eq!(check_proof(&proof, &request()), Err(expected), "{why}");
    }
    // Within the window either way, and without a token no ath is needed.
    for iat in [NOW - 60, NOW + 60] {
        let proof = sign(&key, &good_header, &with("iat", json!(iat)));
        assert!(check_proof(&proof, &request()).is_ok());
    }
    let mut no_token = request();
    no_token.access_token = None;
    let proof = sign(&key, &good_header, &with("ath", Value::Null));
    assert!(check_proof(&proof, &no_token).is_ok());
}

#[test]
fn alg_none_hs256_and_repeated_members_are_refused() {
    let key = es256();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert_eq!(
        check_proof(&unsigned, &request()),
        Err(ProofError::Algorithm)
    );
    let hmac = Key {
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
        jwk: key.jwk.clone(),
    };
    let proof = sign(&hmac, &header(&hmac), &claims());
    assert_eq!(check_proof(&proof, &request()), Err(ProofError::Algorithm));
    // `htm` twice: one parser would read GET, another POST.
    let twice = r#"{"htm":"POST","htm":"GET","htu":"https://api.example.com/profile/me","iat":1750000000,"jti":"x"}"#;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header(&key).to_string()),
        URL_SAFE_NO_PAD.encode(twice)
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg).unwrap();
    let mut no_token = request();
    no_token.access_token = None;
    assert_eq!(
        check_proof(&format!("{input}.{signature}"), &no_token),
        Err(ProofError::Malformed)
    );
}
