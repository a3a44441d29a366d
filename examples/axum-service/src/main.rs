//! An axum service that trusts the issuer's access tokens as the
//! resource-server does, through `shared`'s tower layer: the layer proves
//! every token against the issuer's published keys, puts the caller in the
//! request's extensions, and answers a refusal with the RFC 6750 challenge
//! and a problem+json body. The handlers only read who the caller is.
//!
//! Settings, from the environment:
//! - `ISSUER` (default `http://127.0.0.1:8000`): the issuer whose tokens are
//!   trusted; its `jwks_uri` is discovered from its metadata;
//! - `JWKS_URL`: the JWK Set's URL, to skip discovery;
//! - `AUDIENCE` (default `profile-api`): the `aud` tokens must carry;
//! - `LISTEN` (default `127.0.0.1:8002`): where to listen; port 0 takes a
//!   free one. The address is printed as `axum-service listening on
//!   http://…` on standard output;
//! - `PUBLIC_URL` (default `http://` and the address it listens on): the
//!   base URL clients call it by, against which DPoP proofs' `htu` is
//!   checked (tokens bound to a key come under `Authorization: DPoP`).
//!
//! Routes: `GET /whoami` (any valid token) answers the caller's `sub`,
//! `scope` and `client_id`; `GET /reports` needs `profiles:read`;
//! `GET /profile` reads the caller's profile from the profile API with a
//! token exchanged for theirs ([`delegation`]); `GET /health` is public.

mod delegation;

use std::process::ExitCode;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use shared::access::{Authenticated, Authenticator};
use shared::clock::SystemClock;
use shared::jwks_cache::{JwksCache, JwksConfig, JwksSource};
use shared::layer::AccessTokenLayer;
use shared::scope::Scope;
use shared::verifier::{Verifier, VerifierConfig};
use url::Url;

use delegation::Delegation;

/// The service's routes around an authenticator.
fn app(auth: Arc<Authenticator>, delegation: Arc<Delegation>) -> Router {
    let tokens = AccessTokenLayer::new(auth);
    Router::new()
        .route("/whoami", get(whoami))
        .route("/profile", get(delegation::profile))
        .route(
            "/reports",
            get(reports).route_layer(tokens.clone().require(Scope::ProfilesRead)),
        )
        // Every route above needs a valid token; the ones below do not.
        .layer(tokens)
        .layer(Extension(delegation))
        .route("/health", get(health))
}

async fn whoami(Extension(caller): Extension<Authenticated>) -> Json<Value> {
    Json(json!({
        "sub": caller.sub(),
        "scope": caller.claims.scope,
        "client_id": caller.claims.client_id,
    }))
}

async fn reports(Extension(caller): Extension<Authenticated>) -> Json<Value> {
    Json(json!({"requested_by": caller.sub(), "reports": []}))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

struct Settings {
    issuer: String,
    audience: String,
    jwks: JwksSource,
    listen: String,
    delegation: Delegation,
    public_url: Option<String>,
}

impl Settings {
    /// Each error names its variable, on one line.
    fn from_env() -> Result<Settings, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let issuer = var("ISSUER").unwrap_or_else(|| "http://127.0.0.1:8000".to_owned());
        let issuer_url = Url::parse(&issuer).map_err(|e| format!("ISSUER: not a URL ({e})"))?;
        if !matches!(issuer_url.scheme(), "http" | "https") {
            return Err("ISSUER: must be an http:// or https:// URL".to_owned());
        }
        let issuer = issuer.trim_end_matches('/').to_owned();
        let jwks = match var("JWKS_URL") {
            Some(url) => {
                JwksSource::Url(Url::parse(&url).map_err(|e| format!("JWKS_URL: not a URL ({e})"))?)
            }
            None => JwksSource::Discover {
                issuer: issuer.clone(),
            },
        };
        let delegation = Delegation::from_env(&issuer)?;
        Ok(Settings {
            issuer,
            delegation,
            audience: var("AUDIENCE").unwrap_or_else(|| "profile-api".to_owned()),
            jwks,
            listen: var("LISTEN").unwrap_or_else(|| "127.0.0.1:8002".to_owned()),
            public_url: match var("PUBLIC_URL") {
                Some(url) => {
                    Url::parse(&url).map_err(|e| format!("PUBLIC_URL: not a URL ({e})"))?;
                    Some(url)
                }
                None => None,
            },
        })
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    // Every setting is checked before the first fetch from the issuer.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| format!("LISTEN: cannot listen on {}: {e}", settings.listen))?;
    let keys =
        JwksCache::new(JwksConfig::new(settings.jwks)).map_err(|e| format!("JWKS_URL: {e}"))?;
    // Fetches at once, then ahead of every expiry; ends with the process.
    let _refresher = keys.spawn_refresher();
    let verifier = Verifier::new(
        VerifierConfig::new(settings.issuer, settings.audience.clone()),
        keys,
    );
    let address = listener.local_addr().map_err(|e| format!("LISTEN: {e}"))?;
    let public_url = settings
        .public_url
        .unwrap_or_else(|| format!("http://{address}"));
    let auth = Authenticator::new(
        Arc::new(verifier),
        Arc::new(SystemClock),
        &settings.audience,
    )
    .with_dpop(&public_url);
    println!("axum-service listening on http://{address}");
    axum::serve(listener, app(Arc::new(auth), Arc::new(settings.delegation)))
        .await
        .map_err(|e| format!("cannot serve: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum-service: {error}");
            ExitCode::FAILURE
        }
    }
}
