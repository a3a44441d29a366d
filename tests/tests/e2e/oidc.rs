//! OpenID Connect interop: the Rust `openidconnect` crate, unmodified, as
//! the relying party of the real auth-server binary: discovery, the code
//! flow with PKCE and a nonce (the sign-in page driven over HTTP like a
//! browser), the id_token verified by the library, UserInfo, refresh and
//! RP-Initiated Logout. And RFC 8707: a token minted for another resource
//! is refused by the resource-server.

use std::process::Command;

use e2e::{PASSWORD, binary, claims_of, spawn_stack};
use openidconnect::core::{CoreClient, CoreIdTokenClaims, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

const REDIRECT_URI: &str = "http://127.0.0.1:9/oidc/callback";
const LOGOUT_URI: &str = "http://127.0.0.1:9/oidc/signed-out";
const BILLING: &str = "https://billing.example";

/// `auth-server clients create` for an OpenID relying party, with the
/// settings in `env`; returns the client_id.
pub(crate) fn create_oidc_client(env: &[(String, String)], dir: &std::path::Path) -> String {
    let output = Command::new(binary("auth-server"))
        .args([
            "clients",
            "create",
            "--name",
            "OIDC RP",
            "--public",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid email profile profile:read",
            "--redirect-uri",
            REDIRECT_URI,
            "--post-logout-redirect-uri",
            LOGOUT_URI,
            "--audience",
            BILLING,
            "--json",
        ])
        .current_dir(dir)
        .envs(env.iter().cloned())
        .output()
        .expect("run auth-server clients create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(
        created["post_logout_redirect_uris"],
        serde_json::json!([LOGOUT_URI])
    );
    assert_eq!(created["audiences"], serde_json::json!([BILLING]));
    created["client_id"].as_str().expect("client_id").to_owned()
}

/// A browser over plain HTTP: follows nothing, keeps cookies by name.
pub(crate) struct PageBrowser {
    pub http: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

impl PageBrowser {
    pub(crate) fn new() -> PageBrowser {
        PageBrowser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all("set-cookie") {
            let Some(pair) = header.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    pub(crate) async fn post_form(
        &mut self,
        url: &str,
        form: &[(String, String)],
    ) -> reqwest::Response {
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        response
    }

    /// Signs in on the page at `authorize_url` and allows; returns the
    /// redirect to the client.
    pub(crate) async fn sign_in(
        &mut self,
        authorize_url: &str,
        form_action: &str,
        email: &str,
    ) -> reqwest::Response {
        let page = self.get(authorize_url).await;
        assert_eq!(page.status(), 200, "the sign-in page");
        let html = page.text().await.unwrap();
        // The login form's `action` is one of its hidden inputs.
        let mut form = hidden_inputs(&html);
        form.extend([
            ("username".to_owned(), email.to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
        ]);
        let consent = self.post_form(form_action, &form).await;
        assert_eq!(consent.status(), 200, "the consent page");
        let html = consent.text().await.unwrap();
        let mut form = hidden_inputs(&html);
        form.push(("action".to_owned(), "allow".to_owned()));
        let redirect = self.post_form(form_action, &form).await;
        assert_eq!(redirect.status(), 303);
        redirect
    }
}

/// Every `<input type="hidden" name=… value=…>` of a page.
pub(crate) fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in html.split("<input type=\"hidden\" name=\"").skip(1) {
        let Some((name, rest)) = chunk.split_once('"') else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(" value=\"") else {
            continue;
        };
        let Some((value, _)) = rest.split_once('"') else {
            continue;
        };
        let value = e2e::unescape_html(value);
        out.push((name.to_owned(), value));
    }
    out
}

/// The library's HTTP over the workspace's reqwest: oauth2 implements its
/// `AsyncHttpClient` for any such function, so the tree needs no second
/// reqwest for it. Redirects are not followed, as the library asks.
async fn send(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
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
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        headers.extend(response.headers().clone());
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .expect("status and headers came from a valid response"))
}

pub(crate) fn location_param(response: &reqwest::Response, name: &str) -> Option<String> {
    let location = response.headers().get("location")?.to_str().ok()?;
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openidconnect_crate_signs_in_refreshes_and_logs_out() {
    let stack = spawn_stack().await;
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let user_id = stack.signup(&email, "Ada Lovelace").await;
    let env = vec![
        ("DATABASE_URL".to_owned(), stack.auth.database_url.clone()),
        (
            "KEYS_DIR".to_owned(),
            stack.auth.keys_dir.display().to_string(),
        ),
        ("ISSUER".to_owned(), stack.auth.issuer()),
    ];
    let client_id = create_oidc_client(&env, &stack.auth.dir);

    let http = send;
    let issuer = IssuerUrl::new(stack.auth.issuer()).unwrap();
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
        .await
        .expect("discovery is accepted by the library");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("profile:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = PageBrowser::new();
    let redirect = browser
        .sign_in(
            authorize_url.as_str(),
            &stack.auth.service.url("/oauth/authorize"),
            &email,
        )
        .await;
    assert_eq!(
        location_param(&redirect, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = location_param(&redirect, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an id_token").clone();
    let id_verifier = client.id_token_verifier();
    let claims: &CoreIdTokenClaims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the library verifies the id_token and its nonce");
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    assert!(claims.auth_time().is_some());
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);
    // The same access token works at the resource-server (aud AUDIENCE).
    let access = tokens.access_token().secret().clone();
    assert_eq!(claims_of(&access)["aud"], e2e::AUDIENCE);
    assert_eq!(stack.get_profile_me(&access).await.status(), 200);

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let again = refreshed.id_token().expect("a fresh id_token");
    let again = again
        .claims(&id_verifier, |_: Option<&Nonce>| -> Result<(), String> {
            Ok(())
        })
        .expect("the library verifies the refreshed id_token");
    assert_eq!(again.subject(), claims.subject());
    assert_eq!(again.auth_time(), claims.auth_time());

    // RFC 8707: the session skips the password and the consent is
    // remembered, so a second authorization for the billing resource comes
    // back at once; its token is refused by the profile resource-server.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (billing_url, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile:read".into()))
        .add_extra_param("resource", BILLING)
        .set_pkce_challenge(challenge)
        .url();
    let redirect = browser.get(billing_url.as_str()).await;
    assert_eq!(redirect.status(), 303, "no password, no consent page");
    let code = location_param(&redirect, "code").expect("a code");
    let billing = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the billing code exchange");
    let billing = billing.access_token().secret().clone();
    assert_eq!(claims_of(&billing)["aud"], BILLING);
    let refused = stack.get_profile_me(&billing).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // RP-Initiated Logout, as the library builds it.
    let logout_url = LogoutRequest::from(end_session)
        .set_id_token_hint(&id_token)
        .set_client_id(ClientId::new(client_id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(LOGOUT_URI.to_owned()).unwrap())
        .set_state(CsrfToken::new("after-logout".to_owned()))
        .http_get_url();
    let response = browser.get(logout_url.as_str()).await;
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(LOGOUT_URI)
    );
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("after-logout")
    );
    // Signed out: prompt=none now answers login_required.
    let (silent, _, _) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_prompt(openidconnect::core::CoreAuthPrompt::None)
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let response = browser.get(silent.as_str()).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_param(&response, "error").as_deref(),
        Some("login_required")
    );
}
