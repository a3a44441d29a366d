//! OpenID Connect: the id_token and its claims, UserInfo, the OpenID
//! discovery document and RFC 8707 resource indicators; and the helpers
//! the other OpenID test files (`oidc_sessions`, `oidc_logout`) share.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientMetadata, NewClient};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::scope::ScopeSet;

use crate::helpers::{ISSUER, PASSWORD, TestApp, decode_parts, spawn_app};
use crate::oauth_support::*;

pub(crate) const LOGOUT_URI: &str = "https://app.example/signed-out";
pub(crate) const BILLING: &str = "https://billing.example";
pub(crate) const EMAIL: &str = "ada@example.com";

/// A public OpenID client with a post-logout URI and one extra audience.
pub(crate) async fn oidc_client(app: &TestApp) -> RegisteredClient {
    let new = NewClient {
        public: true,
        metadata: ClientMetadata {
            name: "OIDC App".into(),
            first_party: false,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("openid email profile profile:read profile:write"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: vec![BILLING.to_owned()],
            post_logout_redirect_uris: vec![LOGOUT_URI.to_owned()],
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

pub(crate) fn query_with(
    client_id: &str,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut query = pkce_query(client_id);
    for (name, value) in extra {
        query.retain(|(k, _)| k != name);
        query.push((name, (*value).to_owned()));
    }
    query
}

pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Signs in through the page and allows; returns the session cookie
/// (`auth_session=…`) and the redirect to the client.
pub(crate) async fn sign_in(
    app: &TestApp,
    query: &[(&'static str, String)],
) -> (String, reqwest::Response) {
    let (mut browser, page) = Browser::open(app, &as_refs(query)).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let after_login = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    let header = set_cookie(&after_login, "auth_session").expect("a session cookie");
    let session = header.split(';').next().unwrap().to_owned();
    if after_login.status() == 303 {
        return (session, after_login);
    }
    assert_eq!(after_login.status(), 200);
    let consent = after_login.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    (session, redirect)
}

/// `GET /oauth/authorize` with a cookie header.
pub(crate) async fn authorize_with_cookie(
    app: &TestApp,
    query: &[(&'static str, String)],
    cookie: &str,
) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/authorize"))
        .query(&as_refs(query))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

pub(crate) fn verify_id_token(token: &str, client_id: &str, jwks: &Value) -> Value {
    let (header, _) = decode_parts(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let kid = header["kid"].as_str().unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the id_token's kid is published");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[client_id]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims
}

pub(crate) fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
}

pub(crate) async fn tokens_for(
    app: &TestApp,
    client: &RegisteredClient,
    redirect: &reqwest::Response,
) -> Value {
    assert_eq!(redirect.status(), 303);
    let code = location_param(redirect, "code").expect("a code");
    let response = exchange(app, &client.id, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_code_grant_with_openid_returns_an_id_token_the_jwks_verifies() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let nonce = "n-0S6_WzA2Mj <&\"'> é";
    let query = query_with(
        &client.id,
        &[
            ("scope", "openid email profile profile:read"),
            ("nonce", nonce),
        ],
    );
    let before = shared::clock::unix_now();
    let (_, redirect) = sign_in(&app, &query).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(tokens["scope"], "email openid profile profile:read");
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    let claims = verify_id_token(id_token, &client.id, &app.get_jwks().await);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(claims["azp"], client.id.as_str());
    assert_eq!(claims["nonce"], nonce, "echoed exactly");
    assert_eq!(claims["at_hash"], at_hash(access));
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["name"], "Ada Lovelace");
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(auth_time >= before && auth_time <= claims["iat"].as_i64().unwrap());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    // The access token is still an RFC 9068 token for AUDIENCE, with the
    // identity scopes kept in its scope.
    let (header, access_claims) = decode_parts(access);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(access_claims["aud"], "profile-api");
    assert_eq!(access_claims["scope"], "email openid profile profile:read");

    // A refresh keeps openid and returns a fresh id_token for the same
    // sign-in, without the nonce (OIDC Core §12.2).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let refreshed = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert!(refreshed["scope"].as_str().unwrap().contains("openid"));
    let again = refreshed["id_token"].as_str().expect("a fresh id_token");
    assert_ne!(again, id_token);
    let again = verify_id_token(again, &client.id, &app.get_jwks().await);
    assert_eq!(again["sub"], user["id"]);
    assert_eq!(again["auth_time"], auth_time);
    assert!(again["iat"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(again.get("nonce").is_none());
    assert_eq!(
        again["at_hash"],
        at_hash(refreshed["access_token"].as_str().unwrap())
    );
}

#[tokio::test]
async fn identity_claims_follow_the_scopes_and_no_openid_means_no_id_token() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid")]);
    let (session, redirect) = sign_in(&app, &query).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let claims = verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &client.id,
        &app.get_jwks().await,
    );
    for absent in ["email", "email_verified", "name", "nonce"] {
        assert!(claims.get(absent).is_none(), "{absent}");
    }
    // Without openid: a plain OAuth answer.
    let query = query_with(&client.id, &[("scope", "profile:read")]);
    let page = authorize_with_cookie(&app, &query, &session).await;
    assert_eq!(
        page.status(),
        200,
        "profile:read was never allowed: consent page"
    );
    let html = page.text().await.unwrap();
    assert!(hidden(&html, "ticket").is_some());
}

#[tokio::test]
async fn userinfo_answers_per_scope_with_rfc_6750_errors() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid email")]);
    let (_, redirect) = sign_in(&app, &query).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let access = tokens["access_token"].as_str().unwrap();

    for post in [false, true] {
        let request = if post {
            app.client.post(app.url("/oauth/userinfo"))
        } else {
            app.client.get(app.url("/oauth/userinfo"))
        };
        let response = request.bearer_auth(access).send().await.unwrap();
        assert_eq!(response.status(), 200, "post={post}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["sub"], user["id"]);
        assert_eq!(body["email"], EMAIL);
        assert_eq!(body["email_verified"], false);
        assert!(body.get("name").is_none(), "no profile scope: {body}");
    }

    let response = app.get("/oauth/userinfo").await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm="));
    assert!(!challenge.contains("error="), "{challenge}");

    let forged = format!("{}x", &access[..access.len() - 1]);
    for token in ["not-a-token", forged.as_str()] {
        let response = app
            .client
            .get(app.url("/oauth/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
    }

    // A token without openid (the password grant's) is refused for scope.
    let plain = app.password_token(EMAIL).await;
    let response = app
        .client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"openid\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

pub(crate) async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn userinfo_refuses_a_token_minted_for_another_resource() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(
        &client.id,
        &[
            ("scope", "openid email profile:read"),
            ("resource", BILLING),
        ],
    );
    let (session, redirect) = sign_in(&app, &query).await;
    let billing = tokens_for(&app, &client, &redirect).await;
    let billing = billing["access_token"].as_str().unwrap();
    assert_eq!(decode_parts(billing).1["aud"], BILLING);
    for post in [false, true] {
        let request = if post {
            app.client.post(app.url("/oauth/userinfo"))
        } else {
            app.client.get(app.url("/oauth/userinfo"))
        };
        let response = request.bearer_auth(billing).send().await.unwrap();
        assert_eq!(response.status(), 401, "post={post}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(!challenge.contains(billing));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert!(body.get("sub").is_none());
    }

    // The same grant for AUDIENCE is answered.
    let query = query_with(&client.id, &[("scope", "openid email profile:read")]);
    let ours = authorize_with_cookie(&app, &query, &session).await;
    let ours = tokens_for(&app, &client, &ours).await;
    let response = userinfo(&app, ours["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sub"], user["id"]);

    // And a token whose audience is the issuer itself.
    let new = NewClient {
        public: true,
        metadata: ClientMetadata {
            name: "Issuer-bound".into(),
            first_party: false,
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("openid"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: vec![ISSUER.to_owned()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    let to_issuer = RegisteredClient { id, secret };
    let query = query_with(&to_issuer.id, &[("scope", "openid"), ("resource", ISSUER)]);
    let (_, redirect) = sign_in(&app, &query).await;
    let tokens = tokens_for(&app, &to_issuer, &redirect).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(decode_parts(access).1["aud"], ISSUER);
    assert_eq!(userinfo(&app, access).await.status(), 200);
}

#[tokio::test]
async fn the_openid_document_is_full_and_the_oauth_one_unchanged() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["userinfo_endpoint"], format!("{ISSUER}/oauth/userinfo"));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{ISSUER}/oauth/logout")
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{ISSUER}/oauth/authorize")
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    let list = |name: &str| -> Vec<String> {
        doc[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for scope in ["openid", "email", "profile", "profile:read"] {
        assert!(
            list("scopes_supported").contains(&scope.to_owned()),
            "{scope}"
        );
    }
    for claim in [
        "sub",
        "email",
        "email_verified",
        "name",
        "auth_time",
        "nonce",
    ] {
        assert!(
            list("claims_supported").contains(&claim.to_owned()),
            "{claim}"
        );
    }

    let oauth: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert!(oauth.get("userinfo_endpoint").is_none());
    assert_eq!(
        oauth["scopes_supported"],
        serde_json::json!(["profile:read", "profile:write", "profiles:read"])
    );
}

#[tokio::test]
async fn resource_indicators_set_the_audience_or_are_invalid_target() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;

    // At the authorization request: a registered audience…
    let query = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("resource", BILLING)],
    );
    let (_, redirect) = sign_in(&app, &query).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let (_, claims) = decode_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], BILLING);
    // …kept by a refresh.
    let refreshed: Value = app
        .post_token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await
        .json()
        .await
        .unwrap();
    let (_, claims) = decode_parts(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], BILLING);

    // …and anything else is invalid_target, back at the redirect URI.
    for resource in ["https://other.example", "profile-api#x"] {
        let query = query_with(&client.id, &[("resource", resource)]);
        let (_, response) = Browser::open(&app, &as_refs(&query)).await;
        assert_eq!(response.status(), 303, "{resource}");
        assert_eq!(
            location_param(&response, "error").as_deref(),
            Some("invalid_target")
        );
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
    }

    // At the token endpoint: the one authorized, or AUDIENCE for a code
    // authorized without one; another is a 400 invalid_target.
    let query = query_with(&client.id, &[("scope", "profile:read")]);
    let code = {
        let (session, _) = sign_in(&app, &query).await;
        let response = authorize_with_cookie(&app, &query, &session).await;
        location_param(&response, "code").unwrap()
    };
    let response = app
        .post_token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("resource", "https://other.example"),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_target").await;

    // client_credentials: AUDIENCE, a registered audience, or refused.
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Service".into(),
            first_party: false,
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ScopeSet::parse("profiles:read"),
            redirect_uris: vec![],
            audiences: vec![BILLING.to_owned()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    let service = RegisteredClient { id, secret };
    for (resource, aud) in [
        (None, "profile-api"),
        (Some("profile-api"), "profile-api"),
        (Some(BILLING), BILLING),
    ] {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let response = post_form(&app, "/oauth/token", Some(&service.basic()), &form).await;
        assert_eq!(response.status(), 200, "{resource:?}");
        let body: Value = response.json().await.unwrap();
        let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], aud);
    }
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&service.basic()),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://other.example"),
        ],
    )
    .await;
    assert_oauth_error(response, 400, "invalid_target").await;
}

#[tokio::test]
async fn a_third_party_token_carries_email_and_name_only_with_their_scopes() {
    let app = spawn_app().await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    for (scope, email, name) in [
        ("profile:read", false, false),
        ("openid profile:read", false, false),
        ("profile:read email", true, false),
        ("profile:read profile", false, true),
        ("openid email profile", true, true),
    ] {
        let query = query_with(&client.id, &[("scope", scope)]);
        let redirect = authorize_like_a_browser(&app, &as_refs(&query), EMAIL).await;
        let tokens = tokens_for(&app, &client, &redirect).await;
        let refreshed: Value = app
            .post_token(&[
                ("grant_type", "refresh_token"),
                ("client_id", &client.id),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ])
            .await
            .json()
            .await
            .unwrap();
        for access in [&tokens["access_token"], &refreshed["access_token"]] {
            let claims = decode_parts(access.as_str().unwrap()).1;
            assert_eq!(claims["sub"], user["id"], "{scope}");
            assert_eq!(claims.get("email").is_some(), email, "{scope}: {claims}");
            assert_eq!(claims.get("name").is_some(), name, "{scope}: {claims}");
            if email {
                assert_eq!(claims["email"], EMAIL);
            }
            if name {
                assert_eq!(claims["name"], "Ada Lovelace");
            }
        }
    }

    // First-party clients get both without asking: the built-in one
    // (Swagger UI's) and one registered --first-party.
    let builtin = app.password_token(EMAIL).await;
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Own app".into(),
            first_party: true,
            grant_types: vec![GrantType::Password],
            scopes: ScopeSet::parse("profile:read"),
            redirect_uris: vec![],
            audiences: vec![],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    let own = RegisteredClient { id, secret };
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&own.basic()),
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "profile:read");
    for access in [builtin.as_str(), body["access_token"].as_str().unwrap()] {
        let claims = decode_parts(access).1;
        assert_eq!(claims["email"], EMAIL);
        assert_eq!(claims["name"], "Ada Lovelace");
    }
}
