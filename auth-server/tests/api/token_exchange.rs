//! Token exchange (RFC 8693): a service acting for a user trades the
//! user's token for a narrower one (another audience, a subset of the
//! scope, `act` naming the service); every refusal issues nothing; and
//! revoking the subject token's family, or changing the user's rights,
//! makes the exchanged tokens introspect inactive.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientMetadata, NewClient};
use auth_server::store::users::{UserChanges, delete_user, update_user};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::scope::ScopeSet;

use crate::helpers::{PASSWORD, TestApp, decode_parts, spawn_app};
use crate::oauth_support::{
    RegisteredClient, assert_oauth_error, is_active, post_form, post_revoke, public_app,
    register_client,
};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A confidential client that may exchange tokens for `audiences`.
async fn exchanger(app: &TestApp, name: &str, scope: &str, audiences: &[&str]) -> RegisteredClient {
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: name.to_owned(),
            first_party: false,
            grant_types: vec![GrantType::TokenExchange],
            scopes: ScopeSet::parse(scope),
            redirect_uris: Vec::new(),
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

/// The orders service: it may call billing and shipping for a user.
async fn orders(app: &TestApp) -> RegisteredClient {
    exchanger(
        app,
        "Orders",
        "profile:read profile:write",
        &["billing", "shipping"],
    )
    .await
}

/// A user's password-grant response (the first-party client: with a
/// refresh token).
async fn user_tokens(app: &TestApp, email: &str) -> Value {
    app.signup(email).await;
    let response = app
        .post_token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `POST /oauth/token` for an exchange by `by`, with `extra` parameters.
async fn post_exchange(
    app: &TestApp,
    by: &RegisteredClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    form.extend_from_slice(extra);
    post_form(app, "/oauth/token", Some(&by.basic()), &form).await
}

/// An exchange that succeeds: the token response's body.
async fn exchanged(
    app: &TestApp,
    by: &RegisteredClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> Value {
    let response = post_exchange(app, by, subject, extra).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// How many exchanged tokens the server has issued.
async fn issued(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(distinct jti) from exchanged_tokens")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

fn now() -> i64 {
    SystemClock.now()
}

/// A first-party access token, signed by the app's own key, of a user
/// signed up now, living `lifetime` seconds, with no refresh family behind
/// it.
async fn signed_for_new_user(app: &TestApp, email: &str, lifetime: i64, scope: &str) -> String {
    let user_id = app.signup(email).await["id"].as_str().unwrap().to_owned();
    let now = now();
    signed(
        app,
        &json!({
            "iss": "http://issuer.test", "sub": user_id, "aud": "profile-api",
            "exp": now + lifetime, "iat": now, "nbf": now, "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "first-party", "scope": scope,
        }),
    )
}

/// An access token signed by the app's own key with these claims.
fn signed(app: &TestApp, claims: &Value) -> String {
    let iat = claims["iat"].as_i64().unwrap_or_else(now);
    app.issuer.sign_access_claims(claims, iat).unwrap()
}

#[tokio::test]
async fn an_exchanged_token_is_narrower_and_names_the_acting_service() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let orders = orders(&app).await;

    let body = exchanged(
        &app,
        &orders,
        subject,
        &[("audience", "billing"), ("scope", "profile:read")],
    )
    .await;
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "profile:read");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("id_token").is_none(), "{body}");

    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = decode_parts(token);
    let (_, subject_claims) = decode_parts(subject);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], subject_claims["sub"]);
    assert_eq!(claims["aud"], "billing");
    assert_eq!(claims["client_id"], orders.id.as_str());
    assert_eq!(claims["scope"], "profile:read");
    assert_eq!(claims["act"], json!({"sub": orders.id}));
    assert!(
        claims.get("email").is_none(),
        "third party without email scope"
    );
    assert!(claims["exp"].as_i64() <= subject_claims["exp"].as_i64());
    assert_ne!(claims["jti"], subject_claims["jti"]);
    assert!(body["expires_in"].as_i64().unwrap() > 0);

    // Signed by the published key, and live at introspection.
    let jwks = app.get_jwks().await;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["billing"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).unwrap();
    let response = post_form(
        &app,
        "/oauth/introspect",
        Some(&orders.basic()),
        &[("token", token)],
    )
    .await;
    let introspected: Value = response.json().await.unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["aud"], "billing");
    assert_eq!(introspected["act"], json!({"sub": orders.id}));
    let response = post_form(
        &app,
        "/oauth/introspect",
        Some(&orders.basic()),
        &[("token", subject)],
    )
    .await;
    let introspected: Value = response.json().await.unwrap();
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("act").is_none(), "{introspected}");

    // `resource` names the target as well, and no scope is the subject's
    // (narrowed to the client's registration).
    let body = exchanged(&app, &orders, subject, &[("resource", "shipping")]).await;
    assert_eq!(body["scope"], "profile:read profile:write");
    assert_eq!(
        decode_parts(body["access_token"].as_str().unwrap()).1["aud"],
        "shipping"
    );
    assert_eq!(issued(&app).await, 2);
}

#[tokio::test]
async fn the_exchanged_token_never_outlives_its_subject() {
    let app = spawn_app().await;
    let subject = signed_for_new_user(&app, "ada@example.com", 100, "profile:read").await;
    let orders = orders(&app).await;
    let body = exchanged(&app, &orders, &subject, &[("audience", "billing")]).await;
    assert!(body["expires_in"].as_i64().unwrap() <= 100, "{body}");
    let claims = decode_parts(body["access_token"].as_str().unwrap()).1;
    assert_eq!(claims["exp"], decode_parts(&subject).1["exp"]);
}

#[tokio::test]
async fn an_actor_token_names_the_actor_and_exchanges_nest_act() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let orders = orders(&app).await;
    let billing = exchanger(&app, "Billing", "profile:read", &["ledger"]).await;
    let robot = register_client(
        &app,
        "Robot",
        &["client_credentials"],
        "profile:read",
        false,
    )
    .await;
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&robot.basic()),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let robot_token: Value = response.json().await.unwrap();
    let robot_token = robot_token["access_token"].as_str().unwrap();

    let first = exchanged(
        &app,
        &orders,
        subject,
        &[
            ("audience", "billing"),
            ("actor_token", robot_token),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    let first = first["access_token"].as_str().unwrap();
    assert_eq!(decode_parts(first).1["act"], json!({"sub": robot.id}));

    // Billing, called with that token, passes the user on to the ledger.
    let second = exchanged(&app, &billing, first, &[("audience", "ledger")]).await;
    let claims = decode_parts(second["access_token"].as_str().unwrap()).1;
    assert_eq!(
        claims["act"],
        json!({"sub": billing.id, "act": {"sub": robot.id}})
    );
    assert_eq!(claims["sub"], decode_parts(subject).1["sub"]);
    assert_eq!(claims["client_id"], billing.id.as_str());
    assert_eq!(claims["scope"], "profile:read");

    // A client's own token may be a subject too: its sub stays the client.
    let own = exchanged(&app, &billing, robot_token, &[("audience", "ledger")]).await;
    let claims = decode_parts(own["access_token"].as_str().unwrap()).1;
    assert_eq!(claims["sub"], robot.id.as_str());
    assert_eq!(claims["act"], json!({"sub": billing.id}));
}

#[tokio::test]
async fn a_chain_of_five_actors_is_the_deepest() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let hop = exchanger(&app, "Hop", "profile:read", &["next"]).await;
    let mut token = user["access_token"].as_str().unwrap().to_owned();
    for depth in 1..=5 {
        let body = exchanged(&app, &hop, &token, &[("audience", "next")]).await;
        token = body["access_token"].as_str().unwrap().to_owned();
        let mut act = &decode_parts(&token).1["act"];
        let mut seen = 0;
        while act.is_object() {
            seen += 1;
            act = &act["act"];
        }
        assert_eq!(seen, depth);
    }
    let before = issued(&app).await;
    let response = post_exchange(&app, &hop, &token, &[("audience", "next")]).await;
    let body = assert_oauth_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("deeper")
    );
    assert_eq!(issued(&app).await, before);
}

#[tokio::test]
async fn bad_subject_tokens_are_invalid_requests_and_issue_nothing() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let user_id = decode_parts(subject).1["sub"].as_str().unwrap().to_owned();
    let orders = orders(&app).await;
    let now = now();
    let claims = |exp: i64, extra: Value| {
        let mut claims = json!({
            "iss": "http://issuer.test", "sub": user_id, "aud": "profile-api",
            "exp": exp, "iat": now - 1000, "nbf": now - 1000,
            "jti": uuid::Uuid::new_v4().to_string(),
            "client_id": "first-party", "scope": "profile:read",
        });
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };

    // Signed by another issuer's key (the same `iss`, another ring).
    other.signup("ada@example.com").await;
    let foreign = other.password_token("ada@example.com").await;
    // A character inside the signature, whose bits all count.
    let mut tampered = subject.as_bytes().to_vec();
    let inside = tampered.len() - 20;
    tampered[inside] = if tampered[inside] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let expired = signed(&app, &claims(now - 10, json!({})));
    let bound = signed(&app, &claims(now + 600, json!({"cnf": {"jkt": "abc"}})));
    let revoked = app.password_token("ada@example.com").await;
    let response = post_revoke(&app, None, &[("token", revoked.as_str())]).await;
    assert_eq!(response.status(), 200);
    let id_token_like = subject.split('.').take(2).collect::<Vec<_>>().join(".");

    for (what, token) in [
        ("garbage", "not-a-token"),
        ("two parts", id_token_like.as_str()),
        ("tampered signature", tampered.as_str()),
        ("foreign-signed", foreign.as_str()),
        ("expired", expired.as_str()),
        ("revoked", revoked.as_str()),
        ("DPoP-bound", bound.as_str()),
    ] {
        let response = post_exchange(&app, &orders, token, &[("audience", "billing")]).await;
        let body = assert_oauth_error(response, 400, "invalid_request").await;
        assert!(
            !body["error_description"].as_str().unwrap().contains(token),
            "{what}: the token is not echoed"
        );
    }
    // The same subject, well-formed, is accepted: the refusals were about it.
    exchanged(&app, &orders, subject, &[("audience", "billing")]).await;
    assert_eq!(issued(&app).await, 1);
}

#[tokio::test]
async fn bad_parameters_get_the_contract_errors_and_issue_nothing() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let orders = orders(&app).await;
    let refresh_type = "urn:ietf:params:oauth:token-type:refresh_token";

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        // Unknown token types.
        (
            vec![("subject_token_type", refresh_type)],
            "invalid_request",
        ),
        (
            vec![("requested_token_type", refresh_type)],
            "invalid_request",
        ),
        (
            vec![("actor_token", subject), ("actor_token_type", refresh_type)],
            "invalid_request",
        ),
        (vec![("actor_token", subject)], "invalid_request"),
        (
            vec![
                ("actor_token", "garbage"),
                ("actor_token_type", ACCESS_TOKEN),
            ],
            "invalid_request",
        ),
        // Targets outside the client's audiences, AUDIENCE included.
        (vec![("audience", "payroll")], "invalid_target"),
        (vec![("resource", "profile-api")], "invalid_target"),
        (
            vec![("resource", "billing"), ("audience", "shipping")],
            "invalid_target",
        ),
        // A scope wider than the subject token's.
        (
            vec![("scope", "profile:read profiles:read")],
            "invalid_scope",
        ),
    ];
    for (extra, error) in cases {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
        ];
        let mut has_target = false;
        for (name, value) in &extra {
            if let Some(slot) = form.iter_mut().find(|(n, _)| n == name) {
                slot.1 = value;
            } else {
                form.push((name, value));
            }
            has_target |= *name == "audience" || *name == "resource";
        }
        if !has_target {
            form.push(("audience", "billing"));
        }
        let response = post_form(&app, "/oauth/token", Some(&orders.basic()), &form).await;
        assert_oauth_error(response, 400, error).await;
    }

    // No target, no subject token.
    let response = post_exchange(&app, &orders, subject, &[]).await;
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = post_form(
        &app,
        "/oauth/token",
        Some(&orders.basic()),
        &[("grant_type", EXCHANGE), ("audience", "billing")],
    )
    .await;
    let body = assert_oauth_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("subject_token")
    );
    assert_eq!(issued(&app).await, 0);
}

#[tokio::test]
async fn only_confidential_clients_registered_for_it_may_exchange() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", "billing"),
    ];

    let public = public_app(&app).await;
    let mut with_id = form.to_vec();
    with_id.push(("client_id", public.id.as_str()));
    let response = post_form(&app, "/oauth/token", None, &with_id).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;

    let not_registered =
        register_client(&app, "Cc", &["client_credentials"], "profile:read", false).await;
    let response = post_form(&app, "/oauth/token", Some(&not_registered.basic()), &form).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;

    let orders = orders(&app).await;
    let wrong = RegisteredClient {
        id: orders.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    let response = post_form(&app, "/oauth/token", Some(&wrong.basic()), &form).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    let response = post_form(&app, "/oauth/token", None, &form).await;
    assert_oauth_error(response, 401, "invalid_client").await;
    assert_eq!(issued(&app).await, 0);
}

#[tokio::test]
async fn revoking_the_subject_family_revokes_what_was_exchanged_from_it() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let refresh = user["refresh_token"].as_str().unwrap();
    let orders = orders(&app).await;
    let billing = exchanger(&app, "Billing", "profile:read", &["ledger"]).await;

    let first = exchanged(&app, &orders, subject, &[("audience", "billing")]).await;
    let first = first["access_token"].as_str().unwrap().to_owned();
    let second = exchanged(&app, &billing, &first, &[("audience", "ledger")]).await;
    let second = second["access_token"].as_str().unwrap().to_owned();
    assert!(is_active(&app, &orders, &first).await);
    assert!(is_active(&app, &orders, &second).await);

    let response = post_revoke(&app, None, &[("token", refresh)]).await;
    assert_eq!(response.status(), 200);
    assert!(!is_active(&app, &orders, subject).await);
    assert!(!is_active(&app, &orders, &first).await);
    assert!(
        !is_active(&app, &orders, &second).await,
        "the grandchild too"
    );
    // And a revoked token is exchanged no more, at any depth.
    for token in [subject, first.as_str()] {
        let response = post_exchange(&app, &billing, token, &[("audience", "ledger")]).await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn revoking_an_exchanged_token_revokes_its_descendants_only() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let orders = orders(&app).await;
    let billing = exchanger(&app, "Billing", "profile:read", &["ledger"]).await;
    let first = exchanged(&app, &orders, subject, &[("audience", "billing")]).await;
    let first = first["access_token"].as_str().unwrap().to_owned();
    let second = exchanged(&app, &billing, &first, &[("audience", "ledger")]).await;
    let second = second["access_token"].as_str().unwrap().to_owned();

    // Orders revokes the token it was issued.
    let response = post_revoke(&app, Some(&orders.basic()), &[("token", first.as_str())]).await;
    assert_eq!(response.status(), 200);
    assert!(!is_active(&app, &orders, &first).await);
    assert!(!is_active(&app, &orders, &second).await);
    assert!(
        is_active(&app, &orders, subject).await,
        "its subject lives on"
    );
}

#[tokio::test]
async fn changing_the_users_rights_revokes_exchanged_tokens() {
    let app = spawn_app().await;
    let orders = orders(&app).await;
    app.signup("ada@example.com").await;
    // A token with no refresh family behind it: only the user links them.
    let subject = signed_for_new_user(&app, "bob@example.com", 600, "profile:read").await;
    let now = now();
    let exchanged_token = exchanged(&app, &orders, &subject, &[("audience", "billing")]).await;
    let exchanged_token = exchanged_token["access_token"].as_str().unwrap().to_owned();
    let ada = user_tokens_of_existing(&app, "ada@example.com").await;
    let ada_exchanged = exchanged(&app, &orders, &ada, &[("audience", "billing")]).await;
    let ada_exchanged = ada_exchanged["access_token"].as_str().unwrap().to_owned();
    assert!(is_active(&app, &orders, &exchanged_token).await);

    let changes = UserChanges {
        is_admin: Some(true),
        name: None,
    };
    update_user(&app.db, "bob@example.com", &changes, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    assert!(!is_active(&app, &orders, &exchanged_token).await);
    assert!(
        is_active(&app, &orders, &ada_exchanged).await,
        "another user's lives on"
    );
}

#[tokio::test]
async fn a_revocation_made_here_stops_the_next_exchange_whatever_was_remembered() {
    let app = spawn_app().await;
    let user = user_tokens(&app, "ada@example.com").await;
    let subject = user["access_token"].as_str().unwrap();
    let refresh = user["refresh_token"].as_str().unwrap();
    let orders = orders(&app).await;
    let billing = exchanger(&app, "Billing", "profile:read", &["ledger"]).await;
    let first = exchanged(&app, &orders, subject, &[("audience", "billing")]).await;
    let first = first["access_token"].as_str().unwrap().to_owned();
    // Each presented more than once: verified and found live, remembered.
    for _ in 0..3 {
        exchanged(&app, &orders, subject, &[("audience", "shipping")]).await;
        exchanged(&app, &billing, &first, &[("audience", "ledger")]).await;
    }

    // The subject's family revoked: neither it nor what descends from it
    // is exchanged by the very next request.
    let response = post_revoke(&app, None, &[("token", refresh)]).await;
    assert_eq!(response.status(), 200);
    let response = post_exchange(&app, &billing, &first, &[("audience", "ledger")]).await;
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = post_exchange(&app, &orders, subject, &[("audience", "billing")]).await;
    assert_oauth_error(response, 400, "invalid_request").await;

    // A user's rights changed: the tokens exchanged from theirs neither.
    let bob = user_tokens(&app, "bob@example.com").await;
    let bob_token = bob["access_token"].as_str().unwrap();
    let bob_first = exchanged(&app, &orders, bob_token, &[("audience", "billing")]).await;
    let bob_first = bob_first["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        exchanged(&app, &billing, &bob_first, &[("audience", "ledger")]).await;
    }
    let changes = UserChanges {
        is_admin: Some(true),
        name: None,
    };
    let now = now();
    update_user(&app.db, "bob@example.com", &changes, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    let response = post_exchange(&app, &billing, &bob_first, &[("audience", "ledger")]).await;
    assert_oauth_error(response, 400, "invalid_request").await;
}

/// The subject's account is remembered between exchanges: a change to it
/// reaches the very next exchange, whatever was remembered.
#[tokio::test]
async fn a_remembered_account_follows_its_changes_at_once() {
    let app = spawn_app().await;
    let profiles = exchanger(&app, "Profiles", "profile:read profile", &["billing"]).await;
    // No refresh family behind it: only the account's existence stands
    // between it and an exchange.
    let subject = signed_for_new_user(&app, "bob@example.com", 600, "profile:read profile").await;
    let now = now();
    let name_in = |body: &Value| {
        let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
        claims["name"].clone()
    };
    for _ in 0..3 {
        let body = exchanged(&app, &profiles, &subject, &[("audience", "billing")]).await;
        assert_eq!(name_in(&body), "Ada Lovelace", "the name signed up with");
    }

    let changes = UserChanges {
        is_admin: None,
        name: Some("Robert".into()),
    };
    update_user(&app.db, "bob@example.com", &changes, now, now + 900)
        .await
        .unwrap()
        .unwrap();
    let body = exchanged(&app, &profiles, &subject, &[("audience", "billing")]).await;
    assert_eq!(name_in(&body), "Robert", "the new name at once");

    let before = issued(&app).await;
    delete_user(&app.db, "bob@example.com", now, now + 900)
        .await
        .unwrap()
        .unwrap();
    let response = post_exchange(&app, &profiles, &subject, &[("audience", "billing")]).await;
    assert_oauth_error(response, 400, "invalid_request").await;
    assert_eq!(issued(&app).await, before, "nothing issued");
}

async fn user_tokens_of_existing(app: &TestApp, email: &str) -> String {
    app.password_token(email).await
}

#[tokio::test]
async fn discovery_lists_the_grant() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    let grants = metadata["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(EXCHANGE)), "{metadata}");
}

#[tokio::test]
async fn clients_create_takes_grant_token_exchange_for_confidential_clients_only() {
    let dir = tempfile::TempDir::new().unwrap();
    let database_url = crate::helpers::fresh_database_url(dir.path()).await;
    let create = |extra: &[&str]| {
        let mut command = crate::cli::command(&dir, &database_url);
        command.args([
            "clients",
            "create",
            "--name",
            "orders",
            "--grant",
            "token-exchange",
            "--audience",
            "billing",
            "--json",
        ]);
        command.args(extra).output().unwrap()
    };
    let output = create(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["grant_types"], json!([EXCHANGE]), "{created}");
    assert_eq!(created["audiences"], json!(["billing"]));
    assert!(created["client_secret"].is_string());

    let output = create(&["--public"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("token-exchange"), "{stderr}");
}
