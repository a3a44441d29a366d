//! Every response of `/oauth/authorize` (login page, consent page, error
//! pages, redirects to the client, Rocket's own errors) carries
//! `Referrer-Policy: no-referrer` and a CSP that allows nothing but the
//! pages' own stylesheet and forms posted back here, or, from a page whose
//! form may end in a redirect to the client, to the client's redirect origin.

use crate::helpers::{PASSWORD, spawn_app};
use crate::oauth_support::*;

const BASE_CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page whose form may redirect to `REDIRECT_URI`'s origin.
fn csp_towards_client() -> String {
    let origin = url::Url::parse(REDIRECT_URI)
        .unwrap()
        .origin()
        .ascii_serialization();
    BASE_CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    )
}

/// The `href` of the page's one stylesheet.
fn stylesheet_of(html: &str) -> &str {
    let marker = "<link rel=\"stylesheet\" href=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let end = html[start..].find('"').unwrap() + start;
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
    let csp = csp_towards_client();
    assert_eq!(headers["content-security-policy"], csp.as_str());
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        !html.contains("style=\"") && !html.contains("<style"),
        "inline styles would need their own CSP"
    );
    assert!(!html.contains("<script"), "{html}");

    // The one stylesheet: ours, versioned by content, cached for good.
    let href = stylesheet_of(&html).to_owned();
    assert!(href.starts_with("/assets/pages.css?v="), "{href}");
    let css = app.get(&href).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = css.text().await.unwrap();
    assert!(css.contains("prefers-color-scheme: dark"), "{css}");
    assert!(!css.contains("url("), "no outside resource: {css}");

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
    assert_headers("redirect with a code", &allowed, BASE_CSP);

    // Error pages: an unknown client, a malformed form, a CSRF mismatch.
    let mut unknown = pkce_query("no-such-client");
    unknown[2].1 = REDIRECT_URI.to_owned();
    let (_, page) = Browser::open(&app, &as_refs(&unknown)).await;
    assert_eq!(page.status(), 400);
    assert_headers("unknown client", &page, BASE_CSP);
    let response = app
        .client
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_headers("malformed form", &response, BASE_CSP);
    let response = app
        .client
        .post(app.url("/oauth/authorize"))
        .form(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_headers("no CSRF token", &response, BASE_CSP);

    // An error sent back to the client.
    let mut plain = pkce_query(&client.id);
    plain[6].1 = "plain".to_owned();
    let (_, redirect) = Browser::open(&app, &as_refs(&plain)).await;
    assert_eq!(redirect.status(), 303);
    assert_headers("error redirect", &redirect, BASE_CSP);

    // Rocket's own answer to a method the route lacks.
    let response = app
        .client
        .put(app.url("/oauth/authorize"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    assert_headers("PUT", &response, BASE_CSP);

    // Other routes are not given the page's policy.
    let health = app.get("/health").await;
    assert!(health.headers().get("content-security-policy").is_none());
}
