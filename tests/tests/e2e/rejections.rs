//! Every way a request can carry a bad credential is answered 401 with the
//! right challenge, never a 5xx, with the issuer's real key used to forge
//! tokens whose only fault is in their claims or header.

use e2e::{ForgingKey, Stack, claims_of, header_of, now, sign_hs256, signing_input, spawn_stack};
use serde_json::{Value, json};

async fn expect_401(stack: &Stack, authorization: Option<&str>, case: &str) -> String {
    let response = match authorization {
        Some(value) => stack.get_with_authorization("/profile/me", value).await,
        None => stack
            .http
            .get(stack.resource.url("/profile/me"))
            .send()
            .await
            .unwrap(),
    };
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap();
    assert_eq!(status, 401, "{case}: {body}");
    assert!(
        challenge.starts_with("Bearer realm=\""),
        "{case}: {challenge}"
    );
    assert_eq!(content_type, "application/problem+json", "{case}");
    if let Some(value) = authorization {
        let token = value.split_once(' ').map(|(_, t)| t).unwrap_or(value);
        if token.len() > 16 {
            assert!(
                !body.contains(token) && !challenge.contains(token),
                "{case} echoed"
            );
        }
    }
    challenge
}

async fn expect_invalid_token(stack: &Stack, token: &str, case: &str) {
    let challenge = expect_401(stack, Some(&format!("Bearer {token}")), case).await;
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{case}: {challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forged_or_damaged_credential_is_refused() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);

    let issuer_key = stack.issuer_key();
    assert_eq!(header_of(&user.token)["kid"], issuer_key.kid.as_str());
    let claims = claims_of(&user.token);
    // Re-signing the real claims with the real key passes: the forgeries
    // below fail for their one fault and nothing else.
    let resigned = issuer_key.sign(&issuer_key.header(), &claims);
    assert_eq!(stack.get_profile_me(&resigned).await.status(), 200);

    // No credentials, and another scheme: a bare challenge.
    let bare = expect_401(&stack, None, "no header").await;
    let both = r#"Bearer realm="profile-api", DPoP algs="ES256 PS256 RS256 EdDSA""#;
    assert_eq!(bare, both);
    let basic = expect_401(&stack, Some("Basic dXNlcjpwYXNzd29yZA=="), "basic").await;
    assert_eq!(basic, both);

    let with = |name: &str, value: Value| {
        let mut forged = claims.clone();
        forged[name] = value;
        issuer_key.sign(&issuer_key.header(), &forged)
    };
    let with_header = |name: &str, value: Value| {
        let mut header = issuer_key.header();
        header[name] = value;
        issuer_key.sign(&header, &claims)
    };
    let attacker = ForgingKey::generate();

    let mut cases: Vec<(&str, String)> = vec![
        ("garbage", "garbage".into()),
        (
            "three segments of junk",
            "eyJqdW5rIjp0cnVlfQ.anVuaw.anVuaw".into(),
        ),
        ("wrong iss", with("iss", json!("http://127.0.0.1:1"))),
        ("wrong aud", with("aud", json!("another-api"))),
        ("expired", with("exp", json!(now() - 120))),
        ("nbf in the future", with("nbf", json!(now() + 600))),
        ("wrong typ", with_header("typ", json!("JWT"))),
        ("unknown crit", with_header("crit", json!(["exp"]))),
        ("oversized", with("name", json!("x".repeat(9 * 1024)))),
    ];

    let mut none_header = issuer_key.header();
    none_header["alg"] = json!("none");
    cases.push((
        "alg none",
        format!("{}.", signing_input(&none_header, &claims)),
    ));
    cases.push((
        "alg none with junk signature",
        format!("{}.c2ln", signing_input(&none_header, &claims)),
    ));

    let mut hs_header = issuer_key.header();
    hs_header["alg"] = json!("HS256");
    let public_pem = issuer_key.public_pem();
    cases.push((
        "HS256 keyed with the public PEM",
        sign_hs256(&hs_header, &claims, public_pem.as_bytes()),
    ));
    let n_bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &issuer_key.n,
    )
    .unwrap();
    cases.push((
        "HS256 keyed with n",
        sign_hs256(&hs_header, &claims, &n_bytes),
    ));

    let mut stolen_kid = attacker.header();
    stolen_kid["kid"] = json!(issuer_key.kid);
    cases.push((
        "unpublished key, published kid",
        attacker.sign(&stolen_kid, &claims),
    ));
    cases.push((
        "unpublished key, its own kid",
        attacker.sign(&attacker.header(), &claims),
    ));

    let mut jku = attacker.header();
    jku["jku"] = json!("http://127.0.0.1:1/attacker-jwks.json");
    cases.push(("jku to an attacker key", attacker.sign(&jku, &claims)));
    let mut embedded = attacker.header();
    embedded["jwk"] = json!({"kty": "RSA", "n": attacker.n, "e": attacker.e});
    cases.push(("embedded jwk", attacker.sign(&embedded, &claims)));

    let flipped = {
        let token = user.token.clone();
        let at = token.rfind('.').unwrap() + 20;
        let mut bytes = token.into_bytes();
        bytes[at] = if bytes[at] == b'Q' { b'R' } else { b'Q' };
        String::from_utf8(bytes).unwrap()
    };
    cases.push(("flipped signature byte", flipped));

    for (case, token) in &cases {
        expect_invalid_token(&stack, token, case).await;
    }
    // The real token still works after all that.
    assert_eq!(stack.get_profile_me(&user.token).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_is_invalid_request() {
    let stack = spawn_stack().await;
    let user = stack.new_user().await;
    let response = stack.get_with_authorization("/profile/me", "Bearer").await;
    assert_eq!(response.status(), 400);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains(r#"error="invalid_request""#));

    let response = stack
        .http
        .get(stack.resource.url("/profile/me"))
        .header("Authorization", format!("Bearer {}", user.token))
        .header("Authorization", format!("Bearer {}", user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Scheme names are case-insensitive.
    let response = stack
        .get_with_authorization("/profile/me", &format!("bEARER {}", user.token))
        .await;
    assert_eq!(response.status(), 200);
}
