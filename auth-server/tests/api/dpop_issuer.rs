//! DPoP at the issuer (RFC 9449): every grant binds its tokens to the
//! proof's key; every way a proof can be wrong gets `invalid_dpop_proof`
//! and issues nothing; a proof works once, however many race it; bound
//! refresh tokens, `dpop_jkt` codes and `--dpop-bound` clients need their
//! proof; nonces; introspection, UserInfo and token exchange of bound
//! tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::device_grant::{DEVICE_GRANT, decide, device_client, start};
use crate::helpers::{ISSUER, PASSWORD, TestApp, decode_parts, spawn_app, spawn_app_with};
use crate::oauth_support::{
    REDIRECT_URI, RegisteredClient, VERIFIER, as_refs, assert_oauth_error,
    authorize_like_a_browser, location_param, pkce_query, post_form, post_introspect, public_app,
    register_client, service,
};
use crate::private_key_jwt::{ClientKey, es256_key};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

fn token_url() -> String {
    format!("{ISSUER}/oauth/token")
}

fn now() -> i64 {
    shared::clock::unix_now()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The key's public JWK as a proof carries it.
fn public_jwk(key: &ClientKey) -> Value {
    json!({ "kty": "EC", "crv": "P-256", "x": key.jwk["x"], "y": key.jwk["y"] })
}

/// RFC 7638 thumbprint of an EC key.
fn jkt(key: &ClientKey) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        key.jwk["x"].as_str().unwrap(),
        key.jwk["y"].as_str().unwrap()
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn claims(htm: &str, htu: &str) -> Value {
    json!({ "htm": htm, "htu": htu, "iat": now(), "jti": uuid::Uuid::new_v4().to_string() })
}

/// A proof with any header and claims, signed by `key`.
fn signed(key: &ClientKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg).unwrap();
    format!("{input}.{signature}")
}

fn header(key: &ClientKey) -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key) })
}

/// A good proof for the token endpoint.
fn proof(key: &ClientKey) -> String {
    signed(key, &header(key), &claims("POST", &token_url()))
}

fn proof_with_nonce(key: &ClientKey, nonce: &str) -> String {
    let mut claims = claims("POST", &token_url());
    claims["nonce"] = json!(nonce);
    signed(key, &header(key), &claims)
}

async fn post_token(
    app: &TestApp,
    proofs: &[&str],
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth/token")).form(form);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

/// A `200` bound to `key`: `token_type` `DPoP` and `cnf.jkt`.
async fn assert_bound(response: reqwest::Response, key: &ClientKey) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"], json!({ "jkt": jkt(key) }));
    body
}

async fn password_form_response(app: &TestApp, email: &str, proofs: &[&str]) -> reqwest::Response {
    post_token(
        app,
        proofs,
        None,
        &[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ],
    )
    .await
}

fn client_credentials() -> [(&'static str, &'static str); 1] {
    [("grant_type", "client_credentials")]
}

/// A code for `email`, the authorization request carrying `extra`.
async fn code_with(
    app: &TestApp,
    client_id: &str,
    email: &str,
    extra: &[(&'static str, String)],
) -> String {
    let mut query = pkce_query(client_id);
    // Each of `extra` replaces the parameter of its name, or is added.
    for (name, value) in extra {
        query.retain(|(sent, _)| sent != name);
        query.push((name, value.clone()));
    }
    let redirect = authorize_like_a_browser(app, &as_refs(&query), email).await;
    assert_eq!(redirect.status(), 303);
    location_param(&redirect, "code").unwrap()
}

async fn redeem(app: &TestApp, client_id: &str, code: &str, proofs: &[&str]) -> reqwest::Response {
    post_token(
        app,
        proofs,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(
    app: &TestApp,
    client_id: &str,
    token: &str,
    proofs: &[&str],
) -> reqwest::Response {
    post_token(
        app,
        proofs,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ],
    )
    .await
}

#[tokio::test]
async fn every_grant_binds_its_tokens_to_the_proofs_key() {
    let app = spawn_app().await;
    let key = es256_key("k");

    // client_credentials
    let billing = service(&app).await;
    let response = post_token(
        &app,
        &[&proof(&key)],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    let body = assert_bound(response, &key).await;
    assert_eq!(body["expires_in"], 900);

    // password, the built-in first-party client
    app.signup("ada@example.com").await;
    let response = password_form_response(&app, "ada@example.com", &[&proof(&key)]).await;
    let body = assert_bound(response, &key).await;
    assert!(body["refresh_token"].is_string());
    // refresh_token of the built-in public client: bound, so refreshed
    // with a proof of the same key, and still bound.
    let rotated = refresh(
        &app,
        auth_server::store::clients::FIRST_PARTY_CLIENT_ID,
        body["refresh_token"].as_str().unwrap(),
        &[&proof(&key)],
    )
    .await;
    assert_bound(rotated, &key).await;

    // authorization_code of a public client, then its refresh
    let public = public_app(&app).await;
    let code = code_with(&app, &public.id, "ada@example.com", &[]).await;
    let body = assert_bound(redeem(&app, &public.id, &code, &[&proof(&key)]).await, &key).await;
    let refreshed = refresh(
        &app,
        &public.id,
        body["refresh_token"].as_str().unwrap(),
        &[&proof(&key)],
    )
    .await;
    let refreshed = assert_bound(refreshed, &key).await;
    assert!(refreshed["refresh_token"].is_string());

    // token exchange of a bearer subject token: the new one is bound
    let subject = app.password_token("ada@example.com").await;
    let exchanger = exchanger(&app).await;
    let response = post_token(
        &app,
        &[&proof(&key)],
        Some(&exchanger.basic()),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", "billing"),
        ],
    )
    .await;
    assert_bound(response, &key).await;

    // device_code
    let tv = device_client(&app).await;
    let started = start(&app, &tv, &[]).await;
    decide(
        &app,
        started["user_code"].as_str().unwrap(),
        "ada@example.com",
        true,
    )
    .await;
    let response = post_token(
        &app,
        &[&proof(&key)],
        None,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", &tv.id),
            ("device_code", started["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert_bound(response, &key).await;

    // Without a proof, nothing is bound.
    let response = post_token(&app, &[], Some(&billing.basic()), &client_credentials()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let (_, claims) = decode_parts(body["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none());
}

async fn exchanger(app: &TestApp) -> RegisteredClient {
    use auth_server::grant_type::GrantType;
    use auth_server::store::clients::{ClientMetadata, NewClient};
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Orders".into(),
            first_party: false,
            grant_types: vec![GrantType::TokenExchange],
            scopes: shared::scope::ScopeSet::parse("profile:read profile:write"),
            redirect_uris: Vec::new(),
            audiences: vec!["billing".into()],
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let (id, secret) = app.clients.create(&new, 0).await.unwrap();
    RegisteredClient { id, secret }
}

#[tokio::test]
async fn bad_proofs_get_invalid_dpop_proof_and_issue_nothing() {
    let app = spawn_app().await;
    let billing = service(&app).await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let jti = "the-one-jti";
    let good = || {
        let mut c = claims("POST", &token_url());
        c["jti"] = json!(jti);
        c
    };
    let with = |name: &str, value: Value| {
        let mut c = good();
        c[name] = value;
        c
    };
    let mut private = public_jwk(&key);
    private["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let forged = {
        let real = signed(&key, &header(&key), &good());
        let other = signed(&key, &header(&key), &with("iat", json!(now() - 1)));
        let (head, _) = real.rsplit_once('.').unwrap();
        let (_, sig) = other.rsplit_once('.').unwrap();
        format!("{head}.{sig}")
    };
    let unsigned = |alg: &str| {
        let mut h = header(&key);
        h["alg"] = json!(alg);
        format!("{}.{}.", b64(&h), b64(&good()))
    };
    let hs256 = {
        let mut h = header(&key);
        h["alg"] = json!("HS256");
        let input = format!("{}.{}", b64(&h), b64(&good()));
        let mac = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            public_jwk(&key).to_string().as_bytes(),
        );
        let tag = aws_lc_rs::hmac::sign(&mac, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let bad: Vec<(&str, Vec<String>)> = vec![
        // Signed by another key than the one it carries.
        (
            "other key's signature",
            vec![signed(&stranger, &header(&key), &good())],
        ),
        ("forged signature", vec![forged]),
        (
            "expired iat",
            vec![signed(
                &key,
                &header(&key),
                &with("iat", json!(now() - 120)),
            )],
        ),
        (
            "far-future iat",
            vec![signed(
                &key,
                &header(&key),
                &with("iat", json!(now() + 120)),
            )],
        ),
        (
            "private key in jwk",
            vec![signed(
                &key,
                &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private }),
                &good(),
            )],
        ),
        ("alg none", vec![unsigned("none")]),
        ("HS256", vec![hs256]),
        (
            "wrong htm",
            vec![signed(&key, &header(&key), &with("htm", json!("GET")))],
        ),
        (
            "wrong htu",
            vec![signed(
                &key,
                &header(&key),
                &with("htu", json!("https://elsewhere.example/oauth/token")),
            )],
        ),
        (
            "wrong typ",
            vec![signed(
                &key,
                &json!({ "typ": "JWT", "alg": "ES256", "jwk": public_jwk(&key) }),
                &good(),
            )],
        ),
        ("not a JWT", vec!["not.a.jwt".to_owned()]),
        (
            "two headers",
            vec![
                signed(&key, &header(&key), &good()),
                signed(&key, &header(&key), &good()),
            ],
        ),
    ];
    let issued_before = spent_proofs(&app).await;
    for (why, proofs) in &bad {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let response =
            post_token(&app, &proofs, Some(&billing.basic()), &client_credentials()).await;
        assert_eq!(response.status(), 400, "{why}");
        assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    }
    assert_eq!(
        spent_proofs(&app).await,
        issued_before,
        "nothing was issued"
    );
    // None of them spent the jti; the good proof works once.
    let good_proof = signed(&key, &header(&key), &good());
    let response = post_token(
        &app,
        &[&good_proof],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    assert_bound(response, &key).await;
    let replay = post_token(
        &app,
        &[&good_proof],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    assert_oauth_error(replay, 400, "invalid_dpop_proof").await;
}

/// Rows of refresh tokens and spent proofs: what a refused request must
/// not add to.
async fn spent_proofs(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from dpop_proof_jtis")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn of_one_proof_sent_at_once_exactly_one_wins() {
    let app = spawn_app().await;
    let billing = service(&app).await;
    let key = es256_key("k");
    for trial in 0..20 {
        let proof = proof(&key);
        let basic = billing.basic();
        let proofs = [proof.as_str()];
        let form = client_credentials();
        let requests = (0..6).map(|_| post_token(&app, &proofs, Some(&basic), &form));
        let responses = futures::future::join_all(requests).await;
        let mut won = 0;
        for response in responses {
            match response.status().as_u16() {
                200 => won += 1,
                400 => {
                    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
                }
                other => panic!("trial {trial}: status {other}"),
            }
        }
        assert_eq!(won, 1, "trial {trial}");
    }
}

/// A proof's `jti` is spent only as tokens are minted: a caller who
/// cannot authenticate, or whose grant is refused, adds no row however
/// many proofs it sends, and the client's own proof still works after.
#[tokio::test]
async fn refused_requests_spend_no_proof() {
    let app = spawn_app().await;
    let billing = service(&app).await;
    let key = es256_key("k");
    let before = spent_proofs(&app).await;
    let one = proof(&key);
    let wrong_secret = RegisteredClient {
        id: billing.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    for _ in 0..3 {
        let response = post_token(
            &app,
            &[&one],
            Some(&wrong_secret.basic()),
            &client_credentials(),
        )
        .await;
        assert_oauth_error(response, 401, "invalid_client").await;
    }
    let unknown = post_token(
        &app,
        &[&proof(&key)],
        Some("Basic bm9ib2R5Om5vdGhpbmc="),
        &client_credentials(),
    )
    .await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
    let bad_password = post_token(
        &app,
        &[&proof(&key)],
        None,
        &[
            ("grant_type", "password"),
            ("username", "nobody@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_oauth_error(bad_password, 400, "invalid_grant").await;
    let public = public_app(&app).await;
    let bad_code = redeem(&app, &public.id, "no-such-code", &[&proof(&key)]).await;
    assert_oauth_error(bad_code, 400, "invalid_grant").await;
    assert_eq!(
        spent_proofs(&app).await,
        before,
        "a refused request spent a proof"
    );
    // The proof refused with the wrong secret is the client's own: it
    // still works, once.
    let response = post_token(&app, &[&one], Some(&billing.basic()), &client_credentials()).await;
    assert_bound(response, &key).await;
    assert_eq!(spent_proofs(&app).await, before + 1);
    let replay = post_token(&app, &[&one], Some(&billing.basic()), &client_credentials()).await;
    assert_oauth_error(replay, 400, "invalid_dpop_proof").await;
}

#[tokio::test]
async fn a_public_clients_bound_refresh_token_needs_a_proof_of_its_key() {
    let app = spawn_app().await;
    let public = public_app(&app).await;
    app.signup("ada@example.com").await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let code = code_with(&app, &public.id, "ada@example.com", &[]).await;
    let body = assert_bound(redeem(&app, &public.id, &code, &[&proof(&key)]).await, &key).await;
    let token = body["refresh_token"].as_str().unwrap();

    let no_proof = refresh(&app, &public.id, token, &[]).await;
    assert_oauth_error(no_proof, 400, "invalid_dpop_proof").await;
    let other_key = refresh(&app, &public.id, token, &[&proof(&stranger)]).await;
    assert_oauth_error(other_key, 400, "invalid_dpop_proof").await;
    // Nothing was rotated or revoked: the right key refreshes it still.
    let refreshed = refresh(&app, &public.id, token, &[&proof(&key)]).await;
    let refreshed = assert_bound(refreshed, &key).await;

    // Introspection shows the binding of both kinds of token.
    let billing = service(&app).await;
    for token in [&refreshed["access_token"], &refreshed["refresh_token"]] {
        let response = post_introspect(&app, Some(&billing.basic()), token.as_str().unwrap()).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true);
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(body["cnf"], json!({ "jkt": jkt(&key) }));
    }
}

#[tokio::test]
async fn a_code_with_dpop_jkt_is_redeemed_only_with_that_key() {
    let app = spawn_app().await;
    let public = public_app(&app).await;
    app.signup("ada@example.com").await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let bind = [("dpop_jkt", jkt(&key))];

    let code = code_with(&app, &public.id, "ada@example.com", &bind).await;
    let response = redeem(&app, &public.id, &code, &[]).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    let code = code_with(&app, &public.id, "ada@example.com", &bind).await;
    let response = redeem(&app, &public.id, &code, &[&proof(&stranger)]).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    let code = code_with(&app, &public.id, "ada@example.com", &bind).await;
    assert_bound(redeem(&app, &public.id, &code, &[&proof(&key)]).await, &key).await;

    // Pushed (RFC 9126): the same binding.
    let mut pushed: Vec<(&str, String)> = pkce_query(&public.id);
    pushed.push(("dpop_jkt", jkt(&key)));
    let response = post_form(&app, "/oauth/par", None, &as_refs(&pushed)).await;
    assert_eq!(response.status(), 201);
    let request_uri: Value = response.json().await.unwrap();
    let query = [
        ("client_id", public.id.as_str()),
        ("request_uri", request_uri["request_uri"].as_str().unwrap()),
    ];
    let redirect = authorize_like_a_browser(&app, &query, "ada@example.com").await;
    let code = location_param(&redirect, "code").unwrap();
    let response = redeem(&app, &public.id, &code, &[&proof(&stranger)]).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;

    // A malformed dpop_jkt is refused at the door.
    let mut bad = pkce_query(&public.id);
    bad.push(("dpop_jkt", "short".into()));
    let response = post_form(&app, "/oauth/par", None, &as_refs(&bad)).await;
    assert_oauth_error(response, 400, "invalid_request").await;
}

/// A confidential client registered `--dpop-bound`.
async fn bound_service(app: &TestApp) -> RegisteredClient {
    use auth_server::grant_type::GrantType;
    use auth_server::store::clients::{ClientAuth, ClientMetadata, NewClient};
    let new = NewClient {
        public: false,
        metadata: ClientMetadata {
            name: "Bound".into(),
            first_party: false,
            grant_types: vec![GrantType::ClientCredentials],
            scopes: shared::scope::ScopeSet::parse("profiles:read"),
            redirect_uris: Vec::new(),
            audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
        },
    };
    let mut auth = ClientAuth::by_secret_or_none(false);
    auth.dpop_bound = true;
    let (id, secret) = app.clients.create_with(&new, &auth, 0).await.unwrap();
    RegisteredClient { id, secret }
}

#[tokio::test]
async fn a_dpop_bound_client_must_send_a_proof() {
    let app = spawn_app().await;
    let billing = bound_service(&app).await;
    let response = post_token(&app, &[], Some(&billing.basic()), &client_credentials()).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    let key = es256_key("k");
    let response = post_token(
        &app,
        &[&proof(&key)],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    assert_bound(response, &key).await;
}

#[tokio::test]
async fn with_nonces_on_a_proof_needs_the_servers_nonce() {
    let app = spawn_app_with(|f| f.merge(("dpop_nonce", "on"))).await;
    let billing = service(&app).await;
    let key = es256_key("k");
    let response = post_token(
        &app,
        &[&proof(&key)],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_oauth_error(response, 400, "use_dpop_nonce").await;
    let response = post_token(
        &app,
        &[&proof_with_nonce(&key, "bm90LW91cnM")],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_oauth_error(response, 400, "use_dpop_nonce").await;
    let response = post_token(
        &app,
        &[&proof_with_nonce(&key, &nonce)],
        Some(&billing.basic()),
        &client_credentials(),
    )
    .await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_bound(response, &key).await;
}

async fn userinfo(app: &TestApp, auth: &str, proof: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/oauth/userinfo"))
        .header("authorization", auth);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

fn userinfo_proof(key: &ClientKey, token: &str) -> String {
    let mut claims = claims("GET", &format!("{ISSUER}/oauth/userinfo"));
    claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    signed(key, &header(key), &claims)
}

#[tokio::test]
async fn userinfo_takes_a_bound_token_under_dpop_only() {
    let app = spawn_app().await;
    let public = register_client(
        &app,
        "OIDC app",
        &["authorization_code"],
        "openid profile:read",
        true,
    )
    .await;
    app.signup("ada@example.com").await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let code = code_with(
        &app,
        &public.id,
        "ada@example.com",
        &[("scope", "openid profile:read".into())],
    )
    .await;
    let body = assert_bound(redeem(&app, &public.id, &code, &[&proof(&key)]).await, &key).await;
    let token = body["access_token"].as_str().unwrap();

    let proof = userinfo_proof(&key, token);
    let response = userinfo(&app, &format!("DPoP {token}"), Some(&proof)).await;
    assert_eq!(response.status(), 200);
    let claims: Value = response.json().await.unwrap();
    assert!(claims["sub"].is_string());
    // The same proof again: replayed.
    let response = userinfo(&app, &format!("DPoP {token}"), Some(&proof)).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );

    // As a bearer token: invalid_token, both schemes challenged.
    let response = userinfo(&app, &format!("Bearer {token}"), None).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("DPoP algs="), "{challenge}");

    // Wrong ath, another key, no proof.
    let wrong_ath = userinfo_proof(&key, "another-token");
    let other_key = userinfo_proof(&stranger, token);
    for (why, proof) in [
        ("wrong ath", Some(wrong_ath)),
        ("other key", Some(other_key)),
        ("no proof", None),
    ] {
        let response = userinfo(&app, &format!("DPoP {token}"), proof.as_deref()).await;
        assert_eq!(response.status(), 401, "{why}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("invalid_dpop_proof"),
            "{why}: {challenge}"
        );
    }
}

#[tokio::test]
async fn a_bound_subject_token_is_exchanged_only_with_a_proof_of_its_key() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let response = password_form_response(&app, "ada@example.com", &[&proof(&key)]).await;
    let subject = assert_bound(response, &key).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let orders = exchanger(&app).await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", "billing"),
    ];
    let response = post_token(&app, &[], Some(&orders.basic()), &form).await;
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = post_token(&app, &[&proof(&stranger)], Some(&orders.basic()), &form).await;
    assert_oauth_error(response, 400, "invalid_request").await;
    let response = post_token(&app, &[&proof(&key)], Some(&orders.basic()), &form).await;
    let body = assert_bound(response, &key).await;
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
}

#[tokio::test]
async fn discovery_lists_the_dpop_algorithms() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let body: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(
            body["dpop_signing_alg_values_supported"],
            json!(["ES256", "PS256", "RS256", "EdDSA"])
        );
    }
}

#[tokio::test]
async fn a_proof_sent_with_a_pushed_request_binds_its_code() {
    let app = spawn_app().await;
    let public = public_app(&app).await;
    app.signup("ada@example.com").await;
    let key = es256_key("k");
    let stranger = es256_key("s");
    let par_proof = |key: &ClientKey| {
        signed(
            key,
            &header(key),
            &claims("POST", &format!("{ISSUER}/oauth/par")),
        )
    };
    let push = |proof: String, extra: Option<String>| {
        let mut form = pkce_query(&public.id);
        if let Some(jkt) = extra {
            form.push(("dpop_jkt", jkt));
        }
        let request = app
            .client
            .post(app.url("/oauth/par"))
            .header("DPoP", proof)
            .form(&form);
        async move { request.send().await.unwrap() }
    };

    // A proof and a dpop_jkt of another key disagree.
    let response = push(par_proof(&key), Some(jkt(&stranger))).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;
    // A proof for another URL is refused.
    let response = push(proof(&key), None).await;
    assert_oauth_error(response, 400, "invalid_dpop_proof").await;

    for (redeemer, bound) in [(&stranger, false), (&key, true)] {
        let response = push(par_proof(&key), None).await;
        assert_eq!(response.status(), 201);
        let pushed: Value = response.json().await.unwrap();
        let query = [
            ("client_id", public.id.as_str()),
            ("request_uri", pushed["request_uri"].as_str().unwrap()),
        ];
        let redirect = authorize_like_a_browser(&app, &query, "ada@example.com").await;
        let code = location_param(&redirect, "code").unwrap();
        let response = redeem(&app, &public.id, &code, &[&proof(redeemer)]).await;
        if bound {
            assert_bound(response, &key).await;
        } else {
            assert_oauth_error(response, 400, "invalid_dpop_proof").await;
        }
    }
}
