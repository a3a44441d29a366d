//! Property test over real HTTP: arbitrary form bodies, content types and
//! `Authorization` headers at `/oauth/token`, `/oauth/revoke` and
//! `/oauth/introspect` never make the server fail. Every answer is a `2xx`
//! of the endpoint's success shape or a `4xx` in the RFC 6749 §5.2 JSON
//! shape (`error`, `error_description`, `no-store`, `WWW-Authenticate` on
//! `401`), never a `5xx`.
//!
//! The inputs mix noise with the values that get a request further in: real
//! client ids and secrets, a real user's password, live tokens, every grant
//! type, so the grants themselves run, not only the parsers. The case count
//! is bounded so this runs in `cargo test` in seconds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::oauth_support::{register_client, service};

const CASES: u32 = 300;
const PATHS: [&str; 3] = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"];

/// What the server holds that a request may name.
struct Fixture {
    app: TestApp,
    /// Values a parameter or a credential may take besides noise.
    values: Vec<String>,
    /// `id:secret` pairs, right and wrong, for `Basic`.
    credentials: Vec<String>,
}

impl Fixture {
    async fn new() -> Fixture {
        let app = spawn_app().await;
        app.signup("ada@example.com").await;
        let confidential = register_client(
            &app,
            "Web app",
            &["authorization_code", "refresh_token", "client_credentials"],
            "profile:read profile:write",
            false,
        )
        .await;
        let introspector = service(&app).await;
        let tokens: Value = app
            .post_token(&[
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", PASSWORD),
            ])
            .await
            .json()
            .await
            .unwrap();
        let mut values: Vec<String> = [
            "password",
            "client_credentials",
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "ada@example.com",
            PASSWORD,
            "first-party",
            "profile:read",
            "profile:read profiles:read",
            "openid",
            "access_token",
            "https://app.example/callback",
            "",
            " ",
            "%00",
            "\u{0}",
            "é\u{202e}",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        for client in [&confidential, &introspector] {
            values.push(client.id.clone());
            values.extend(client.secret.clone());
        }
        for name in ["access_token", "refresh_token"] {
            values.extend(tokens[name].as_str().map(str::to_owned));
        }
        let credentials = vec![
            format!(
                "{}:{}",
                confidential.id,
                confidential.secret.clone().unwrap_or_default()
            ),
            format!(
                "{}:{}",
                introspector.id,
                introspector.secret.clone().unwrap_or_default()
            ),
            format!("{}:wrong", introspector.id),
            "first-party:".to_owned(),
            ":".to_owned(),
            "no-colon".to_owned(),
        ];
        Fixture {
            app,
            values,
            credentials,
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    Form(Vec<(String, String)>),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Request {
    path: &'static str,
    content_type: Option<&'static str>,
    authorization: Option<Vec<u8>>,
    body: Body,
}

fn request(fixture: &Fixture) -> impl Strategy<Value = Request> {
    let value = prop_oneof![
        3 => proptest::sample::select(fixture.values.clone()),
        2 => ".{0,40}",
        // Long, but a form of 8 stays under the 64 KiB limit (413 is not
        // what this test is about).
        1 => proptest::collection::vec(any::<char>(), 200..500)
            .prop_map(|c| c.into_iter().collect::<String>()),
    ];
    let name = prop_oneof![
        6 => proptest::sample::select(vec![
            "grant_type", "username", "password", "scope", "client_id", "client_secret", "code",
            "redirect_uri", "code_verifier", "refresh_token", "token", "token_type_hint",
            "resource",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ];
    let grant = proptest::sample::select(vec![
        "password",
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]);
    let form = (
        proptest::option::of(grant),
        proptest::collection::vec((name, value), 0..8),
    )
        .prop_map(|(grant, mut pairs)| {
            if let Some(grant) = grant {
                pairs.insert(0, ("grant_type".to_owned(), grant.to_owned()));
            }
            Body::Form(pairs)
        });
    let body = prop_oneof![
        5 => form,
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Body::Raw),
    ];
    let header_bytes =
        proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..80);
    let authorization = prop_oneof![
        3 => Just(None),
        3 => proptest::sample::select(fixture.credentials.clone())
            .prop_map(|c| Some(format!("Basic {}", STANDARD.encode(c)).into_bytes())),
        1 => "[ -~]{0,40}".prop_map(|s| Some(format!("Basic {s}").into_bytes())),
        1 => "[ -~]{0,40}".prop_map(|s| Some(format!("Bearer {s}").into_bytes())),
        1 => header_bytes.prop_map(Some),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/x-www-form-urlencoded")),
        1 => proptest::sample::select(vec![
            None,
            Some("application/json"),
            Some("text/plain"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Some("multipart/form-data; boundary=x"),
        ]),
    ];
    (
        proptest::sample::select(PATHS.to_vec()),
        content_type,
        authorization,
        body,
    )
        .prop_map(|(path, content_type, authorization, body)| Request {
            path,
            content_type,
            authorization,
            body,
        })
}

/// Sends `request`; `Err` says what was wrong with the answer.
async fn check(app: &TestApp, request: &Request) -> Result<(), String> {
    let body = match &request.body {
        Body::Form(pairs) => url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes(),
        Body::Raw(bytes) => bytes.clone(),
    };
    let mut builder = app.client.post(app.url(request.path)).body(body);
    if let Some(content_type) = request.content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(value) = &request.authorization {
        let value = reqwest::header::HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        builder = builder.header("authorization", value);
    }
    let response = builder.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let cache_control = header("cache-control");
    let challenge = header("www-authenticate");
    let text = response.text().await.map_err(|e| e.to_string())?;
    let what = format!("{} answered {status} {content_type}: {text}", request.path);
    if !(200..300).contains(&status) && !(400..500).contains(&status) {
        return Err(what);
    }
    if status == 200 && request.path == "/oauth/revoke" {
        return Ok(());
    }
    if !content_type.starts_with("application/json") {
        return Err(format!("not JSON: {what}"));
    }
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {what}"))?;
    if status < 300 {
        let shaped = match request.path {
            "/oauth/token" => json["access_token"].is_string() && json["token_type"] == "Bearer",
            _ => json["active"].is_boolean(),
        };
        return if shaped { Ok(()) } else { Err(what) };
    }
    if !(json["error"].is_string() && json["error_description"].is_string()) {
        return Err(format!("not an RFC 6749 error: {what}"));
    }
    if cache_control.as_deref() != Some("no-store") {
        return Err(format!("cacheable error: {what}"));
    }
    if status == 401 && challenge.is_none() {
        return Err(format!("401 without WWW-Authenticate: {what}"));
    }
    Ok(())
}

#[test]
fn arbitrary_requests_at_the_oauth_endpoints_never_fail_the_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = runtime.block_on(Fixture::new());
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&request(&fixture), |request| {
        runtime
            .block_on(check(&fixture.app, &request))
            .map_err(TestCaseError::fail)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // And it still serves (the login itself may be throttled by now).
    runtime.block_on(async {
        assert_eq!(fixture.app.get("/ready").await.status(), 200);
        fixture.app.get_jwks().await;
    });
    drop(fixture);
}

/// What the property test found on PostgreSQL (whose text cannot hold NUL):
/// a NUL in a parameter or a credential is a clear refusal, never a `500`.
#[tokio::test]
async fn a_nul_character_is_a_clear_refusal_not_a_database_error() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let client = crate::oauth_support::public_app(&app).await;
    for (path, form) in [
        (
            "/oauth/token",
            vec![
                ("grant_type", "password"),
                ("username", "ada\0@example.com"),
                ("password", PASSWORD),
            ],
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "a\0b"),
                ("client_secret", "x"),
            ],
        ),
        ("/oauth/revoke", vec![("client_id", "a\0b"), ("token", "x")]),
        ("/oauth/introspect", vec![("token\0", "x")]),
        (
            "/login",
            vec![("username", "ada@example.com\0"), ("password", PASSWORD)],
        ),
    ] {
        let response = crate::oauth_support::post_form(&app, path, None, &form).await;
        let body = crate::oauth_support::assert_oauth_error(response, 400, "invalid_request").await;
        assert_eq!(
            body["error_description"],
            "A request parameter contains a NUL character."
        );
    }
    // In a Basic header: an unknown client.
    let basic = format!("Basic {}", STANDARD.encode("a\0b:secret"));
    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        let form = [("grant_type", "client_credentials"), ("token", "x")];
        let response = crate::oauth_support::post_form(&app, path, Some(&basic), &form).await;
        crate::oauth_support::assert_oauth_error(response, 401, "invalid_client").await;
    }
    // At the authorization page: an unknown client, and a failed sign-in.
    let response = app
        .client
        .get(app.url("/oauth/authorize"))
        .query(&[("response_type", "code"), ("client_id", "a\0b")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let query = crate::oauth_support::pkce_query(&client.id);
    let (mut browser, page) =
        crate::oauth_support::Browser::open(&app, &crate::oauth_support::as_refs(&query)).await;
    let page = page.text().await.unwrap();
    let response = browser
        .submit(
            &page,
            &[
                ("action", "login"),
                ("username", "ada@example.com\0"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 401);
}
