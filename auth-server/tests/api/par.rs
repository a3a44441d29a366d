//! Pushed authorization requests (RFC 9126): pushing, running a pushed
//! request at `/oauth/authorize`, single use under a race, and
//! enforcement per client and for all.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientAuth, ClientMetadata, NewClient};
use serde_json::{Value, json};
use shared::scope::ScopeSet;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::oauth_support::{
    Browser, REDIRECT_URI, VERIFIER, as_refs, assert_oauth_error, authorize_like_a_browser,
    exchange, location_param, pkce_query, post_form, public_app, service,
};

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

async fn push(app: &TestApp, auth: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    post_form(app, "/oauth/par", auth, form).await
}

/// Pushes the standard PKCE request of `client_id`; its `request_uri`.
async fn pushed(app: &TestApp, client_id: &str) -> String {
    let query = pkce_query(client_id);
    let response = push(app, None, &as_refs(&query)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");
    request_uri
}

async fn stored_requests(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from pushed_requests")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn page_status(app: &TestApp, query: &[(&str, &str)]) -> (u16, String) {
    let response = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_pushed_request_is_run_by_its_request_uri_once() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let request_uri = pushed(&app, &client.id).await;
    let query = [
        ("client_id", client.id.as_str()),
        ("request_uri", &request_uri),
    ];
    let redirect = authorize_like_a_browser(&app, &query, "ada@example.com").await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        location_param(&redirect, "state").as_deref(),
        Some("xyz-123")
    );
    let code = location_param(&redirect, "code").unwrap();
    let response = exchange(&app, &client.id, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    // Spent with the code it served.
    assert_eq!(stored_requests(&app).await, 0);
    let (status, page) = page_status(&app, &query).await;
    assert_eq!(status, 400);
    assert!(page.contains("invalid_request_uri"));
}

#[tokio::test]
async fn unknown_expired_and_other_clients_request_uris_are_refused() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    let other = public_app(&app).await;
    let request_uri = pushed(&app, &client.id).await;
    let unknown = format!("{PREFIX}nothing-here");
    for (client_id, uri) in [
        (client.id.as_str(), unknown.as_str()),
        (other.id.as_str(), request_uri.as_str()),
    ] {
        let (status, page) =
            page_status(&app, &[("client_id", client_id), ("request_uri", uri)]).await;
        assert_eq!(status, 400, "{client_id} {uri}");
        assert!(page.contains("invalid_request_uri"));
    }
    // Still good for its own client, other parameters ignored.
    let query = [
        ("client_id", client.id.as_str()),
        ("request_uri", request_uri.as_str()),
        ("redirect_uri", "https://evil.example/cb"),
    ];
    let (status, page) = page_status(&app, &query).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("request_uri"),
        "the pages carry the request_uri"
    );
    assert!(!page.contains("evil.example"));
    // Expired.
    sqlx::query("update pushed_requests set expires_at = 0")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (status, _) = page_status(&app, &query[..2]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn bad_pushes_get_the_authorization_errors_and_store_nothing() {
    let app = spawn_app().await;
    let public = public_app(&app).await;
    let confidential = crate::oauth_support::register_client(
        &app,
        "Web app",
        &["authorization_code"],
        "profile:read",
        false,
    )
    .await;
    let base = pkce_query(&public.id);
    let with = |name: &'static str, value: &str| {
        let mut query = base.clone();
        query.retain(|(n, _)| *n != name);
        if !value.is_empty() {
            query.push((name, value.to_owned()));
        }
        query
    };
    for (query, status, error) in [
        (
            with("request", "eyJhbGciOiJub25lIn0.e30."),
            400,
            "request_not_supported",
        ),
        (with("request_uri", "urn:x"), 400, "invalid_request"),
        (
            with("redirect_uri", "https://elsewhere.example/cb"),
            400,
            "invalid_request",
        ),
        (with("code_challenge", ""), 400, "invalid_request"),
        (with("scope", "admin"), 400, "invalid_scope"),
        (
            with("response_type", "token"),
            400,
            "unsupported_response_type",
        ),
        (with("client_id", "no-such-client"), 401, "invalid_client"),
    ] {
        let response = push(&app, None, &as_refs(&query)).await;
        assert_oauth_error(response, status, error).await;
    }
    // A confidential client must authenticate.
    let mut query = pkce_query(&confidential.id);
    let response = push(&app, None, &as_refs(&query)).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    query.push(("client_secret", "wrong".to_owned()));
    let response = push(&app, None, &as_refs(&query)).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    assert_eq!(stored_requests(&app).await, 0);
    let response = push(
        &app,
        Some(&confidential.basic()),
        &as_refs(&pkce_query(&confidential.id)),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(stored_requests(&app).await, 1);
}

async fn par_client(app: &TestApp) -> String {
    let new = NewClient {
        public: true,
        metadata: ClientMetadata {
            name: "PAR app".into(),
            first_party: false,
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: ScopeSet::parse("profile:read"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let mut auth = ClientAuth::by_secret_or_none(true);
    auth.require_par = true;
    app.clients.create_with(&new, &auth, 0).await.unwrap().0
}

#[tokio::test]
async fn require_par_refuses_requests_that_were_not_pushed() {
    let app = spawn_app().await;
    let strict = par_client(&app).await;
    let lax = public_app(&app).await;
    let query = pkce_query(&strict);
    let response = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&as_refs(&query))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("xyz-123")
    );
    let (status, _) = page_status(&app, &as_refs(&pkce_query(&lax.id))).await;
    assert_eq!(status, 200, "other clients need not push");
    let request_uri = pushed(&app, &strict).await;
    let (status, _) = page_status(
        &app,
        &[
            ("client_id", strict.as_str()),
            ("request_uri", &request_uri),
        ],
    )
    .await;
    assert_eq!(status, 200);

    let app = spawn_app_with(|f| f.merge(("require_par", "on"))).await;
    let lax = public_app(&app).await;
    let response = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&as_refs(&pkce_query(&lax.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("invalid_request")
    );
    let request_uri = pushed(&app, &lax.id).await;
    let (status, _) = page_status(
        &app,
        &[
            ("client_id", lax.id.as_str()),
            ("request_uri", &request_uri),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let document: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(document["require_pushed_authorization_requests"], true);
    assert_eq!(
        document["pushed_authorization_request_endpoint"],
        json!(format!("{}/oauth/par", crate::helpers::ISSUER))
    );
}

/// The session cookie of a browser that signed in and allowed `client_id`.
async fn signed_in_and_consented(app: &TestApp, client_id: &str) -> String {
    app.signup("ada@example.com").await;
    let query = pkce_query(client_id);
    let (mut browser, page) = Browser::open(app, &as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    let session = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("auth_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let consent = consent.text().await.unwrap();
    let done = browser.submit(&consent, &[("action", "allow")]).await;
    assert_eq!(done.status(), 303);
    session
}

#[tokio::test]
async fn one_request_uri_used_eight_times_at_once_authorizes_once() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    let session = signed_in_and_consented(&app, &client.id).await;
    for trial in 0..20 {
        let request_uri = pushed(&app, &client.id).await;
        let query = [
            ("client_id", client.id.as_str()),
            ("request_uri", request_uri.as_str()),
        ];
        let attempts = (0..8).map(|_| {
            app.client
                .get(app.url("/oauth/authorize"))
                .query(&query)
                .header("cookie", &session)
                .send()
        });
        let responses = futures::future::join_all(attempts).await;
        let mut codes = 0;
        let mut refused = 0;
        for response in responses {
            let response = response.unwrap();
            match response.status().as_u16() {
                303 if location_param(&response, "code").is_some() => codes += 1,
                400 => refused += 1,
                other => panic!("trial {trial}: {other}"),
            }
        }
        assert_eq!((codes, refused), (1, 7), "trial {trial}");
    }
}

#[tokio::test]
async fn a_client_without_the_code_grant_may_not_push() {
    let app = spawn_app().await;
    let svc = service(&app).await;
    let response = push(&app, Some(&svc.basic()), &as_refs(&pkce_query(&svc.id))).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
    assert_eq!(stored_requests(&app).await, 0);
}

#[tokio::test]
async fn a_key_client_pushes_and_redeems_with_assertions() {
    use crate::private_key_jwt::{ASSERTION_TYPE, assertion, es256_key};
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let key = es256_key("k1");
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Bank app".into(),
            first_party: false,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ScopeSet::parse("profile:read"),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let auth = ClientAuth {
        method: auth_server::store::clients::AuthMethod::PrivateKeyJwt,
        jwks: Some(json!({ "keys": [key.jwk.clone()] }).to_string()),
        jwks_uri: None,
        require_par: true,
        dpop_bound: false,
    };
    let (client_id, _) = app.clients.create_with(&new, &auth, 0).await.unwrap();
    let mut form = pkce_query(&client_id);
    // Without its assertion the client is not known.
    let response = push(&app, None, &as_refs(&form)).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
    form.push(("client_assertion", assertion(&key, &client_id)));
    let response = push(&app, None, &as_refs(&form)).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let request_uri = body["request_uri"].as_str().unwrap();
    let query = [
        ("client_id", client_id.as_str()),
        ("request_uri", request_uri),
    ];
    let redirect = authorize_like_a_browser(&app, &query, "ada@example.com").await;
    assert_eq!(redirect.status(), 303);
    let code = location_param(&redirect, "code").unwrap();
    let redeem = |assertion: String| {
        let app = &app;
        let code = code.clone();
        async move {
            post_form(
                app,
                "/oauth/token",
                None,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", VERIFIER),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    // An assertion by another key proves nothing and spends nothing.
    let response = redeem(assertion(&es256_key("k1"), &client_id)).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = redeem(assertion(&key, &client_id)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let (_, claims) = crate::helpers::decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], client_id.as_str());
    // Its refresh token is refreshed with an assertion too, never without.
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let refresh = |assertion: Option<String>| {
        let app = &app;
        let client_id = &client_id;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh_token.to_owned()),
            ];
            match assertion {
                Some(assertion) => {
                    form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
                    form.push(("client_assertion", assertion));
                }
                None => form.push(("client_id", client_id.clone())),
            }
            post_form(app, "/oauth/token", None, &as_refs(&form)).await
        }
    };
    let response = refresh(None).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = refresh(Some(assertion(&key, &client_id))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
}
