//! The token endpoint (`POST /oauth/token`, RFC 6749 §3.2) and its
//! seed-compatible alias `POST /login`: the form read, the grant
//! dispatched on `grant_type` (a new grant is one more arm here and a
//! file in `grants/`), and the metrics of each outcome. A `DPoP` proof
//! (RFC 9449) is checked before any grant runs, and with `DPOP_NONCE=on`
//! every answer carries a fresh `DPoP-Nonce`.

use rocket::http::Header;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{State, post};
use shared::oauth::{OAuthErrorBody, TokenResponse};
use shared::problem::Problem;

use super::form::{OAuthForm, TokenFailure};
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::grants;
use crate::oauth::audit;
use crate::oauth::context::GrantContext;
use crate::oauth::dpop;
use crate::oauth::forms::{TokenForm, required};
use crate::oauth::mint::TokenSuccess;
use crate::store::throttle::LoginThrottle;

/// Obtain an access token (RFC 6749 §3.2).
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins", body = OAuthErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "temporarily_unavailable: database unreachable, or too many password checks waiting",
         body = OAuthErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449): the tokens are bound to its key; `400 invalid_dpop_proof` when bad, `400 use_dpop_nonce` (with `DPoP-Nonce`) when `DPOP_NONCE=on` and it lacks the nonce")),
)]
#[post("/oauth/token", data = "<form>")]
pub async fn token(
    context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
    form: Result<OAuthForm<TokenForm>, TokenFailure>,
) -> WithDpopNonce<Result<TokenSuccess, TokenFailure>> {
    let nonce = context
        .config
        .dpop_nonce
        .then(|| dpop::fresh_nonce(&context));
    WithDpopNonce(token_answer(context, throttle, form).await, nonce)
}

async fn token_answer(
    mut context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
    form: Result<OAuthForm<TokenForm>, TokenFailure>,
) -> Result<TokenSuccess, TokenFailure> {
    let OAuthForm(form) = form?;
    context.dpop_proof = dpop::check_token_request_proof(&context, shared::routes::TOKEN)?;
    let context = context;
    let grant_type = GrantType::parse(required(&form.grant_type, "grant_type")?);
    let result = match grant_type {
        Some(GrantType::Password) => grants::password::grant(&context, &form, throttle).await,
        Some(GrantType::ClientCredentials) => {
            grants::client_credentials::grant(&context, &form).await
        }
        Some(GrantType::AuthorizationCode) => {
            grants::authorization_code::grant(&context, &form).await
        }
        Some(GrantType::RefreshToken) => grants::refresh_token::grant(&context, &form).await,
        Some(GrantType::TokenExchange) => grants::token_exchange::grant(&context, &form).await,
        Some(GrantType::DeviceCode) => grants::device_code::grant(&context, &form).await,
        None => Err(OAuthError::unsupported_grant_type()),
    };
    record_outcome(&context, grant_type, &result).await;
    Ok(result?)
}

/// `POST /login`: the password grant as FastAPI's `OAuth2PasswordRequestForm`
/// sends it, where `grant_type` may be left out.
#[utoipa::path(
    post, path = "/login", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 429, description = "Too many failed logins", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable: database unreachable, or too many password checks waiting",
         body = OAuthErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/login", data = "<form>")]
pub async fn login(
    context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
    form: Result<OAuthForm<TokenForm>, TokenFailure>,
) -> Result<TokenSuccess, TokenFailure> {
    let OAuthForm(form) = form?;
    // The alias takes no proof (its URL is not the token endpoint's), so a
    // client that must send one cannot use it (minting refuses it).
    if !context.meta.dpop.is_empty() {
        return Err(OAuthError::invalid_dpop_proof(
            "DPoP proofs are taken at /oauth/token, not /login.",
        )
        .into());
    }
    let grant_type = form.grant_type.as_deref();
    if grant_type.is_some_and(|g| GrantType::parse(g) != Some(GrantType::Password)) {
        return Err(OAuthError::unsupported_grant_type().into());
    }
    let result = grants::password::grant(&context, &form, throttle).await;
    record_outcome(&context, Some(GrantType::Password), &result).await;
    Ok(result?)
}

async fn record_outcome(
    context: &GrantContext<'_>,
    grant_type: Option<GrantType>,
    result: &Result<TokenSuccess, OAuthError>,
) {
    let grant = grant_type.map_or("other", GrantType::as_str);
    match result {
        Ok(success) => {
            metrics::counter!("tokens_issued_total", "grant" => grant).increment(1);
            audit::token_issued(context, grant, &success.0).await;
        }
        Err(e) => metrics::counter!("token_requests_failed_total", "grant" => grant, "error" => e.code.as_str())
            .increment(1),
    }
}

/// An answer with a fresh `DPoP-Nonce` (RFC 9449 §8) when nonces are on:
/// on success, and on every refusal, `use_dpop_nonce` above all.
pub struct WithDpopNonce<R>(pub R, pub Option<String>);

impl<'r, R: Responder<'r, 'static>> Responder<'r, 'static> for WithDpopNonce<R> {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = self.0.respond_to(request)?;
        if let Some(nonce) = self.1 {
            response.set_header(Header::new("DPoP-Nonce", nonce));
        }
        Ok(response)
    }
}
