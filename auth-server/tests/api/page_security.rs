//! Every response of `/oauth/authorize` (login page, consent page, error
//! pages, redirects to the client, Rocket's own errors) carries
//! `Referrer-Policy: no-referrer` and a CSP that allows nothing but the
//! page's own stylesheet (by hash) and forms posted back here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, spawn_app};
use crate::oauth_support::*;

fn csp_for(style: &str) -> String {
    let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of the page's one `<style>` element.
fn style_of(html: &str) -> &str {
    let start = html.find("<style>").unwrap() + "<style>".len();
    let end = html[start..].find("</style>").unwrap() + start;
    &html[start..end]
}

fn assert_headers(what: &str, response: &reqwest::Response, csp: &str) {
    let headers = response.headers();
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(headers["content-security-policy"], csp, "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(
        headers.get_all("content-security-policy").iter().count(),
        1,
        "{what}: one CSP"
    );
}

#[tokio::test]
async fn every_authorization_response_has_the_referrer_policy_and_csp() {
    let app = spawn_app().await;
    app.signup("page@example.com").await;
    let client = public_app(&app).await;
    let query = pkce_query(&client.id);

    let (mut browser, page) = Browser::open(&app, &as_refs(&query)).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let csp = csp_for(style_of(&html));
    assert_eq!(headers["content-security-policy"], csp.as_str());
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        !html.contains("style=\""),
        "inline style attributes need their own CSP"
    );

    // A wrong password: the login page again, 401.
    let wrong = browser
        .submit(
            &html,
            &[
                ("action", "login"),
                ("username", "page@example.com"),
                ("password", "wrong-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_headers("wrong password", &wrong, &csp);
    let html = wrong.text().await.unwrap();

    // The consent page, then the redirect with the code.
    let consent = browser
        .submit(
            &html,
            &[
                ("action", "login"),
                ("username", "page@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    assert_headers("consent page", &consent, &csp);
    let consent_html = consent.text().await.unwrap();
    let allowed = browser.submit(&consent_html, &[("action", "allow")]).await;
    assert_eq!(allowed.status(), 303);
    assert!(location_param(&allowed, "code").is_some());
    assert_headers("redirect with a code", &allowed, &csp);

    // Error pages: an unknown client, a malformed form, a CSRF mismatch.
    let mut unknown = pkce_query("no-such-client");
    unknown[2].1 = REDIRECT_URI.to_owned();
    let (_, page) = Browser::open(&app, &as_refs(&unknown)).await;
    assert_eq!(page.status(), 400);
    assert_headers("unknown client", &page, &csp);
    let response = app
        .client
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_headers("malformed form", &response, &csp);
    let response = app
        .client
        .post(app.url("/oauth/authorize"))
        .form(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_headers("no CSRF token", &response, &csp);

    // An error sent back to the client.
    let mut plain = pkce_query(&client.id);
    plain[6].1 = "plain".to_owned();
    let (_, redirect) = Browser::open(&app, &as_refs(&plain)).await;
    assert_eq!(redirect.status(), 303);
    assert_headers("error redirect", &redirect, &csp);

    // Rocket's own answer to a method the route lacks.
    let response = app
        .client
        .put(app.url("/oauth/authorize"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_headers("PUT", &response, &csp);

    // Other routes are not given the page's policy.
    let health = app.get("/health").await;
    assert!(health.headers().get("content-security-policy").is_none());
}
