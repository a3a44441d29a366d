//! A third-party app registered on the command line takes a user through
//! the authorization page like a browser (login, consent, redirect), swaps
//! the code for a token with PKCE, and the resource-server accepts it,
//! learning the user's email and name only from a token that carries them.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::{PASSWORD, binary, claims_of, spawn_stack};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub(crate) const VERIFIER: &str = "e2e-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// `auth-server clients create … --json` with the running server's settings.
pub(crate) fn create_public_client(stack: &e2e::Stack) -> String {
    let output = Command::new(binary("auth-server"))
        .args([
            "clients",
            "create",
            "--name",
            "E2E App",
            "--public",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "profile:read profile:write",
            "--redirect-uri",
            REDIRECT_URI,
            "--json",
        ])
        .current_dir(&stack.auth.dir)
        .env("DATABASE_URL", &stack.auth.database_url)
        .env("KEYS_DIR", &stack.auth.keys_dir)
        .env("ISSUER", stack.auth.issuer())
        .output()
        .expect("run auth-server clients create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert!(
        created["client_secret"].is_null(),
        "a public client has no secret"
    );
    created["client_id"].as_str().expect("client_id").to_owned()
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(e2e::unescape_html(&html[start..end]))
}

fn form_of(html: &str) -> Vec<(String, String)> {
    let names = [
        "csrf",
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "ticket",
    ];
    names
        .iter()
        .filter_map(|name| hidden(html, name).map(|value| ((*name).to_owned(), value)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_app_gets_a_token_through_the_browser_flow_that_the_resource_server_accepts()
{
    let stack = spawn_stack().await;
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let user_id = stack.signup(&email, "Ada Lovelace").await;
    let client_id = create_public_client(&stack);

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let page = browser
        .get(stack.auth.service.url("/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "profile:read"),
            ("state", "e2e-state"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let login_page = page.text().await.unwrap();

    let mut form = form_of(&login_page);
    form.extend([
        ("action".to_owned(), "login".to_owned()),
        ("username".to_owned(), email.clone()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ]);
    let consent = browser
        .post(stack.auth.service.url("/oauth/authorize"))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    // The login sets the session cookie; the CSRF token that matched stays.
    assert!(
        !consent
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("authorize_csrf=")),
        "the CSRF cookie is not rotated by a sign-in"
    );
    let consent_page = consent.text().await.unwrap();

    let mut form = form_of(&consent_page);
    form.push(("action".to_owned(), "allow".to_owned()));
    let redirect = browser
        .post(stack.auth.service.url("/oauth/authorize"))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 303);
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI));
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("e2e-state"));
    let code = param("code").expect("a code");

    let response = stack
        .http
        .post(stack.auth.service.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["sub"], user_id.as_str());
    assert_eq!(claims_of(access)["client_id"], client_id.as_str());

    // A third party granted neither `email` nor `profile` learns neither.
    assert!(claims_of(access).get("email").is_none());
    assert!(claims_of(access).get("name").is_none());

    let profile = stack.get_profile_me(access).await;
    assert_eq!(profile.status(), 200);
    let profile: Value = profile.json().await.unwrap();
    assert_eq!(profile["id"], user_id.as_str());
    assert_eq!(profile["email"], Value::Null);
    assert_eq!(profile["name"], Value::Null);
    // The user's own (first-party) sign-in carries both, and the
    // resource-server fills them in; the app's token then reads them too.
    let own = stack.login(&email).await;
    let profile: Value = stack.get_profile_me(&own).await.json().await.unwrap();
    assert_eq!(profile["email"], email.as_str());
    assert_eq!(profile["name"], "Ada Lovelace");
    let profile: Value = stack.get_profile_me(access).await.json().await.unwrap();
    assert_eq!(profile["email"], email.as_str());

    // profile:read only: changing the profile is refused by the resource-server.
    let refused = stack
        .patch_profile_me(access, &serde_json::json!({"bio": "x"}))
        .await;
    assert_eq!(refused.status(), 403);
}
