//! RFC 6750 answers: each way a request can fail authentication gets its
//! status, its challenge, and a problem+json body that never echoes the
//! token.

use rocket::http::{Header, Status};
use serde_json::json;

use crate::helpers::{
    ISSUER, KEY, NOW, PROBLEM_JSON, new_sub, parts, spawn_app, user_claims, user_token,
};

const BARE: &str = r#"Bearer realm="profile-api", DPoP algs="ES256 PS256 RS256 EdDSA""#;

#[rocket::async_test]
async fn no_credentials_or_another_scheme_get_a_bare_challenge() {
    let app = spawn_app().await;
    let none = app.client.get("/profile/me").dispatch().await;
    let (status, challenge, content_type, body) = parts(none).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(challenge.as_deref(), Some(BARE));
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 401);
    for value in ["Basic dXNlcjpwYXNz", "Digest x", "Bearerx abc"] {
        let response = app
            .client
            .get("/profile/me")
            .header(Header::new("Authorization", value))
            .dispatch()
            .await;
        let (status, challenge, _, _) = parts(response).await;
        assert_eq!(status, Status::Unauthorized, "{value}");
        assert_eq!(challenge.as_deref(), Some(BARE), "{value}");
    }
}

#[rocket::async_test]
async fn a_malformed_authorization_is_invalid_request() {
    let app = spawn_app().await;
    for value in ["Bearer", "Bearer   ", "bearer"] {
        let response = app
            .client
            .get("/profile/me")
            .header(Header::new("Authorization", value))
            .dispatch()
            .await;
        let (status, challenge, content_type, _) = parts(response).await;
        assert_eq!(status, Status::BadRequest, "{value:?}");
        assert!(challenge.unwrap().contains(r#"error="invalid_request""#));
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    }
    let token = user_token(&new_sub(), "profile:read");
    let response = app
        .client
        .get("/profile/me")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    let (status, challenge, _, _) = parts(response).await;
    assert_eq!(status, Status::BadRequest);
    assert!(challenge.unwrap().contains(r#"error="invalid_request""#));
}

#[rocket::async_test]
async fn bad_tokens_are_invalid_token_without_echoing_them() {
    let app = spawn_app().await;
    let sub = new_sub();
    let mut expired = user_claims(&sub, "profile:read");
    expired["exp"] = json!(NOW - 120);
    let mut foreign = user_claims(&sub, "profile:read");
    foreign["iss"] = json!(format!("{ISSUER}/other"));
    let valid = user_token(&sub, "profile:read");
    let flipped = {
        let mut bytes = valid.clone().into_bytes();
        let at = valid.rfind('.').unwrap() + 3;
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        String::from_utf8(bytes).unwrap()
    };
    let tokens = [
        "garbage-token-value".to_owned(),
        "abc.def.ghi".to_owned(),
        "not a token at all".to_owned(),
        KEY.sign(&expired),
        KEY.sign(&foreign),
        flipped,
        "a".repeat(9000),
    ];
    for token in tokens {
        let response = app
            .client
            .get("/profile/me")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
        let (status, challenge, content_type, body) = parts(response).await;
        assert_eq!(status, Status::Unauthorized, "{token:.40}");
        let challenge = challenge.unwrap();
        assert!(challenge.starts_with(r#"Bearer realm="profile-api", error="invalid_token""#));
        assert!(!challenge.contains(&token[..10.min(token.len())]) || token.len() < 10);
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert!(!body.to_string().contains(&token));
    }
}

#[rocket::async_test]
async fn the_scheme_name_is_case_insensitive() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), "profile:read");
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let response = app
            .client
            .get("/profile/me")
            .header(Header::new("Authorization", format!("{scheme} {token}")))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok, "{scheme}");
    }
}

#[rocket::async_test]
async fn a_missing_scope_is_insufficient_scope_naming_it() {
    let app = spawn_app().await;
    let token = user_token(&new_sub(), "profile:write");
    let (status, challenge, content_type, body) = parts(app.get_profile_me(&token).await).await;
    assert_eq!(status, Status::Forbidden);
    let challenge = challenge.unwrap();
    assert!(challenge.contains(r#"error="insufficient_scope""#));
    assert!(challenge.ends_with(r#"scope="profile:read""#));
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 403);
}

#[rocket::async_test]
async fn a_token_naming_a_claim_twice_is_an_invalid_token_even_when_signed() {
    let app = spawn_app().await;
    let sub = new_sub();
    let claims = user_claims(&sub, "profile:read").to_string();
    // Another user's id after the real one: a parser keeping the last
    // would read someone else's profile.
    let twice = format!(
        "{},\"sub\":\"{}\"}}",
        &claims[..claims.len() - 1],
        new_sub()
    );
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": KEY.jwk.kid}).to_string();
    // The same bytes without the repetition pass, so only it is refused.
    let (status, _, _, _) = parts(app.get_profile_me(&KEY.sign_raw(&header, &claims)).await).await;
    assert_eq!(status, Status::Ok);
    let token = KEY.sign_raw(&header, &twice);
    let (status, challenge, content_type, body) = parts(app.get_profile_me(&token).await).await;
    assert_eq!(status, Status::Unauthorized);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(body["status"], 401);
    assert!(!body.to_string().contains(&token));
    // And in the header.
    let header_twice = format!(
        "{{\"alg\":\"RS256\",\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"{}\"}}",
        KEY.jwk.kid.as_deref().unwrap()
    );
    let (status, challenge, _, _) = parts(
        app.get_profile_me(&KEY.sign_raw(&header_twice, &claims))
            .await,
    )
    .await;
    assert_eq!(status, Status::Unauthorized);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
}
