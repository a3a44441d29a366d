//! OpenID Connect UserInfo (OIDC Core §5.3, `GET`/`POST /oauth/userinfo`):
//! the signed-in user's claims, as its access token's scopes allow.
//!
//! It takes one of our access tokens whose `aud` is `AUDIENCE` or the
//! issuer, checked against the key ring (no network call), and answers
//! from the user's current record. Errors are RFC 6750's, with their
//! challenge; every answer is never stored by a cache.
//!
//! A token bound to a DPoP key (`cnf`) comes under the DPoP scheme with a
//! proof for this request, checked as a resource server checks it (RFC
//! 9449 §7), its `jti` spent in the issuer's table; sent as `Bearer` it is
//! refused. Challenges name both schemes.

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder};
use rocket::{get, post};
use serde_json::{Map, Value};
use shared::access::{AccessError, Challenge, Scheme, credentials_from_headers};
use shared::oauth::OAuthErrorBody;
use shared::scope::{Scope, ScopeSet};
use shared::verifier::TokenRejection;

use crate::errors::oauth::{error_response, json_answer};
use crate::oauth::context::GrantContext;
use crate::oauth::dpop;
use crate::oauth::id_token::add_profile_claims;
use crate::oauth::own_tokens::own_access_token;
use crate::store::{refresh_families, users};

/// The access token of a UserInfo request with its scheme, or the RFC
/// 6750 reason why not; and the request's method, which a DPoP proof
/// must name.
pub struct BearerToken(Result<(Scheme, String), AccessError>, String);

const USERINFO: &str = "/oauth/userinfo";

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BearerToken {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let token = credentials_from_headers(request.headers().get("Authorization"))
            .map(|credentials| (credentials.scheme, credentials.token.to_owned()));
        Outcome::Success(BearerToken(token, request.method().as_str().to_owned()))
    }
}

/// A UserInfo answer: claims, or an RFC 6750 error with its challenge.
pub enum UserInfo {
    Claims(Value),
    Refused(AccessError),
    /// The database is unreachable or failed.
    Unavailable(Status),
}

impl<'r> Responder<'r, 'static> for UserInfo {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        match self {
            UserInfo::Claims(claims) => Ok(json_answer(Status::Ok, &claims)),
            UserInfo::Refused(error) => {
                let body = OAuthErrorBody {
                    error: error.error_code().unwrap_or("invalid_request").to_owned(),
                    error_description: error.description().to_owned(),
                };
                let mut response = error_response(Status::new(error.status()), &body);
                let challenge = Challenge::new("userinfo")
                    .with_dpop()
                    .www_authenticate(&error);
                response.set_header(Header::new("WWW-Authenticate", challenge));
                Ok(response)
            }
            UserInfo::Unavailable(status) => {
                let body = OAuthErrorBody {
                    error: "temporarily_unavailable".to_owned(),
                    error_description: "The service is temporarily unavailable; retry later."
                        .to_owned(),
                };
                let mut response = error_response(status, &body);
                if status == Status::ServiceUnavailable {
                    response.set_header(Header::new(
                        "Retry-After",
                        platform::db::OUTAGE_RETRY_AFTER.to_string(),
                    ));
                }
                Ok(response)
            }
        }
    }
}

async fn answer(token: BearerToken, ctx: GrantContext<'_>) -> UserInfo {
    let BearerToken(token, method) = token;
    let (scheme, token) = match token {
        Ok(token) => token,
        Err(error) => return UserInfo::Refused(error),
    };
    let invalid = |why| UserInfo::Refused(AccessError::InvalidToken(why));
    let Some(claims) = own_access_token(ctx.tokens.keys(), ctx.config, &token) else {
        return invalid(TokenRejection::BadSignature);
    };
    if claims.exp <= ctx.now {
        return invalid(TokenRejection::Expired);
    }
    // UserInfo is a resource of its own: a token minted for another one
    // (RFC 8707) must not be replayable here (RFC 8725 §3.9).
    let config = ctx.config;
    if ![config.audience.as_str(), config.issuer.as_str()]
        .iter()
        .any(|ours| claims.aud.contains(ours))
    {
        return invalid(TokenRejection::WrongAudience);
    }
    let failed = |error: sqlx::Error| {
        if platform::db::is_unavailable(&error) {
            UserInfo::Unavailable(Status::ServiceUnavailable)
        } else {
            tracing::error!(%error, "database error on the userinfo endpoint");
            UserInfo::Unavailable(Status::InternalServerError)
        }
    };
    match (scheme, claims.cnf.as_ref()) {
        (Scheme::DPoP, Some(cnf)) => {
            match dpop::check_resource_proof(&ctx, &method, USERINFO, &token, &cnf.jkt).await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => {
                    tracing::info!(reason = %refusal, "DPoP proof refused");
                    return UserInfo::Refused(AccessError::InvalidProof(refusal));
                }
                Err(error) => return failed(error),
            }
        }
        // RFC 9449 §7.2: a bound token is worthless without its proof.
        (_, Some(_)) => return invalid(TokenRejection::BoundAsBearer),
        (Scheme::DPoP, None) => return invalid(TokenRejection::NotBound),
        (_, None) => {}
    }
    let scope = ScopeSet::parse(&claims.scope);
    // A client's own token (client credentials) names no user.
    if claims.sub == claims.client_id || !scope.has(Scope::OpenId) {
        return UserInfo::Refused(AccessError::InsufficientScope(Scope::OpenId));
    }
    match refresh_families::is_access_token_revoked(ctx.db, &claims.jti).await {
        Ok(false) => {}
        Ok(true) => return invalid(TokenRejection::BadSignature),
        Err(error) => return failed(error),
    }
    let user = match users::find_by_id(ctx.db, &claims.sub).await {
        Ok(Some(user)) => user,
        Ok(None) => return invalid(TokenRejection::BadSignature),
        Err(error) => return failed(error),
    };
    let mut body = Map::new();
    body.insert("sub".into(), user.id.clone().into());
    add_profile_claims(&mut body, &user, &scope);
    UserInfo::Claims(Value::Object(body))
}

/// The signed-in user's claims (OpenID Connect UserInfo), for an access
/// token with the `openid` scope.
#[utoipa::path(
    get, path = "/oauth/userinfo", tag = "oauth",
    responses(
        (status = 200, description = "`sub`, and `email`, `email_verified`, `name` as the token's scopes allow", body = Object),
        (status = 401, description = "No token, or an invalid one (RFC 6750), or one whose `aud` is neither AUDIENCE nor the issuer", headers(("WWW-Authenticate" = String))),
        (status = 403, description = "insufficient_scope: the token lacks `openid`", headers(("WWW-Authenticate" = String))),
    ),
)]
#[get("/oauth/userinfo")]
pub async fn userinfo_get(token: BearerToken, ctx: GrantContext<'_>) -> UserInfo {
    answer(token, ctx).await
}

/// The same as `GET`, as OIDC Core §5.3.1 allows.
#[utoipa::path(
    post, path = "/oauth/userinfo", tag = "oauth",
    responses(
        (status = 200, description = "As GET", body = Object),
        (status = 401, description = "No token, or an invalid one (RFC 6750)"),
        (status = 403, description = "insufficient_scope"),
    ),
)]
#[post("/oauth/userinfo")]
pub async fn userinfo_post(token: BearerToken, ctx: GrantContext<'_>) -> UserInfo {
    answer(token, ctx).await
}
