//! Delegation to another service with token exchange (RFC 8693): acting
//! for its caller, this service must not forward the caller's token as it
//! is (minted for this service, with every scope the user granted), nor
//! use a token of its own (which loses the user). It trades the caller's
//! token at the issuer for a narrower one: for the profile API's audience,
//! `profile:read` only, with `act` naming this service; then reads the
//! caller's profile with it.
//!
//! Settings: `EXCHANGE_CLIENT_ID` and `EXCHANGE_CLIENT_SECRET` (a client
//! registered with `--grant token-exchange --audience profile-api`; without
//! them `GET /profile` answers `503`), `PROFILE_URL` (default
//! `http://127.0.0.1:8001/profile/me`), `PROFILE_AUDIENCE` (default
//! `profile-api`).

use std::sync::Arc;

use axum::Extension;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// How this service exchanges its callers' tokens.
pub struct Delegation {
    http: reqwest::Client,
    token_url: String,
    client: Option<(String, String)>,
    profile_url: String,
    profile_audience: String,
}

impl Delegation {
    /// From the environment; `issuer` is the trusted issuer's URL.
    pub fn from_env(issuer: &str) -> Result<Delegation, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let client = match (var("EXCHANGE_CLIENT_ID"), var("EXCHANGE_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            _ => {
                return Err(
                    "EXCHANGE_CLIENT_ID: needs EXCHANGE_CLIENT_SECRET, and the other way round"
                        .to_owned(),
                );
            }
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("EXCHANGE_CLIENT_ID: {e}"))?;
        Ok(Delegation {
            http,
            token_url: format!("{issuer}/oauth/token"),
            client,
            profile_url: var("PROFILE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8001/profile/me".to_owned()),
            profile_audience: var("PROFILE_AUDIENCE").unwrap_or_else(|| "profile-api".to_owned()),
        })
    }
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({"type": "about:blank", "title": status.canonical_reason(), "status": status.as_u16(), "detail": detail});
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// The claims of a token the issuer just handed us, to show what it is.
fn claims_of(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// `GET /profile`: the caller's profile, read from the profile API with a
/// token exchanged for the caller's. The layer has already proven the
/// caller's token, so it is taken from the header as it came.
pub async fn profile(
    Extension(delegation): Extension<Arc<Delegation>>,
    headers: HeaderMap,
) -> Response {
    let Some((client_id, client_secret)) = &delegation.client else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Delegation is not configured (EXCHANGE_CLIENT_ID).",
        );
    };
    let Some(subject) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim())
    else {
        return problem(StatusCode::UNAUTHORIZED, "No bearer token.");
    };
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", delegation.profile_audience.as_str()),
        ("scope", "profile:read"),
    ];
    let exchanged = delegation
        .http
        .post(&delegation.token_url)
        .basic_auth(client_id, Some(client_secret))
        .form(&form)
        .send()
        .await;
    let token = match exchanged {
        Ok(response) if response.status().is_success() => {
            match response
                .json::<Value>()
                .await
                .ok()
                .and_then(|body| body["access_token"].as_str().map(str::to_owned))
            {
                Some(token) => token,
                None => {
                    return problem(StatusCode::BAD_GATEWAY, "The issuer's answer had no token.");
                }
            }
        }
        Ok(response) => {
            tracing::warn!(status = %response.status(), "token exchange refused");
            return problem(
                StatusCode::BAD_GATEWAY,
                "The issuer refused the token exchange.",
            );
        }
        Err(error) => {
            tracing::warn!(%error, "token exchange failed");
            return problem(StatusCode::BAD_GATEWAY, "The issuer could not be reached.");
        }
    };
    let read = delegation
        .http
        .get(&delegation.profile_url)
        .bearer_auth(&token)
        .send()
        .await;
    let profile = match read {
        Ok(response) if response.status().is_success() => {
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
        Ok(response) => {
            tracing::warn!(status = %response.status(), "the profile API refused the exchanged token");
            return problem(
                StatusCode::BAD_GATEWAY,
                "The profile API refused the request.",
            );
        }
        Err(error) => {
            tracing::warn!(%error, "the profile API could not be reached");
            return problem(
                StatusCode::BAD_GATEWAY,
                "The profile API could not be reached.",
            );
        }
    };
    let claims = claims_of(&token);
    let body = json!({
        "profile": profile,
        // What the profile API was shown instead of the caller's token.
        "exchanged": {
            "aud": claims["aud"],
            "scope": claims["scope"],
            "client_id": claims["client_id"],
            "act": claims["act"],
        },
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
