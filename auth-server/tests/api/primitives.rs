//! Our oxide-auth primitives driven directly through oxide-auth-async's
//! traits, on the running server's database: what any oxide-auth flow (or
//! a future frontend) relies on, beyond what the HTTP tests reach.

use auth_server::oauth::context::GrantContext;
use auth_server::oxide::authorizer::CodeAuthorizer;
use auth_server::oxide::extensions::ext;
use auth_server::oxide::flow::Flow;
use auth_server::oxide::issuer::GrantIssuer;
use auth_server::oxide::registrar::ClientRegistrar;
use auth_server::store::clients::Client;
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::registrar::{ClientUrl, ExactUrl, RegistrarError};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};
use shared::clock::Clock;
use std::borrow::Cow;

use crate::helpers::{TestApp, spawn_app};
use crate::oauth_support::{REDIRECT_URI, VERIFIER, challenge, public_app, register_client};

fn context(app: &TestApp) -> GrantContext<'_> {
    GrantContext::new(
        &app.db,
        &app.clients,
        &app.config,
        &app.issuer,
        shared::clock::SystemClock.now(),
    )
}

/// A grant as oxide-auth's password-less flows hand it to the issuer.
fn direct_grant(user_id: &str, client_id: &str, scope: &str) -> Grant {
    Grant {
        owner_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        scope: scope.parse().unwrap(),
        redirect_uri: "urn:x-auth-server:no-redirect".parse().unwrap(),
        until: chrono::DateTime::<chrono::Utc>::from(shared::clock::system_time())
            + chrono::TimeDelta::minutes(15),
        extensions: Extensions::new(),
    }
}

fn client_url<'a>(id: &'a str, redirect: &str) -> ClientUrl<'a> {
    ClientUrl {
        client_id: Cow::Borrowed(id),
        redirect_uri: Some(Cow::Owned(ExactUrl::new(redirect.to_owned()).unwrap())),
    }
}

#[tokio::test]
async fn the_registrar_binds_only_exact_registered_redirect_uris() {
    let app = spawn_app().await;
    let client = public_app(&app).await;
    let context = context(&app);
    let session = Flow::authorization(&context, None);
    let registrar = ClientRegistrar::new(&session);

    let bound = registrar
        .bound_redirect(client_url(&client.id, REDIRECT_URI))
        .await
        .unwrap();
    assert_eq!(bound.redirect_uri.as_str(), REDIRECT_URI);
    for near_miss in [
        "https://app.example/callback/",
        "https://APP.example/callback",
        "https://app.example/callback?x=1",
        "https://app.example:443/callback",
    ] {
        let refused = registrar
            .bound_redirect(client_url(&client.id, near_miss))
            .await;
        assert!(
            matches!(refused, Err(RegistrarError::Unspecified)),
            "{near_miss}"
        );
    }
    let unknown = registrar
        .bound_redirect(client_url("no-such-client", REDIRECT_URI))
        .await;
    assert!(matches!(unknown, Err(RegistrarError::Unspecified)));

    // Scope negotiation: a subset is granted, anything beyond refused.
    let pre_grant = registrar
        .negotiate(bound.clone(), Some("profile:read".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(pre_grant.scope.to_string(), "profile:read");
    let wider = registrar
        .negotiate(bound, Some("profile:read profiles:read".parse().unwrap()))
        .await;
    assert!(matches!(wider, Err(RegistrarError::Unspecified)));
}

#[tokio::test]
async fn the_registrar_checks_secrets_and_public_clients() {
    let app = spawn_app().await;
    let confidential =
        register_client(&app, "Svc", &["client_credentials"], "profiles:read", false).await;
    let public = public_app(&app).await;
    let secret = confidential.secret.clone().unwrap();
    let context = context(&app);
    let session = Flow::authorization(&context, None);
    let registrar = ClientRegistrar::new(&session);

    assert!(
        registrar
            .check(&confidential.id, Some(secret.as_bytes()))
            .await
            .is_ok()
    );
    assert_eq!(
        session.authenticated().map(|c: Client| c.id),
        Some(confidential.id.clone())
    );
    for (id, pass) in [
        (confidential.id.as_str(), Some(b"wrong".as_slice())),
        (confidential.id.as_str(), None),
        (confidential.id.as_str(), Some(&[0xff, 0xfe][..])),
        (public.id.as_str(), Some(secret.as_bytes())),
        ("no-such-client", Some(secret.as_bytes())),
    ] {
        assert!(
            matches!(
                registrar.check(id, pass).await,
                Err(RegistrarError::Unspecified)
            ),
            "{id} {pass:?}"
        );
    }
    assert!(registrar.check(&public.id, None).await.is_ok());
}

#[tokio::test]
async fn an_authorized_code_is_extracted_once() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let context = context(&app);
    let session = Flow::authorization(&context, None);
    let mut authorizer = CodeAuthorizer::new(&session);
    let mut extensions = Extensions::new();
    for (key, value) in [
        (ext::CHALLENGE, challenge(VERIFIER)),
        (ext::REDIRECT_URI, REDIRECT_URI.to_owned()),
    ] {
        extensions.set_raw(key.to_owned(), Value::private(Some(value)));
    }
    // The client negotiated more than this user (not an admin) holds.
    let grant = Grant {
        owner_id: user["id"].as_str().unwrap().to_owned(),
        client_id: client.id.clone(),
        scope: "profile:read profiles:read".parse().unwrap(),
        redirect_uri: url::Url::parse(REDIRECT_URI).unwrap(),
        until: chrono::DateTime::<chrono::Utc>::from(shared::clock::system_time())
            + chrono::TimeDelta::minutes(1),
        extensions,
    };
    let code = authorizer.authorize(grant).await.unwrap();
    assert!(code.len() >= 43, "256 random bits");

    // Extraction is for an authenticated client only.
    assert!(
        ClientRegistrar::new(&session)
            .check(&client.id, None)
            .await
            .is_ok()
    );
    let grant = authorizer.extract(&code).await.unwrap().unwrap();
    assert_eq!(grant.client_id, client.id);
    assert_eq!(grant.owner_id, user["id"].as_str().unwrap());
    assert_eq!(grant.redirect_uri.as_str(), REDIRECT_URI);
    assert_eq!(
        grant.scope.to_string(),
        "profile:read",
        "narrowed to the user's"
    );
    assert!(grant.until > chrono::DateTime::<chrono::Utc>::from(shared::clock::system_time()));

    // Spent: a second extraction finds nothing.
    assert!(authorizer.extract(&code).await.unwrap().is_none());
    assert!(authorizer.extract("not-a-code").await.unwrap().is_none());
}

#[tokio::test]
async fn the_issuer_recovers_only_live_tokens_of_ours() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let client = public_app(&app).await;
    let context = context(&app);
    let session = Flow::authorization(&context, None);
    assert!(
        ClientRegistrar::new(&session)
            .check(&client.id, None)
            .await
            .is_ok()
    );
    let mut issuer = GrantIssuer::new(&session);
    let grant = direct_grant(user["id"].as_str().unwrap(), &client.id, "profile:read");
    let issued = issuer.issue(grant).await.unwrap();
    assert!(issued.refresh.is_some(), "the client may refresh");

    let recovered = issuer.recover_token(&issued.token).await.unwrap().unwrap();
    assert_eq!(recovered.owner_id, user["id"].as_str().unwrap());
    assert_eq!(recovered.client_id, client.id);
    assert_eq!(recovered.scope.to_string(), "profile:read");

    // A refresh token is not an access token, and a tampered token is not ours.
    let refresh = issued.refresh.unwrap();
    assert!(issuer.recover_token(&refresh).await.unwrap().is_none());
    let mut tampered = issued.token.clone();
    tampered.pop();
    tampered.push(if issued.token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    assert!(issuer.recover_token(&tampered).await.unwrap().is_none());

    // The refresh token recovers its grant; once rotated, it never again.
    let refresh_grant = issuer.recover_refresh(&refresh).await.unwrap().unwrap();
    assert_eq!(refresh_grant.client_id, client.id);
    let rotated = issuer.refresh(&refresh, refresh_grant).await.unwrap();
    assert_ne!(rotated.refresh.as_deref(), Some(refresh.as_str()));
    assert!(issuer.recover_refresh(&refresh).await.unwrap().is_none());

    // Reuse revoked the family: the rotated token and the first access
    // token are dead too.
    let next = rotated.refresh.unwrap();
    assert!(issuer.recover_refresh(&next).await.unwrap().is_none());
    assert!(issuer.recover_token(&issued.token).await.unwrap().is_none());
}
