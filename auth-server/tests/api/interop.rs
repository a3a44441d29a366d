//! Interoperability: the `oauth2` crate, an independent client library,
//! drives the client credentials grant and the authorization code flow
//! with PKCE against the real server.

use oauth2::basic::{BasicClient, BasicTokenType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};

use crate::helpers::{spawn_app, verify_with_jwks};
use crate::oauth_support::*;

/// The library's HTTP over the workspace's reqwest: oauth2 implements its
/// `AsyncHttpClient` for any such function, so the tree needs no second
/// reqwest for it. Redirects are not followed, as the library asks.
async fn send(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (head, body) = request.into_parts();
    let response = client
        .request(head.method, head.uri.to_string())
        .headers(head.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        headers.extend(response.headers().clone());
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .expect("status and headers came from a valid response"))
}

#[tokio::test]
async fn oauth2_crate_client_credentials() {
    let app = spawn_app().await;
    let service = service(&app).await;
    let client = BasicClient::new(ClientId::new(service.id.clone()))
        .set_client_secret(ClientSecret::new(service.secret.clone().unwrap()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("profiles:read".into()))
        .request_async(&send)
        .await
        .unwrap();
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(900));
    let claims = verify_with_jwks(token.access_token().secret(), &app.get_jwks().await).unwrap();
    assert_eq!(claims["sub"], service.id);

    // A wrong secret surfaces as the library's invalid_client error.
    let wrong = BasicClient::new(ClientId::new(service.id.clone()))
        .set_client_secret(ClientSecret::new("wrong".into()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    let error = wrong
        .exchange_client_credentials()
        .request_async(&send)
        .await
        .unwrap_err();
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            assert_eq!(
                *response.error(),
                oauth2::basic::BasicErrorResponseType::InvalidClient
            );
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

#[tokio::test]
async fn oauth2_crate_authorization_code_with_pkce() {
    let app = spawn_app().await;
    let user = app.signup("ada@example.com").await;
    let public = public_app(&app).await;
    let client = BasicClient::new(ClientId::new(public.id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile:read".into()))
        .add_scope(Scope::new("profile:write".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser part: the library only builds the URL.
    let query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let redirect = authorize_like_a_browser(&app, &query, "ada@example.com").await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        location_param(&redirect, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = location_param(&redirect, "code").unwrap();

    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&send)
        .await
        .unwrap();
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["profile:read", "profile:write"]);
    let claims = verify_with_jwks(token.access_token().secret(), &app.get_jwks().await).unwrap();
    assert_eq!(claims["sub"], user["id"]);

    // And the library's refresh works with rotation.
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&send)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        token.refresh_token().unwrap().secret()
    );
}
