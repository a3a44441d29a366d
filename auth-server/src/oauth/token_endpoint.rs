//! The token endpoint (`POST /oauth/token`, RFC 6749 §3.2) and its
//! seed-compatible alias `POST /login`: dispatch on `grant_type` to the
//! grant's own file, and the metrics of each outcome.

use rocket::data::Data;
use rocket::http::ContentType;
use rocket::{State, post};
use shared::oauth::{OAuthErrorBody, TokenResponse};
use shared::problem::Problem;

use super::{
    GrantContext, TokenFailure, TokenRequestForm, TokenSuccess, authorization_code,
    client_credentials, password, read_form, refresh,
};
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::store::throttle::LoginThrottle;

/// Obtain an access token (RFC 6749 §3.2).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins", body = OAuthErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "temporarily_unavailable: database unreachable, or too many password checks waiting",
         body = OAuthErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/oauth/token", data = "<data>")]
pub async fn token(
    mut context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<TokenSuccess, TokenFailure> {
    context.params = read_form(content_type, data).await?;
    let grant_type = GrantType::parse(context.params.require("grant_type")?);
    let result = match grant_type {
        Some(GrantType::Password) => password::grant(&context, throttle).await,
        Some(GrantType::ClientCredentials) => client_credentials::grant(&context).await,
        Some(GrantType::AuthorizationCode) => authorization_code::grant(&context).await,
        Some(GrantType::RefreshToken) => refresh::grant(&context).await,
        None => Err(OAuthError::unsupported_grant_type()),
    };
    record_outcome(grant_type, &result);
    Ok(result?)
}

/// `POST /login`: the password grant as FastAPI's `OAuth2PasswordRequestForm`
/// sends it, where `grant_type` may be left out.
#[utoipa::path(
    post, path = "/login", tag = "oauth",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 429, description = "Too many failed logins", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable: database unreachable, or too many password checks waiting",
         body = OAuthErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/login", data = "<data>")]
pub async fn login(
    mut context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<TokenSuccess, TokenFailure> {
    context.params = read_form(content_type, data).await?;
    let grant_type = context.params.get("grant_type");
    if grant_type.is_some_and(|g| GrantType::parse(g) != Some(GrantType::Password)) {
        return Err(OAuthError::unsupported_grant_type().into());
    }
    let result = password::grant(&context, throttle).await;
    record_outcome(Some(GrantType::Password), &result);
    Ok(result?)
}

fn record_outcome(grant_type: Option<GrantType>, result: &Result<TokenSuccess, OAuthError>) {
    let grant = grant_type.map_or("other", GrantType::as_str);
    match result {
        Ok(_) => metrics::counter!("tokens_issued_total", "grant" => grant).increment(1),
        Err(e) => metrics::counter!("token_requests_failed_total", "grant" => grant, "error" => e.code.as_str())
            .increment(1),
    }
}
