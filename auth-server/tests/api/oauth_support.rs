//! Helpers for the third-party grants: registering clients, driving the
//! authorization page like a browser, and the endpoints of token management.

use auth_server::grant_type::GrantType;
use auth_server::store::clients::{ClientMetadata, NewClient};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::scope::ScopeSet;

use crate::helpers::{PASSWORD, TestApp};

pub const REDIRECT_URI: &str = "https://app.example/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub struct RegisteredClient {
    pub id: String,
    pub secret: Option<String>,
}

impl RegisteredClient {
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                self.id,
                self.secret.as_deref().unwrap_or_default()
            ))
        )
    }
}

pub async fn register_client(
    app: &TestApp,
    name: &str,
    grants: &[&str],
    scope: &str,
    public: bool,
) -> RegisteredClient {
    let new = NewClient {
        public,
        metadata: ClientMetadata {
            name: name.to_owned(),
            first_party: false,
            grant_types: grants.iter().filter_map(|g| GrantType::parse(g)).collect(),
            scopes: ScopeSet::parse(scope),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

/// A public client for the code flow with refresh.
pub async fn public_app(app: &TestApp) -> RegisteredClient {
    register_client(
        app,
        "Public App",
        &["authorization_code", "refresh_token"],
        "profile:read profile:write",
        true,
    )
    .await
}

/// A confidential service client.
pub async fn service(app: &TestApp) -> RegisteredClient {
    register_client(
        app,
        "Billing service",
        &["client_credentials"],
        "profiles:read",
        false,
    )
    .await
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        // Named or numeric character references; `&` last, so nothing is
        // decoded twice.
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&#60;", "<")
            .replace("&gt;", ">")
            .replace("&#62;", ">")
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

/// The CSRF cookie the page set, as a `Cookie` header value.
pub fn csrf_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("authorize_csrf="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

/// A query parameter of a redirect `Location`.
pub fn location_param(response: &reqwest::Response, name: &str) -> Option<String> {
    let location = response.headers().get("location")?.to_str().ok()?;
    let url = url::Url::parse(location).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
}

impl<'a> Browser<'a> {
    /// `GET /oauth/authorize?query`, keeping the CSRF cookie.
    pub async fn open(
        app: &'a TestApp,
        query: &[(&str, &str)],
    ) -> (Browser<'a>, reqwest::Response) {
        let response = app
            .client
            .get(app.url("/oauth/authorize"))
            .query(query)
            .send()
            .await
            .unwrap();
        let cookie = if response.status() == 200 {
            csrf_cookie(&response)
        } else {
            String::new()
        };
        (Browser { app, cookie }, response)
    }

    /// Submits the page's form with its hidden fields plus `extra`.
    pub async fn submit(&mut self, page: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(String, String)> = Vec::new();
        for name in [
            "csrf",
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "prompt",
            "max_age",
            "resource",
            "request_uri",
            "dpop_jkt",
            "ticket",
        ] {
            if let Some(value) = hidden(page, name) {
                form.push((name.to_owned(), value));
            }
        }
        for (name, value) in extra {
            form.push(((*name).to_owned(), (*value).to_owned()));
        }
        let response = self
            .app
            .client
            .post(self.app.url("/oauth/authorize"))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        if response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.starts_with("authorize_csrf=")))
        {
            self.cookie = csrf_cookie(&response);
        }
        response
    }
}

/// Logs `email` in and allows, as a browser would; returns the final redirect.
pub async fn authorize_like_a_browser(
    app: &TestApp,
    query: &[(&str, &str)],
    email: &str,
) -> reqwest::Response {
    let (mut browser, page) = Browser::open(app, query).await;
    assert_eq!(page.status(), 200, "the login page is shown");
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    // Consent given before in this test is remembered: the code comes at once.
    if consent.status() == 303 {
        return consent;
    }
    assert_eq!(consent.status(), 200, "the consent page is shown");
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("Allow"));
    browser.submit(&consent, &[("action", "allow")]).await
}

/// The standard PKCE query for `client_id`.
pub fn pkce_query(client_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", client_id.to_owned()),
        ("redirect_uri", REDIRECT_URI.to_owned()),
        ("scope", "profile:read".to_owned()),
        ("state", "xyz-123".to_owned()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

pub fn as_refs<'a>(query: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    query.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A code for `email` from a public client's PKCE flow.
pub async fn code_for(app: &TestApp, client_id: &str, email: &str) -> String {
    let query = pkce_query(client_id);
    let redirect = authorize_like_a_browser(app, &as_refs(&query), email).await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        location_param(&redirect, "state").as_deref(),
        Some("xyz-123")
    );
    location_param(&redirect, "code").unwrap()
}

pub async fn exchange(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    app.post_token(&[
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ])
    .await
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).form(form);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

pub async fn post_introspect(app: &TestApp, auth: Option<&str>, token: &str) -> reqwest::Response {
    post_form(app, "/oauth/introspect", auth, &[("token", token)]).await
}

pub async fn post_revoke(
    app: &TestApp,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    post_form(app, "/oauth/revoke", auth, form).await
}

/// `active` of an introspection by `by`.
pub async fn is_active(app: &TestApp, by: &RegisteredClient, token: &str) -> bool {
    let response = post_introspect(app, Some(&by.basic()), token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

/// Asserts an RFC 6749 §5.2 error and returns the body.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}
