//! A granted scope is never empty (API.md): a client registered without a
//! scope, or asking only for what the user does not hold, gets
//! `invalid_scope` from every grant, and no code, consent or token is made.
//! An empty grant would otherwise pass consent unseen, since "every scope
//! was consented to" is true of an empty set.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientMetadata, NewClient};
use serde_json::Value;
use shared::scope::ScopeSet;

use crate::helpers::{PASSWORD, TestApp, decode_parts, spawn_app};
use crate::oauth_support::*;

const EMAIL: &str = "ada@example.com";

/// Signs `EMAIL` in through the authorization page of `client` (and allows
/// it); returns the session cookie.
async fn session_of(app: &TestApp, client: &RegisteredClient) -> String {
    let query = pkce_query(&client.id);
    let (mut browser, page) = Browser::open(app, &as_refs(&query)).await;
    assert_eq!(page.status(), 200);
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
    let session = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("auth_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let consent = consent.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    assert!(location_param(&redirect, "code").is_some());
    session
}

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

fn with(
    query: Vec<(&'static str, String)>,
    set: &[(&'static str, Option<&str>)],
) -> Vec<(&'static str, String)> {
    let mut query = query;
    for (name, value) in set {
        query.retain(|(k, _)| k != name);
        if let Some(value) = value {
            query.push((name, (*value).to_owned()));
        }
    }
    query
}

/// The answer is the `invalid_scope` error redirect, with `state`, no code.
fn assert_invalid_scope_redirect(response: &reqwest::Response) {
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(
        location_param(response, "error").as_deref(),
        Some("invalid_scope"),
        "{location}"
    );
    assert!(location_param(response, "error_description").is_some());
    assert_eq!(
        location_param(response, "state").as_deref(),
        Some("xyz-123")
    );
    assert!(location_param(response, "code").is_none(), "{location}");
}

/// Codes and remembered consents stored for `client_id`.
async fn stored_for(app: &TestApp, client_id: &str) -> (i64, i64) {
    let codes: i64 =
        sqlx::query_scalar("select count(*) from authorization_codes where client_id = $1")
            .bind(client_id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let consents: i64 = sqlx::query_scalar("select count(*) from consents where client_id = $1")
        .bind(client_id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    (codes, consents)
}

async fn make_admin(app: &TestApp, admin: bool) {
    sqlx::query("update users set is_admin = $1 where email = $2")
        .bind(admin)
        .bind(EMAIL)
        .execute(&app.db.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_registered_without_scope_gets_no_code_with_prompt_none_and_a_session() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let session = session_of(&app, &public_app(&app).await).await;
    // `clients create` without `--scope`.
    let empty = register_client(&app, "No scope", &["authorization_code"], "", true).await;
    let silent = with(
        pkce_query(&empty.id),
        &[("scope", None), ("prompt", Some("none"))],
    );
    // The attack: a signed-in user, no page shown, a code for the client.
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &silent, &session).await);
    // Nor with the pages, nor asking for a blank scope.
    let shown = with(pkce_query(&empty.id), &[("scope", None)]);
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &shown, &session).await);
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &shown, "").await);
    let blank = with(pkce_query(&empty.id), &[("scope", Some(" "))]);
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &blank, &session).await);
    assert_eq!(stored_for(&app, &empty.id).await, (0, 0));
}

#[tokio::test]
async fn asking_only_for_what_the_user_lacks_gets_invalid_scope_and_stores_nothing() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let session = session_of(&app, &public_app(&app).await).await;
    let reader = register_client(
        &app,
        "Directory",
        &["authorization_code"],
        "profile:read profiles:read",
        true,
    )
    .await;
    let admin_only = with(pkce_query(&reader.id), &[("scope", Some("profiles:read"))]);

    // Signed in: with prompt=none and without.
    let silent = with(admin_only.clone(), &[("prompt", Some("none"))]);
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &silent, &session).await);
    assert_invalid_scope_redirect(&authorize_with_cookie(&app, &admin_only, &session).await);

    // Signing in on the page: the answer to the password is the redirect,
    // not a consent page.
    let (mut browser, page) = Browser::open(&app, &as_refs(&admin_only)).await;
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
    assert_invalid_scope_redirect(&after_login);

    // A consent form for a scope the user holds, sent back with one they
    // lack: the ticket is spent, nothing is granted or remembered.
    let (mut browser, page) =
        Browser::open(&app, &as_refs(&with(pkce_query(&reader.id), &[]))).await;
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
    let consent = consent.text().await.unwrap();
    let mut form: Vec<(String, String)> = Vec::new();
    for name in [
        "csrf",
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "ticket",
    ] {
        form.push((name.to_owned(), hidden(&consent, name).unwrap()));
    }
    form.push(("scope".to_owned(), "profiles:read".to_owned()));
    form.push(("action".to_owned(), "allow".to_owned()));
    let forged = app
        .client
        .post(app.url("/oauth/authorize"))
        .header("cookie", &browser.cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_invalid_scope_redirect(&forged);

    assert_eq!(stored_for(&app, &reader.id).await, (0, 0));

    // The same client and user with a scope the user holds: a code as usual.
    let fine = authorize_like_a_browser(&app, &as_refs(&pkce_query(&reader.id)), EMAIL).await;
    assert!(location_param(&fine, "code").is_some());
}

#[tokio::test]
async fn client_credentials_with_nothing_registered_is_invalid_scope() {
    let app = spawn_app().await;
    let client = register_client(&app, "Scopeless", &["client_credentials"], "", false).await;
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&client.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_oauth_error(response, 400, "invalid_scope").await;
}

/// A confidential first-party client allowed the password grant.
async fn first_party(app: &TestApp, scope: &str) -> RegisteredClient {
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Own app".into(),
            first_party: true,
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: ScopeSet::parse(scope),
            redirect_uris: Vec::new(),
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

async fn password_grant(
    app: &TestApp,
    client: &RegisteredClient,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", EMAIL),
        ("password", PASSWORD),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_form(app, "/oauth/token", Some(&client.basic()), &form).await
}

#[tokio::test]
async fn the_password_grant_with_nothing_to_grant_is_invalid_scope() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let scopeless = first_party(&app, "").await;
    assert_oauth_error(
        password_grant(&app, &scopeless, None).await,
        400,
        "invalid_scope",
    )
    .await;
    // Registered only for what this user does not hold.
    let admin_only = first_party(&app, "profiles:read").await;
    assert_oauth_error(
        password_grant(&app, &admin_only, None).await,
        400,
        "invalid_scope",
    )
    .await;
    // Asking for more than the user holds is narrowed to what they hold.
    let both = first_party(&app, "profile:read profiles:read").await;
    let response = password_grant(&app, &both, Some("profile:read profiles:read")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "profile:read");
    let claims = decode_parts(body["access_token"].as_str().unwrap()).1;
    assert_eq!(claims["scope"], "profile:read");
    assert_oauth_error(
        password_grant(&app, &both, Some("profiles:read")).await,
        400,
        "invalid_scope",
    )
    .await;
    // And asking beyond the registration is refused outright.
    assert_oauth_error(
        password_grant(&app, &both, Some("profile:read profile:write")).await,
        400,
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn a_code_whose_user_lost_every_right_it_carries_is_invalid_scope() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    make_admin(&app, true).await;
    let reader = register_client(
        &app,
        "Directory",
        &["authorization_code", "refresh_token"],
        "profiles:read",
        true,
    )
    .await;
    let query = with(pkce_query(&reader.id), &[("scope", Some("profiles:read"))]);
    let redirect = authorize_like_a_browser(&app, &as_refs(&query), EMAIL).await;
    let code = location_param(&redirect, "code").expect("an admin gets a code");
    // Demoted between the code and its exchange.
    make_admin(&app, false).await;
    assert_oauth_error(
        exchange(&app, &reader.id, &code, VERIFIER).await,
        400,
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn a_refresh_whose_user_lost_every_right_it_carries_is_invalid_scope() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    make_admin(&app, true).await;
    let reader = register_client(
        &app,
        "Directory",
        &["authorization_code", "refresh_token"],
        "profiles:read",
        true,
    )
    .await;
    let query = with(pkce_query(&reader.id), &[("scope", Some("profiles:read"))]);
    let redirect = authorize_like_a_browser(&app, &as_refs(&query), EMAIL).await;
    let code = location_param(&redirect, "code").unwrap();
    let tokens = exchange(&app, &reader.id, &code, VERIFIER).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    assert_eq!(tokens["scope"], "profiles:read");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    make_admin(&app, false).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", reader.id.as_str()),
        ("refresh_token", refresh_token),
    ];
    let refresh = || post_form(&app, "/oauth/token", None, &form);
    assert_oauth_error(refresh().await, 400, "invalid_scope").await;
    // Refused, not spent: with the right back, the same token refreshes.
    make_admin(&app, true).await;
    let response = refresh().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "profiles:read");
}
