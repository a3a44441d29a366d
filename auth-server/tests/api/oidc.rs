//! OpenID Connect: id_token, UserInfo, sign-in sessions with `prompt` and
//! `max_age`, remembered consent, RP-Initiated Logout, the OpenID discovery
//! document, and RFC 8707 resource indicators.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientMetadata, NewClient};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::scope::ScopeSet;

use crate::helpers::{ISSUER, PASSWORD, TestApp, decode_parts, spawn_app, spawn_app_with};
use crate::oauth_support::*;

const LOGOUT_URI: &str = "https://app.example/signed-out";
const BILLING: &str = "https://billing.example";
const EMAIL: &str = "ada@example.com";

/// A public OpenID client with a post-logout URI and one extra audience.
async fn oidc_client(app: &TestApp) -> RegisteredClient {
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
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

fn query_with(client_id: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut query = pkce_query(client_id);
    for (name, value) in extra {
        query.retain(|(k, _)| k != name);
        query.push((name, (*value).to_owned()));
    }
    query
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
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
async fn sign_in(app: &TestApp, query: &[(&'static str, String)]) -> (String, reqwest::Response) {
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
async fn authorize_with_cookie(
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

fn verify_id_token(token: &str, client_id: &str, jwks: &Value) -> Value {
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

fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
}

async fn tokens_for(
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

#[tokio::test]
async fn a_session_skips_the_password_and_remembered_consent_skips_the_page() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid profile:read")]);
    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    let header = set_cookie(&consent, "auth_session").expect("a session cookie");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Lax"), "{header}");
    assert!(header.contains("Path=/oauth"), "{header}");
    assert!(header.contains("Max-Age=28800"), "{header}");
    assert!(!header.contains("Secure"), "the issuer is http: {header}");
    let session = header.split(';').next().unwrap().to_owned();
    // Stored hashed: the cookie's value is nowhere in the database.
    let value = session.trim_start_matches("auth_session=");
    let stored: Vec<String> = sqlx::query_scalar("select session_hash from sign_in_sessions")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], value);

    // Before consent, the session shows the consent page, not the password.
    let page = authorize_with_cookie(&app, &query, &session).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(hidden(&html, "ticket").is_some(), "the consent page");
    assert!(!html.contains("type=\"password\""));

    let consent = consent.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    assert_eq!(redirect.status(), 303);
    assert!(location_param(&redirect, "code").is_some());

    // Signed in and consented: a code at once, with and without prompt=none.
    for extra in [vec![], vec![("prompt", "none")]] {
        let mut q = query.clone();
        for (k, v) in &extra {
            q.push((k, (*v).to_owned()));
        }
        let response = authorize_with_cookie(&app, &q, &session).await;
        assert_eq!(response.status(), 303, "{extra:?}");
        assert!(location_param(&response, "code").is_some());
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
    }
    // A scope not yet allowed: consent_required with prompt=none.
    let wider = query_with(
        &client.id,
        &[
            ("scope", "openid profile:read profile:write"),
            ("prompt", "none"),
        ],
    );
    let response = authorize_with_cookie(&app, &wider, &session).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("consent_required")
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("xyz-123")
    );
    // prompt=consent shows the page even though consent was given.
    let again = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("prompt", "consent")],
    );
    let response = authorize_with_cookie(&app, &again, &session).await;
    assert_eq!(response.status(), 200);

    // prompt=login and an exceeded max_age ask for the password again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let q = query_with(&client.id, &[("scope", "openid profile:read"), extra]);
        let response = authorize_with_cookie(&app, &q, &session).await;
        assert_eq!(response.status(), 200, "{extra:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("type=\"password\""), "{extra:?}");
    }
    let q = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "3600")],
    );
    let response = authorize_with_cookie(&app, &q, &session).await;
    assert_eq!(response.status(), 303);
    assert!(location_param(&response, "code").is_some());
}

#[tokio::test]
async fn prompt_none_without_a_usable_session_is_login_required() {
    let app = spawn_app_with(|f| f.merge(("session_ttl", 600))).await;
    let user = app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let login_required = |response: &reqwest::Response| {
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        assert_eq!(
            location_param(response, "error").as_deref(),
            Some("login_required")
        );
        assert_eq!(
            location_param(response, "state").as_deref(),
            Some("xyz-123")
        );
    };
    login_required(&authorize_with_cookie(&app, &none, "").await);

    let (session, redirect) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    assert_eq!(redirect.status(), 303);
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some(), "the session works");

    // Tampered: one character changed, or garbage.
    let mut tampered = session.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    login_required(&authorize_with_cookie(&app, &none, &tampered).await);
    login_required(&authorize_with_cookie(&app, &none, "auth_session=%00%ff").await);
    let page = authorize_with_cookie(&app, &query_with(&client.id, &[]), &tampered).await;
    assert_eq!(page.status(), 200, "the login page");

    // SESSION_TTL is the session's lifetime; once past it, no session.
    let (auth_time, expires_at): (i64, i64) =
        sqlx::query_as("select auth_time, expires_at from sign_in_sessions")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(expires_at - auth_time, 600);
    sqlx::query("update sign_in_sessions set expires_at = $1")
        .bind(shared::clock::unix_now())
        .execute(&app.db.pool)
        .await
        .unwrap();
    login_required(&authorize_with_cookie(&app, &none, &session).await);

    // A deleted user's session is no session.
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    login_required(&authorize_with_cookie(&app, &none, "").await);
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some());
    sqlx::query("delete from users where id = $1")
        .bind(user["id"].as_str().unwrap())
        .execute(&app.db.pool)
        .await
        .unwrap();
    login_required(&authorize_with_cookie(&app, &none, &session).await);
}

#[tokio::test]
async fn contradictory_prompts_bad_max_age_and_long_nonces_are_invalid_requests() {
    let app = spawn_app().await;
    let client = oidc_client(&app).await;
    let long_nonce = "n".repeat(513);
    for extra in [
        ("prompt", "none login"),
        ("prompt", "consent none"),
        ("max_age", "-1"),
        ("max_age", "soon"),
        ("nonce", long_nonce.as_str()),
    ] {
        let query = query_with(&client.id, &[("scope", "openid"), extra]);
        let (_, response) = Browser::open(&app, &as_refs(&query)).await;
        assert_eq!(response.status(), 303, "{extra:?}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(REDIRECT_URI));
        assert_eq!(
            location_param(&response, "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
        assert_eq!(
            location_param(&response, "state").as_deref(),
            Some("xyz-123")
        );
        assert!(location_param(&response, "code").is_none());
    }
    // A nonce of 512 characters is fine.
    let query = query_with(
        &client.id,
        &[("scope", "openid"), ("nonce", &long_nonce[..512])],
    );
    let (_, response) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn logout_ends_the_session_and_redirects_only_where_registered() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let other = oidc_client(&app).await;
    let (session, redirect) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);

    let logout = |query: Vec<(&'static str, String)>, cookie: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/oauth/logout"))
                .query(&as_refs(&query))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    // Refused, never redirected, and the session lives on.
    let forged = format!("{}AAAA", &id_token[..id_token.len() - 4]);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    for query in [
        vec![
            ("id_token_hint", forged.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ],
        // An access token is not an id_token.
        vec![("id_token_hint", access)],
        // The hint names another client than client_id.
        vec![
            ("id_token_hint", id_token.clone()),
            ("client_id", other.id.clone()),
        ],
        // Not registered.
        vec![
            ("id_token_hint", id_token.clone()),
            (
                "post_logout_redirect_uri",
                "https://evil.example/".to_owned(),
            ),
        ],
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", format!("{LOGOUT_URI}/")),
        ],
        // A URI without any client to check it against.
        vec![("post_logout_redirect_uri", LOGOUT_URI.to_owned())],
    ] {
        let response = logout(query.clone(), session.clone()).await;
        assert_eq!(response.status(), 400, "{query:?}");
        assert!(response.headers().get("location").is_none());
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers().get("content-security-policy").is_some());
    }
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some(), "still signed in");

    let response = logout(
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
            ("state", "bye &1".to_owned()),
        ],
        session.clone(),
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(LOGOUT_URI), "{location}");
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("bye &1")
    );
    let cleared = set_cookie(&response, "auth_session").expect("the cookie is removed");
    assert!(
        cleared.contains("Max-Age=0") || cleared.contains("Expires="),
        "{cleared}"
    );
    // Ended server-side: the old cookie is no session any more.
    let after = authorize_with_cookie(&app, &none, &session).await;
    assert_eq!(
        location_param(&after, "error").as_deref(),
        Some("login_required")
    );

    // No parameters: a signed-out page.
    let response = logout(vec![], String::new()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Signed out"));
    // client_id alone may name where to go back to.
    let response = logout(
        vec![
            ("client_id", client.id.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ],
        String::new(),
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(response.headers().get("location").is_some());
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
async fn consent_given_in_two_tabs_at_once_is_remembered_once_and_both_get_codes() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    for round in 0..30 {
        let client = oidc_client(&app).await;
        let query = query_with(&client.id, &[("scope", "openid email profile:read")]);
        // Two tabs, each signed in up to its consent page.
        let mut tabs = Vec::new();
        for _ in 0..2 {
            let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
            let page = page.text().await.unwrap();
            let consent = browser
                .submit(
                    &page,
                    &[
                        ("action", "login"),
                        ("username", EMAIL),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(consent.status(), 200, "round {round}");
            let consent = consent.text().await.unwrap();
            tabs.push((browser, consent));
        }
        let [(mut a, page_a), (mut b, page_b)]: [_; 2] = tabs.try_into().ok().unwrap();
        let (ra, rb) = tokio::join!(
            a.submit(&page_a, &[("action", "allow")]),
            b.submit(&page_b, &[("action", "allow")])
        );
        for response in [&ra, &rb] {
            assert_eq!(response.status(), 303, "round {round}");
            assert!(location_param(response, "code").is_some(), "round {round}");
        }
        let rows: i64 = sqlx::query_scalar("select count(*) from consents where client_id = $1")
            .bind(&client.id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(rows, 3, "one row per scope, round {round}");
    }
}

async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
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
async fn max_age_zero_asks_for_the_password_even_in_the_second_of_the_sign_in() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let query = query_with(&client.id, &[("scope", "openid profile:read")]);
    let (session, redirect) = sign_in(&app, &query).await;
    assert!(location_param(&redirect, "code").is_some());
    // A sign-in that is not older than 0 seconds: in the same second as
    // the request, made certain here by dating it later.
    sqlx::query("update sign_in_sessions set auth_time = auth_time + 3600")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let fresh = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "3600")],
    );
    let response = authorize_with_cookie(&app, &fresh, &session).await;
    assert!(
        location_param(&response, "code").is_some(),
        "the session works"
    );

    let zero = query_with(
        &client.id,
        &[("scope", "openid profile:read"), ("max_age", "0")],
    );
    let response = authorize_with_cookie(&app, &zero, &session).await;
    assert_eq!(response.status(), 200, "the sign-in page, not a code");
    let html = response.text().await.unwrap();
    assert!(html.contains("type=\"password\""));
    let silent = query_with(
        &client.id,
        &[
            ("scope", "openid profile:read"),
            ("max_age", "0"),
            ("prompt", "none"),
        ],
    );
    let response = authorize_with_cookie(&app, &silent, &session).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("login_required")
    );
    assert!(location_param(&response, "code").is_none());

    // Typing the password answers it: a code, with the new auth_time.
    let before = shared::clock::unix_now();
    let (_, redirect) = sign_in(&app, &zero).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let claims = verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &client.id,
        &app.get_jwks().await,
    );
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(
        auth_time >= before && auth_time <= before + 60,
        "{auth_time}"
    );
}

/// `GET /oauth/logout` as a browser (or an `<img>`) sends it.
async fn get_logout(
    app: &TestApp,
    query: &[(&'static str, String)],
    cookie: &str,
) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/logout"))
        .query(&as_refs(query))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn post_logout(app: &TestApp, form: &[(String, String)], cookie: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/logout"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Whether `session` still signs its browser in (prompt=none gets a code).
async fn still_signed_in(app: &TestApp, client: &RegisteredClient, session: &str) -> bool {
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let response = authorize_with_cookie(app, &none, session).await;
    location_param(&response, "code").is_some()
}

/// The hidden inputs of the sign-out form, in page order.
fn logout_form(html: &str) -> Vec<(String, String)> {
    ["csrf", "client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|name| hidden(html, name).map(|v| ((*name).to_owned(), v)))
        .collect()
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_only_the_confirmed_form_signs_out() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;

    // An <img src="/oauth/logout">, or a link: a question, not a sign-out.
    let query = vec![
        ("client_id", client.id.clone()),
        ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ("state", "bye &1".to_owned()),
    ];
    for query in [vec![], query.clone()] {
        let response = get_logout(&app, &query, &session).await;
        assert_eq!(response.status(), 200, "{query:?}");
        assert!(response.headers().get("location").is_none());
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("auth_session=")),
            "{cookies:?}"
        );
        let csrf_cookie = cookies
            .iter()
            .find(|c| c.starts_with("logout_csrf="))
            .expect("a CSRF cookie");
        assert!(csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");
        assert!(csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
        assert!(csrf_cookie.contains("Path=/oauth/logout"), "{csrf_cookie}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/oauth/logout\""));
        assert!(html.contains(EMAIL), "who is signed in");
        let form = logout_form(&html);
        assert_eq!(form[0].0, "csrf");
        if !query.is_empty() {
            assert!(
                csp.contains("form-action 'self' https://app.example"),
                "{csp}"
            );
            assert_eq!(hidden(&html, "state").as_deref(), Some("bye &1"));
        }
    }
    assert!(still_signed_in(&app, &client, &session).await);

    // The form posted without the page's cookie (from another site), with
    // another token, or with none: nothing ends.
    let page = get_logout(&app, &query, &session).await;
    let csrf_cookie = csrf_cookie_of(&page, "logout_csrf");
    let html = page.text().await.unwrap();
    let form = logout_form(&html);
    let mut wrong = form.clone();
    wrong[0].1 = "not-the-token".to_owned();
    for (form, cookie) in [
        (form.clone(), session.clone()),
        (wrong, format!("{session}; {csrf_cookie}")),
    ] {
        let response = post_logout(&app, &form, &cookie).await;
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("location").is_none());
        assert!(response.headers().get("set-cookie").is_none());
    }
    let no_token: Vec<_> = form.iter().skip(1).cloned().collect();
    let response = post_logout(&app, &no_token, &format!("{session}; {csrf_cookie}")).await;
    assert_eq!(response.status(), 200, "asked again");
    assert!(response.headers().get("location").is_none());
    assert!(still_signed_in(&app, &client, &session).await);

    // Confirmed: signed out everywhere, back to the client with its state.
    let response = post_logout(&app, &form, &format!("{session}; {csrf_cookie}")).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(LOGOUT_URI), "{location}");
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("bye &1")
    );
    let cleared = set_cookie(&response, "auth_session").expect("the cookie is removed");
    assert!(
        cleared.contains("Max-Age=0") || cleared.contains("Expires="),
        "{cleared}"
    );
    assert!(!still_signed_in(&app, &client, &session).await);
}

fn csrf_cookie_of(response: &reqwest::Response, name: &str) -> String {
    set_cookie(response, name)
        .expect("a CSRF cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_hint_of_someone_else_does_not_sign_this_browser_out() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    // Mallory holds an id_token of her own, as anyone can.
    app.signup("mallory@example.com").await;
    let (mut browser, page) = Browser::open(
        &app,
        &as_refs(&query_with(&client.id, &[("scope", "openid")])),
    )
    .await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "mallory@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let consent = consent.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    let theirs = tokens_for(&app, &client, &redirect).await;
    let hint = theirs["id_token"].as_str().unwrap().to_owned();

    let query = vec![
        ("id_token_hint", hint.clone()),
        ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
    ];
    let response = get_logout(&app, &query, &session).await;
    assert_eq!(response.status(), 200, "asked, not signed out");
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains(EMAIL));
    // The question carries the hinted client on, not the token.
    assert_eq!(
        hidden(&html, "client_id").as_deref(),
        Some(client.id.as_str())
    );
    assert!(hidden(&html, "id_token_hint").is_none());
    assert!(still_signed_in(&app, &client, &session).await);

    // The same request by POST (RP-Initiated Logout allows it) asks too.
    let form: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let response = post_logout(&app, &form, &session).await;
    assert_eq!(response.status(), 200);
    assert!(still_signed_in(&app, &client, &session).await);
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
