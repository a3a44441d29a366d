//! The two framework adapters of `shared::access`: the tower layer lets
//! through exactly the requests whose token proves a caller (and, with
//! `require`, carries the scope) and hands the caller to the service; and
//! for every request the layer and the Rocket guard answer byte for byte
//! alike, status, challenge, headers and body, because both send what the
//! one `Authenticator` decided.

use std::convert::Infallible;
use std::future::{Ready, poll_fn, ready};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use http::{Request, Response};
use rocket::http::Header;
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};
use shared::access::{AccessError, Authenticated, Authenticator};
use shared::clock::FixedClock;
use shared::jwks_cache::JwksCache;
use shared::layer::AccessTokenLayer;
use shared::scope::{Scope, ScopeSet};
use shared::verifier::{Verifier, VerifierConfig};
use tower_layer::Layer;
use tower_service::Service;

use crate::support::{AUDIENCE, ISSUER, NOW, TestKey, claims};

static ISSUER_KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);
static FORGER_KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);

fn verifier() -> Arc<Verifier> {
    let keys = JwksCache::fixed(&TestKey::set(&[&ISSUER_KEY])).unwrap();
    Arc::new(Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), keys))
}

fn authenticator(verifier: Arc<Verifier>) -> Authenticator {
    Authenticator::new(verifier, Arc::new(FixedClock(NOW)), AUDIENCE)
}

/// The service behind the layer: says who the layer let through.
#[derive(Clone)]
struct Echo;

impl Service<Request<String>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let body = match request.extensions().get::<Authenticated>() {
            Some(caller) => format!("sub={}", caller.sub()),
            None => "nobody".to_owned(),
        };
        ready(Ok(Response::new(body)))
    }
}

/// One answer, as a client sees it.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    body: String,
}

async fn through_layer(
    layer: &AccessTokenLayer,
    authorization: &[&str],
    extension: Option<Authenticated>,
) -> Answer {
    let mut service = layer.layer(Echo);
    let mut request = Request::builder().uri("/me");
    for value in authorization {
        request = request.header("authorization", *value);
    }
    let mut request = request.body(String::new()).unwrap();
    if let Some(caller) = extension {
        request.extensions_mut().insert(caller);
    }
    poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
    let response = service.call(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        body: response.body().clone(),
    }
}

#[rocket::get("/me")]
fn me(caller: Authenticated) -> String {
    format!("sub={}", caller.sub())
}

#[rocket::get("/reports")]
fn reports(caller: Authenticated) -> Result<String, AccessError> {
    caller.require(Scope::ProfilesRead)?;
    Ok(format!("sub={}", caller.sub()))
}

async fn rocket_client(verifier: Arc<Verifier>) -> Client {
    let config = rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .manage(authenticator(verifier))
        .mount("/", rocket::routes![me, reports])
        .register("/", shared::guard::catchers())
        .register("/", shared::problem::catchers());
    Client::untracked(rocket).await.unwrap()
}

async fn through_guard(client: &Client, path: &str, authorization: &[&str]) -> Answer {
    let mut request = client.get(path);
    for value in authorization {
        request = request.header(Header::new("Authorization", value.to_string()));
    }
    let response = request.dispatch().await;
    let header = |name: &str| response.headers().get_one(name).map(str::to_owned);
    Answer {
        status: response.status().code,
        www_authenticate: header("WWW-Authenticate"),
        content_type: header("Content-Type"),
        cache_control: header("Cache-Control"),
        body: response.into_string().await.unwrap_or_default(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn the_layer_hands_the_proven_caller_to_the_service() {
    let layer = AccessTokenLayer::new(Arc::new(authenticator(verifier())));
    let token = ISSUER_KEY.sign(&claims());
    let answer = through_layer(&layer, &[&bearer(&token)], None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "sub=5f0c3c4e-2b4d-4c47-9a0e-0d6a0d5f3a11");
    assert_eq!(answer.www_authenticate, None);
}

#[tokio::test]
async fn the_layer_answers_each_refusal_with_its_challenge() {
    let layer = AccessTokenLayer::new(Arc::new(authenticator(verifier())));
    let bare = through_layer(&layer, &[], None).await;
    assert_eq!(bare.status, 401);
    assert_eq!(
        bare.www_authenticate.as_deref(),
        Some(r#"Bearer realm="profile-api""#)
    );
    assert_eq!(
        bare.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(bare.cache_control.as_deref(), Some("no-store"));
    let problem: Value = serde_json::from_str(&bare.body).unwrap();
    assert_eq!(problem["status"], 401);
    assert_eq!(problem["title"], "Unauthorized");

    let forged = FORGER_KEY.sign(&claims());
    let answer = through_layer(&layer, &[&bearer(&forged)], None).await;
    assert_eq!(answer.status, 401);
    let challenge = answer.www_authenticate.unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(!challenge.contains(&forged) && !answer.body.contains(&forged));
    assert_ne!(answer.body, "nobody", "the service never ran");

    let two = through_layer(&layer, &["Bearer a", "Bearer b"], None).await;
    assert_eq!(two.status, 400);
    assert!(
        two.www_authenticate
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
}

#[tokio::test]
async fn a_required_scope_is_checked_on_the_caller_an_outer_layer_proved() {
    let auth = Arc::new(authenticator(verifier()));
    let reports = AccessTokenLayer::new(auth).require(Scope::ProfilesRead);
    let token = ISSUER_KEY.sign(&claims());
    let lacking = through_layer(&reports, &[&bearer(&token)], None).await;
    assert_eq!(lacking.status, 403);
    assert!(lacking.www_authenticate.unwrap().ends_with(
        r#"error="insufficient_scope", error_description="The access token does not grant the scope this request needs.", scope="profiles:read""#
    ));
    let mut admin = claims();
    admin["scope"] = json!("profiles:read");
    let granted = through_layer(&reports, &[&bearer(&ISSUER_KEY.sign(&admin))], None).await;
    assert_eq!(granted.status, 200);

    // Under an outer layer the caller is in the extensions already: no
    // token is read again, only the scope is checked.
    let proven = |scope: &str| {
        let mut claims: shared::AccessTokenClaims = serde_json::from_value(claims()).unwrap();
        claims.scope = scope.to_owned();
        claims.sub = "someone".to_owned();
        Authenticated::from(shared::verifier::VerifiedToken {
            kid: "kid".into(),
            scopes: ScopeSet::parse(scope),
            claims,
        })
    };
    let reused = through_layer(&reports, &[], Some(proven("profiles:read"))).await;
    assert_eq!((reused.status, reused.body.as_str()), (200, "sub=someone"));
    let reused = through_layer(&reports, &[], Some(proven("profile:read"))).await;
    assert_eq!(reused.status, 403);
}

#[tokio::test]
async fn the_layer_and_the_rocket_guard_answer_alike() {
    let verifier = verifier();
    let client = rocket_client(verifier.clone()).await;
    let auth = Arc::new(authenticator(verifier));
    let any_caller = AccessTokenLayer::new(auth.clone());
    let reports = AccessTokenLayer::new(auth).require(Scope::ProfilesRead);

    let valid = ISSUER_KEY.sign(&claims());
    let forged = FORGER_KEY.sign(&claims());
    let mut late = claims();
    late["exp"] = json!(NOW - 3600);
    let expired = ISSUER_KEY.sign(&late);
    let mut admin = claims();
    admin["scope"] = json!("profiles:read");
    let admin = ISSUER_KEY.sign(&admin);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("/me", vec![]),
        ("/me", vec!["Basic dXNlcjpwYXNz".into()]),
        ("/me", vec!["Bearer".into()]),
        ("/me", vec!["Bearer a".into(), "Bearer b".into()]),
        ("/me", vec!["Bearer a b".into()]),
        ("/me", vec![bearer(&forged)]),
        ("/me", vec![bearer(&expired)]),
        ("/me", vec![format!("bearer {valid}")]),
        ("/reports", vec![bearer(&valid)]),
        ("/reports", vec![bearer(&admin)]),
        ("/reports", vec![]),
    ];
    for (path, authorization) in cases {
        let authorization: Vec<&str> = authorization.iter().map(String::as_str).collect();
        let layer = if path == "/reports" {
            &reports
        } else {
            &any_caller
        };
        let from_layer = through_layer(layer, &authorization, None).await;
        let mut from_guard = through_guard(&client, path, &authorization).await;
        // Rocket names a text body's type; the layer leaves that to the
        // service behind it. Refusals carry the same type from both.
        if from_guard.status == 200 {
            from_guard.content_type = None;
        }
        assert_eq!(from_layer, from_guard, "{path} {authorization:?}");
    }
}

/// A client's ES256 DPoP key, its JWK and RFC 7638 thumbprint.
struct ProofKey {
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
    jkt: String,
}

impl ProofKey {
    fn generate() -> ProofKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use sha2::Digest;
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        ProofKey {
            encoding: jsonwebtoken::EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            jkt: URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())),
        }
    }

    fn proof(&self, htm: &str, htu: &str, token: &str, jti: &str) -> String {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use sha2::Digest;
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk});
        let claims = json!({
            "htm": htm, "htu": htu, "iat": NOW, "jti": jti,
            "ath": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())),
        });
        let input = crate::support::signing_input(&header, &claims);
        let signature = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &self.encoding,
            jsonwebtoken::Algorithm::ES256,
        )
        .unwrap();
        format!("{input}.{signature}")
    }
}

const PUBLIC_URL: &str = "https://api.example.com/base";
const BOTH: &str = r#"Bearer realm="profile-api", DPoP algs="ES256 PS256 RS256 EdDSA""#;
const BAD_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256 EdDSA""#;

fn dpop_authenticator() -> Authenticator {
    authenticator(verifier()).with_dpop(PUBLIC_URL)
}

/// `GET /me` through a layer with DPoP on, with these headers.
async fn through_dpop_layer(layer: &AccessTokenLayer, headers: &[(&str, &str)]) -> Answer {
    let mut service = layer.layer(Echo);
    let mut request = Request::builder().method("GET").uri("/me?page=2");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(String::new()).unwrap();
    poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
    let response = service.call(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        www_authenticate: header("www-authenticate"),
        content_type: header("content-type"),
        cache_control: header("cache-control"),
        body: response.body().clone(),
    }
}

#[tokio::test]
async fn the_layer_takes_a_bound_token_once_per_proof_of_its_key() {
    let layer = AccessTokenLayer::new(Arc::new(dpop_authenticator()));
    let key = ProofKey::generate();
    let mut bound = claims();
    bound["cnf"] = json!({"jkt": key.jkt});
    let token = ISSUER_KEY.sign(&bound);
    let dpop = format!("DPoP {token}");
    let url = format!("{PUBLIC_URL}/me");
    let proof = key.proof("GET", &url, &token, "jti-1");

    let answer = through_dpop_layer(&layer, &[("authorization", &dpop), ("dpop", &proof)]).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "sub=5f0c3c4e-2b4d-4c47-9a0e-0d6a0d5f3a11");
    assert_eq!(answer.www_authenticate, None);

    // The same proof again, a proof for another URL, and one by another key.
    let other_url = key.proof("GET", "https://api.example.com/me", &token, "jti-2");
    let other_key = ProofKey::generate().proof("GET", &url, &token, "jti-3");
    for (case, proof) in [
        ("replayed", &proof),
        ("other url", &other_url),
        ("other key", &other_key),
    ] {
        let answer = through_dpop_layer(&layer, &[("authorization", &dpop), ("dpop", proof)]).await;
        assert_eq!(answer.status, 401, "{case}");
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(BAD_PROOF),
            "{case}"
        );
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/problem+json"),
            "{case}"
        );
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"), "{case}");
        assert!(!answer.body.contains(&token), "{case}");
    }

    // As Bearer, with or without a good proof: invalid_token.
    let fresh = key.proof("GET", &url, &token, "jti-4");
    let answer = through_dpop_layer(
        &layer,
        &[("authorization", &bearer(&token)), ("dpop", &fresh)],
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(
            r#"Bearer realm="profile-api", error="invalid_token", error_description="The access token is invalid.", DPoP algs="ES256 PS256 RS256 EdDSA""#
        )
    );
    // Nothing: both schemes are offered.
    let answer = through_dpop_layer(&layer, &[]).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.www_authenticate.as_deref(), Some(BOTH));
}

#[tokio::test]
async fn without_dpop_the_scheme_counts_as_no_credentials_and_bound_tokens_are_refused() {
    let layer = AccessTokenLayer::new(Arc::new(authenticator(verifier())));
    let key = ProofKey::generate();
    let mut bound = claims();
    bound["cnf"] = json!({"jkt": key.jkt});
    let token = ISSUER_KEY.sign(&bound);
    let answer = through_layer(&layer, &[&format!("DPoP {token}")], None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(r#"Bearer realm="profile-api""#)
    );
    let answer = through_layer(&layer, &[&bearer(&token)], None).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .www_authenticate
            .unwrap()
            .starts_with(r#"Bearer realm="profile-api", error="invalid_token""#)
    );
}

#[tokio::test]
async fn with_dpop_the_layer_and_the_rocket_guard_answer_alike() {
    let key = ProofKey::generate();
    let mut bound = claims();
    bound["cnf"] = json!({"jkt": key.jkt});
    let token = ISSUER_KEY.sign(&bound);
    let dpop = format!("DPoP {token}");
    let config = rocket::Config {
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .manage(dpop_authenticator())
        .mount("/", rocket::routes![me])
        .register("/", shared::guard::catchers())
        .register("/", shared::problem::catchers());
    let client = Client::untracked(rocket).await.unwrap();
    let layer = AccessTokenLayer::new(Arc::new(dpop_authenticator()));
    let url = format!("{PUBLIC_URL}/me");
    for (case, proof) in [
        ("good", key.proof("GET", &url, &token, "jti-a")),
        ("wrong method", key.proof("POST", &url, &token, "jti-b")),
        ("wrong ath", key.proof("GET", &url, "other", "jti-c")),
    ] {
        let by_layer =
            through_dpop_layer(&layer, &[("authorization", &dpop), ("dpop", &proof)]).await;
        let response = client
            .get("/me?page=2")
            .header(Header::new("Authorization", dpop.clone()))
            .header(Header::new("DPoP", proof.clone()))
            .dispatch()
            .await;
        let header = |name: &str| response.headers().get_one(name).map(str::to_owned);
        let by_guard = Answer {
            status: response.status().code,
            www_authenticate: header("WWW-Authenticate"),
            content_type: header("Content-Type"),
            cache_control: header("Cache-Control"),
            body: response.into_string().await.unwrap_or_default(),
        };
        assert_eq!(by_layer.status, by_guard.status, "{case}");
        assert_eq!(
            by_layer.www_authenticate, by_guard.www_authenticate,
            "{case}"
        );
        assert_eq!(by_layer.body, by_guard.body, "{case}");
        let expected = if case == "good" { 200 } else { 401 };
        assert_eq!(by_guard.status, expected, "{case}: {by_guard:?}");
    }
}
