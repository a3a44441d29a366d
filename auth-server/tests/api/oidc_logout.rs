//! OpenID Connect RP-Initiated Logout: where it may redirect, when it asks
//! first, and whose session an `id_token_hint` may end.

use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oauth_support::*;
use crate::oidc::*;

#[tokio::test]
async fn logout_ends_the_session_and_redirects_only_where_registered() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let other = oidc_client(&app).await;
    let (session, redirect) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    let tokens = tokens_for(&app, &client, &redirect).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);

    let logout = |query: Vec<(&'static str, String)>, cookie: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/oauth/logout"))
                .query(&as_refs(&query))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    // Refused, never redirected, and the session lives on.
    let forged = format!("{}AAAA", &id_token[..id_token.len() - 4]);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    for query in [
        vec![
            ("id_token_hint", forged.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ],
        // An access token is not an id_token.
        vec![("id_token_hint", access)],
        // The hint names another client than client_id.
        vec![
            ("id_token_hint", id_token.clone()),
            ("client_id", other.id.clone()),
        ],
        // Not registered.
        vec![
            ("id_token_hint", id_token.clone()),
            (
                "post_logout_redirect_uri",
                "https://evil.example/".to_owned(),
            ),
        ],
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", format!("{LOGOUT_URI}/")),
        ],
        // A URI without any client to check it against.
        vec![("post_logout_redirect_uri", LOGOUT_URI.to_owned())],
    ] {
        let response = logout(query.clone(), session.clone()).await;
        assert_eq!(response.status(), 400, "{query:?}");
        assert!(response.headers().get("location").is_none());
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers().get("content-security-policy").is_some());
    }
    let ok = authorize_with_cookie(&app, &none, &session).await;
    assert!(location_param(&ok, "code").is_some(), "still signed in");

    let response = logout(
        vec![
            ("id_token_hint", id_token.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
            ("state", "bye &1".to_owned()),
        ],
        session.clone(),
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(LOGOUT_URI), "{location}");
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("bye &1")
    );
    let cleared = set_cookie(&response, "auth_session").expect("the cookie is removed");
    assert!(
        cleared.contains("Max-Age=0") || cleared.contains("Expires="),
        "{cleared}"
    );
    // Ended server-side: the old cookie is no session any more.
    let after = authorize_with_cookie(&app, &none, &session).await;
    assert_eq!(
        location_param(&after, "error").as_deref(),
        Some("login_required")
    );

    // No parameters: a signed-out page.
    let response = logout(vec![], String::new()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Signed out"));
    // client_id alone may name where to go back to.
    let response = logout(
        vec![
            ("client_id", client.id.clone()),
            ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ],
        String::new(),
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(response.headers().get("location").is_some());
}

/// `GET /oauth/logout` as a browser (or an `<img>`) sends it.
async fn get_logout(
    app: &TestApp,
    query: &[(&'static str, String)],
    cookie: &str,
) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/logout"))
        .query(&as_refs(query))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn post_logout(app: &TestApp, form: &[(String, String)], cookie: &str) -> reqwest::Response {
    app.client
        .post(app.url("/oauth/logout"))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Whether `session` still signs its browser in (prompt=none gets a code).
async fn still_signed_in(app: &TestApp, client: &RegisteredClient, session: &str) -> bool {
    let none = query_with(&client.id, &[("scope", "openid"), ("prompt", "none")]);
    let response = authorize_with_cookie(app, &none, session).await;
    location_param(&response, "code").is_some()
}

/// The hidden inputs of the sign-out form, in page order.
fn logout_form(html: &str) -> Vec<(String, String)> {
    ["csrf", "client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|name| hidden(html, name).map(|v| ((*name).to_owned(), v)))
        .collect()
}

#[tokio::test]
async fn logout_without_a_hint_asks_first_and_only_the_confirmed_form_signs_out() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;

    // An <img src="/oauth/logout">, or a link: a question, not a sign-out.
    let query = vec![
        ("client_id", client.id.clone()),
        ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
        ("state", "bye &1".to_owned()),
    ];
    for query in [vec![], query.clone()] {
        let response = get_logout(&app, &query, &session).await;
        assert_eq!(response.status(), 200, "{query:?}");
        assert!(response.headers().get("location").is_none());
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("auth_session=")),
            "{cookies:?}"
        );
        let csrf_cookie = cookies
            .iter()
            .find(|c| c.starts_with("logout_csrf="))
            .expect("a CSRF cookie");
        assert!(csrf_cookie.contains("SameSite=Strict"), "{csrf_cookie}");
        assert!(csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
        assert!(csrf_cookie.contains("Path=/oauth/logout"), "{csrf_cookie}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/oauth/logout\""));
        assert!(html.contains(EMAIL), "who is signed in");
        let form = logout_form(&html);
        assert_eq!(form[0].0, "csrf");
        if !query.is_empty() {
            assert!(
                csp.contains("form-action 'self' https://app.example"),
                "{csp}"
            );
            assert_eq!(hidden(&html, "state").as_deref(), Some("bye &1"));
        }
    }
    assert!(still_signed_in(&app, &client, &session).await);

    // The form posted without the page's cookie (from another site), with
    // another token, or with none: nothing ends.
    let page = get_logout(&app, &query, &session).await;
    let csrf_cookie = csrf_cookie_of(&page, "logout_csrf");
    let html = page.text().await.unwrap();
    let form = logout_form(&html);
    let mut wrong = form.clone();
    wrong[0].1 = "not-the-token".to_owned();
    for (form, cookie) in [
        (form.clone(), session.clone()),
        (wrong, format!("{session}; {csrf_cookie}")),
    ] {
        let response = post_logout(&app, &form, &cookie).await;
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("location").is_none());
        assert!(response.headers().get("set-cookie").is_none());
    }
    let no_token: Vec<_> = form.iter().skip(1).cloned().collect();
    let response = post_logout(&app, &no_token, &format!("{session}; {csrf_cookie}")).await;
    assert_eq!(response.status(), 200, "asked again");
    assert!(response.headers().get("location").is_none());
    assert!(still_signed_in(&app, &client, &session).await);

    // Confirmed: signed out everywhere, back to the client with its state.
    let response = post_logout(&app, &form, &format!("{session}; {csrf_cookie}")).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(LOGOUT_URI), "{location}");
    assert_eq!(
        location_param(&response, "state").as_deref(),
        Some("bye &1")
    );
    let cleared = set_cookie(&response, "auth_session").expect("the cookie is removed");
    assert!(
        cleared.contains("Max-Age=0") || cleared.contains("Expires="),
        "{cleared}"
    );
    assert!(!still_signed_in(&app, &client, &session).await);
}

fn csrf_cookie_of(response: &reqwest::Response, name: &str) -> String {
    set_cookie(response, name)
        .expect("a CSRF cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_hint_of_someone_else_does_not_sign_this_browser_out() {
    let app = spawn_app().await;
    app.signup(EMAIL).await;
    let client = oidc_client(&app).await;
    let (session, _) = sign_in(&app, &query_with(&client.id, &[("scope", "openid")])).await;
    // Mallory holds an id_token of her own, as anyone can.
    app.signup("mallory@example.com").await;
    let (mut browser, page) = Browser::open(
        &app,
        &as_refs(&query_with(&client.id, &[("scope", "openid")])),
    )
    .await;
    let page = page.text().await.unwrap();
    let consent = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "mallory@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let consent = consent.text().await.unwrap();
    let redirect = browser.submit(&consent, &[("action", "allow")]).await;
    let theirs = tokens_for(&app, &client, &redirect).await;
    let hint = theirs["id_token"].as_str().unwrap().to_owned();

    let query = vec![
        ("id_token_hint", hint.clone()),
        ("post_logout_redirect_uri", LOGOUT_URI.to_owned()),
    ];
    let response = get_logout(&app, &query, &session).await;
    assert_eq!(response.status(), 200, "asked, not signed out");
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains(EMAIL));
    // The question carries the hinted client on, not the token.
    assert_eq!(
        hidden(&html, "client_id").as_deref(),
        Some(client.id.as_str())
    );
    assert!(hidden(&html, "id_token_hint").is_none());
    assert!(still_signed_in(&app, &client, &session).await);

    // The same request by POST (RP-Initiated Logout allows it) asks too.
    let form: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let response = post_logout(&app, &form, &session).await;
    assert_eq!(response.status(), 200);
    assert!(still_signed_in(&app, &client, &session).await);
}
