//! The `/oauth/device` pages (RFC 8628 §3.3) driven as a browser would:
//! the code (any case, with or without its dash), sign-in or the session,
//! consent naming the client and the scopes, approve or deny, done. Forms
//! without their CSRF token change nothing, and wrong codes count in the
//! per-address throttle until it answers 429.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::device_grant::{device_client, poll, start};
use crate::helpers::{PASSWORD, TestApp, decode_parts, spawn_app};
use crate::oauth_support::{assert_oauth_error, hidden};

/// A browser at `/oauth/device`: its cookies, kept by name.
struct DeviceBrowser<'a> {
    app: &'a TestApp,
    cookies: BTreeMap<String, String>,
}

impl<'a> DeviceBrowser<'a> {
    fn new(app: &'a TestApp) -> DeviceBrowser<'a> {
        DeviceBrowser {
            app,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    /// `GET /oauth/device?query`: the page's HTML.
    async fn open(&mut self, query: &[(&str, &str)]) -> String {
        let response = self
            .app
            .client
            .get(self.app.url("/oauth/device"))
            .query(query)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_page_headers(&response);
        self.keep(&response);
        response.text().await.unwrap()
    }

    /// Posts a form of `page` (its csrf and user_code) plus `extra`.
    async fn submit(&mut self, page: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(String, String)> = Vec::new();
        for name in ["csrf", "user_code"] {
            if let Some(value) = hidden(page, name) {
                form.push((name.to_owned(), value));
            }
        }
        for (name, value) in extra {
            form.retain(|(n, _)| n != name);
            form.push(((*name).to_owned(), (*value).to_owned()));
        }
        let response = self
            .app
            .client
            .post(self.app.url("/oauth/device"))
            .header("cookie", self.cookie_header())
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_page_headers(&response);
        self.keep(&response);
        response
    }
}

fn assert_page_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

/// The code form's own CSRF token as a hidden field is the first field:
/// `hidden` finds it by name.
fn code_form_csrf(page: &str) -> String {
    hidden(page, "csrf").expect("the page carries its CSRF token")
}

#[tokio::test]
async fn a_person_types_the_code_signs_in_and_allows_the_device() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = device_client(&app).await;
    let started = start(&app, &client, &[("scope", "profile:read")]).await;
    let user_code = started["user_code"].as_str().unwrap();
    let device_code = started["device_code"].as_str().unwrap();

    let mut browser = DeviceBrowser::new(&app);
    // verification_uri_complete fills the form in.
    let page = browser.open(&[("user_code", user_code)]).await;
    assert!(page.contains(&format!("value=\"{user_code}\"")), "{page}");
    assert!(page.contains("action=\"/oauth/device\""));
    assert!(browser.cookies.contains_key("device_csrf"));

    // Typed in lower case without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let sign_in = browser
        .submit(&page, &[("action", "code"), ("user_code", typed.as_str())])
        .await;
    assert_eq!(sign_in.status(), 200);
    let sign_in = sign_in.text().await.unwrap();
    assert!(sign_in.contains("Living-room TV"), "{sign_in}");
    assert!(sign_in.contains("name=\"password\""));

    let consent = browser
        .submit(
            &sign_in,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    assert!(
        browser.cookies.contains_key("auth_session"),
        "a session begins"
    );
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("Living-room TV"));
    assert!(consent.contains("ada@example.com"));
    assert!(consent.contains("profile:read") && consent.contains("Read your profile"));
    assert!(!consent.contains("profile:write"), "only what was asked");
    // Undecided until the person allows it.
    let response = poll(&app, &client.id, device_code).await;
    assert_oauth_error(response, 400, "authorization_pending").await;

    let done = browser.submit(&consent, &[("action", "approve")]).await;
    assert_eq!(done.status(), 200);
    let done = done.text().await.unwrap();
    assert!(done.contains("Device connected"), "{done}");

    let response = poll(&app, &client.id, device_code).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "profile:read");
    let ada = auth_server::store::users::find_by_email(&app.db, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        decode_parts(tokens["access_token"].as_str().unwrap()).1["sub"],
        ada.id.as_str()
    );

    // A second device: the session skips the password, and denying works.
    let second = start(&app, &client, &[]).await;
    let page = browser.open(&[]).await;
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "code"),
                ("user_code", second["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("Allow this device?"), "{consent}");
    let done = browser.submit(&consent, &[("action", "deny")]).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Device refused"));
    let response = poll(&app, &client.id, second["device_code"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "access_denied").await;
    // The code is spent: typing it again leads nowhere.
    let again = browser
        .submit(
            &page,
            &[
                ("action", "code"),
                ("user_code", second["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = device_client(&app).await;
    let started = start(&app, &client, &[]).await;
    let user_code = started["user_code"].as_str().unwrap();
    let mut browser = DeviceBrowser::new(&app);
    let page = browser.open(&[]).await;
    let sign_in = browser
        .submit(&page, &[("action", "code"), ("user_code", user_code)])
        .await;
    let sign_in = sign_in.text().await.unwrap();
    let consent = browser
        .submit(
            &sign_in,
            &[
                ("action", "login"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let consent = consent.text().await.unwrap();

    // Without the token, with a wrong one, and without the cookie.
    for csrf in ["", "forged"] {
        let response = browser
            .submit(&consent, &[("action", "approve"), ("csrf", csrf)])
            .await;
        assert_eq!(response.status(), 403);
        assert!(response.text().await.unwrap().contains("expired"));
    }
    browser.cookies.remove("device_csrf");
    let response = browser
        .submit(
            &consent,
            &[("action", "approve"), ("csrf", &code_form_csrf(&consent))],
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = poll(&app, &client.id, started["device_code"].as_str().unwrap()).await;
    assert_oauth_error(response, 400, "authorization_pending").await;
}

#[tokio::test]
async fn guessing_codes_is_throttled_per_address() {
    let app = spawn_app().await;
    let client = device_client(&app).await;
    let started = start(&app, &client, &[]).await;
    let mut browser = DeviceBrowser::new(&app);
    let page = browser.open(&[]).await;
    let mut wrong = 0;
    let refused = loop {
        let response = browser
            .submit(&page, &[("action", "code"), ("user_code", "BCDF-GHJK")])
            .await;
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 400);
        let body = response.text().await.unwrap();
        assert!(body.contains("not valid"), "{body}");
        wrong += 1;
        assert!(wrong <= 30, "the throttle never answered");
    };
    assert!(wrong >= 5, "an allowance first: {wrong}");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0);
    // Locked out: even the right code waits.
    let response = browser
        .submit(
            &page,
            &[
                ("action", "code"),
                ("user_code", started["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(response.status(), 429);
}
