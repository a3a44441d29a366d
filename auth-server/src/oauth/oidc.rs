//! OpenID Connect on top of the OAuth flows: the claims of an `id_token`
//! (OIDC Core §2, §3.1.3.6), the UserInfo endpoint (§5.3) and RP-Initiated
//! Logout 1.0 (`GET /oauth/logout`).
//!
//! - id_tokens are signed by [`TokenMinter::sign_id_token`] with the access
//!   tokens' key ring, `typ` `JWT`; they are minted where access tokens are
//!   (the code and refresh grants, `primitives`), whenever the grant has
//!   the `openid` scope.
//! - UserInfo takes one of our access tokens, checked here against the key
//!   ring (no network call), and answers from the user's current record
//!   with the claims its scopes allow. Errors are RFC 6750's.
//! - Logout ends the sign-in session (`sessions`) everywhere. It redirects
//!   only to a `post_logout_redirect_uri` registered for the client that an
//!   `id_token_hint` we signed (or `client_id`) names; anything else gets a
//!   page, never a redirect.

use std::io::Cursor;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{State, get, post};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use shared::access::{AccessError, Challenge, credentials_from_headers};
use shared::scope::{Scope, ScopeSet};
use shared::verifier::{ClaimRules, Jws, TokenKind, TokenRejection};

use super::authorize::{self, AuthorizeResponse};
use super::{refresh_tokens, sessions};
use crate::AppClock;
use crate::clients;
use crate::config::AppConfig;
use crate::db::Db;
use crate::keys::KeyStore;
use crate::token::TokenMinter;
use crate::users::{self, User};

/// What an id_token says, besides `iss`, `iat` and `exp`.
pub struct IdTokenFacts<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    pub scope: &'a ScopeSet,
    /// When the user typed their password; absent for grants that began
    /// before sessions existed.
    pub auth_time: Option<i64>,
    /// The authorization request's `nonce`, echoed exactly; only on the
    /// code exchange (OIDC Core §12.2: a refresh need not repeat it).
    pub nonce: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// The claims of an id_token (OIDC Core §2): `aud` is the client alone,
/// `azp` names it too, and the profile claims follow the scopes (§5.4).
pub fn id_token_claims(facts: IdTokenFacts<'_>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), facts.user.id.clone().into());
    claims.insert("aud".into(), facts.client_id.into());
    claims.insert("azp".into(), facts.client_id.into());
    if let Some(auth_time) = facts.auth_time {
        claims.insert("auth_time".into(), auth_time.into());
    }
    if let Some(nonce) = facts.nonce {
        claims.insert("nonce".into(), nonce.into());
    }
    claims.insert("at_hash".into(), at_hash(facts.access_token).into());
    add_profile_claims(&mut claims, facts.user, facts.scope);
    claims
}

/// OIDC Core §3.1.3.6: base64url of the left half of the SHA-256 of the
/// access token's ASCII (RS256 hashes with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// `email`, `email_verified` with the `email` scope; `name` with `profile`.
/// Email addresses are not verified at signup, and the claim says so.
fn add_profile_claims(claims: &mut Map<String, Value>, user: &User, scope: &ScopeSet) {
    if scope.has(Scope::Email) {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), false.into());
    }
    if scope.has(Scope::Profile) {
        claims.insert("name".into(), user.name.clone().into());
    }
}

/// The claims `claims_supported` lists in the discovery document.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "email",
    "email_verified",
    "name",
];

/// The `sub` and `aud` of an id_token we signed, whatever its expiry
/// (an `id_token_hint` is usually expired); `None` for anything else.
/// Checked by the workspace's one JWS verifier over the local key ring.
pub fn own_id_token(keys: &KeyStore, config: &AppConfig, token: &str) -> Option<(String, String)> {
    let jws = Jws::parse(token, TokenKind::Id).ok()?;
    let ring = keys.current();
    let key = ring.keys.iter().find(|key| key.kid == jws.kid())?;
    let claims = jws
        .claims(&key.verifying, &ClaimRules::id_tokens(&config.issuer))
        .ok()?;
    let sub = claims.get("sub")?.as_str()?.to_owned();
    let aud = claims.get("aud")?.as_str()?.to_owned();
    Some((sub, aud))
}

/// The bearer token of a UserInfo request, or the RFC 6750 reason why not.
pub struct BearerToken(Result<String, AccessError>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BearerToken {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let token = credentials_from_headers(request.headers().get("Authorization"))
            .map(|credentials| credentials.token.to_owned());
        Outcome::Success(BearerToken(token))
    }
}

/// A UserInfo answer: claims, or an RFC 6750 error with its challenge.
/// Never stored by a cache either way.
pub enum UserInfo {
    Claims(Value),
    Refused(AccessError),
    /// The database is unreachable or failed.
    Unavailable(Status),
}

impl<'r> Responder<'r, 'static> for UserInfo {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let (status, body, challenge) = match self {
            UserInfo::Claims(claims) => (Status::Ok, claims, None),
            UserInfo::Refused(error) => {
                let body = match error.error_code() {
                    Some(code) => json!({"error": code, "error_description": error.description()}),
                    None => {
                        json!({"error": "invalid_request", "error_description": error.description()})
                    }
                };
                (
                    Status::new(error.status()),
                    body,
                    Some(Challenge::new("userinfo").www_authenticate(&error)),
                )
            }
            UserInfo::Unavailable(status) => (
                status,
                json!({"error": "temporarily_unavailable",
                       "error_description": "The service is temporarily unavailable; retry later."}),
                None,
            ),
        };
        let body = serde_json::to_vec(&body).map_err(|_| Status::InternalServerError)?;
        let mut response = Response::build();
        response
            .status(status)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Pragma", "no-cache"));
        if let Some(challenge) = challenge {
            response.header(Header::new("WWW-Authenticate", challenge));
        }
        if status == Status::ServiceUnavailable {
            response.header(Header::new(
                "Retry-After",
                crate::error::OUTAGE_RETRY_AFTER.to_string(),
            ));
        }
        response.sized_body(body.len(), Cursor::new(body)).ok()
    }
}

/// The server state UserInfo needs.
pub struct UserInfoServices<'r> {
    db: &'r Db,
    config: &'r AppConfig,
    issuer: &'r TokenMinter,
    clock: &'r AppClock,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for UserInfoServices<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let services = (|| {
            Some(UserInfoServices {
                db: rocket.state::<Db>()?,
                config: rocket.state::<AppConfig>()?,
                issuer: rocket.state::<Arc<TokenMinter>>()?,
                clock: rocket.state::<AppClock>()?,
            })
        })();
        match services {
            Some(services) => Outcome::Success(services),
            None => Outcome::Error((Status::InternalServerError, "state is not managed")),
        }
    }
}

async fn answer(token: BearerToken, services: UserInfoServices<'_>) -> UserInfo {
    let token = match token.0 {
        Ok(token) => token,
        Err(error) => return UserInfo::Refused(error),
    };
    let invalid = |why| UserInfo::Refused(AccessError::InvalidToken(why));
    let Some(claims) =
        super::introspect::own_access_token(services.issuer.keys(), services.config, &token)
    else {
        return invalid(TokenRejection::BadSignature);
    };
    let now = services.clock.0.now();
    if claims.exp <= now {
        return invalid(TokenRejection::Expired);
    }
    let scope = ScopeSet::parse(&claims.scope);
    // A client's own token (client credentials) names no user.
    if claims.sub == claims.client_id || !scope.has(Scope::OpenId) {
        return UserInfo::Refused(AccessError::InsufficientScope(Scope::OpenId));
    }
    let failed = |error: sqlx::Error| {
        if crate::db::is_unavailable(&error) {
            UserInfo::Unavailable(Status::ServiceUnavailable)
        } else {
            tracing::error!(%error, "database error on the userinfo endpoint");
            UserInfo::Unavailable(Status::InternalServerError)
        }
    };
    match refresh_tokens::is_access_token_revoked(services.db, &claims.jti).await {
        Ok(false) => {}
        Ok(true) => return invalid(TokenRejection::BadSignature),
        Err(error) => return failed(error),
    }
    let user = match users::find_by_id(services.db, &claims.sub).await {
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
        (status = 401, description = "No token, or an invalid one (RFC 6750)", headers(("WWW-Authenticate" = String))),
        (status = 403, description = "insufficient_scope: the token lacks `openid`", headers(("WWW-Authenticate" = String))),
    ),
)]
#[get("/oauth/userinfo")]
pub async fn userinfo_get(token: BearerToken, services: UserInfoServices<'_>) -> UserInfo {
    answer(token, services).await
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
pub async fn userinfo_post(token: BearerToken, services: UserInfoServices<'_>) -> UserInfo {
    answer(token, services).await
}

/// RFC 3986 limits nothing, but nothing legitimate is this long.
const MAX_PARAM_CHARS: usize = 8 * 1024;

/// OpenID RP-Initiated Logout 1.0: ends the sign-in session, then sends the
/// browser to a registered `post_logout_redirect_uri` (with `state`), or
/// shows a "signed out" page.
#[utoipa::path(
    get, path = "/oauth/logout", tag = "oauth",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An id_token we issued to the client"),
        ("client_id" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered with `clients create --post-logout-redirect-uri`"),
        ("state" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Signed out", content_type = "text/html"),
        (status = 303, description = "Back to the client's post-logout redirect URI", headers(("Location" = String))),
        (status = 400, description = "Invalid id_token_hint, or an unregistered post_logout_redirect_uri (never redirected)", content_type = "text/html"),
    )
)]
#[allow(clippy::too_many_arguments)]
#[get("/oauth/logout?<id_token_hint>&<client_id>&<post_logout_redirect_uri>&<state>")]
pub async fn logout(
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
    jar: &CookieJar<'_>,
    db: &State<Db>,
    config: &State<AppConfig>,
    keys: &State<Arc<KeyStore>>,
) -> AuthorizeResponse {
    // RFC 6749 §3.1 as elsewhere: a parameter without a value is omitted.
    fn given(value: Option<&str>) -> Option<&str> {
        value.filter(|v| !v.is_empty())
    }
    let (id_token_hint, client_id, redirect_uri, state) = (
        given(id_token_hint),
        given(client_id),
        given(post_logout_redirect_uri),
        given(state),
    );
    if [id_token_hint, client_id, redirect_uri, state]
        .iter()
        .flatten()
        .any(|v| v.len() > MAX_PARAM_CHARS)
    {
        return authorize::logout_error(Status::BadRequest, "The logout request is too large.");
    }
    let hinted_client = match id_token_hint {
        Some(hint) => match own_id_token(keys, config, hint) {
            Some((_, aud)) => Some(aud),
            None => {
                return authorize::logout_error(
                    Status::BadRequest,
                    "The id_token_hint was not issued by this server.",
                );
            }
        },
        None => None,
    };
    let client_id = match (hinted_client, client_id) {
        (Some(hinted), Some(named)) if hinted != named => {
            return authorize::logout_error(
                Status::BadRequest,
                "The id_token_hint was issued to another client.",
            );
        }
        (hinted, named) => hinted.or(named.map(str::to_owned)),
    };
    let target = match redirect_uri {
        None => None,
        Some(uri) => {
            let client = match client_id.as_deref() {
                Some(id) => match clients::find(db, id).await {
                    Ok(client) => client,
                    Err(error) => return authorize::database_failure(error),
                },
                None => None,
            };
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return authorize::logout_error(
                    Status::BadRequest,
                    "The post_logout_redirect_uri is not registered for this client.",
                );
            }
            Some(uri)
        }
    };
    if let Err(error) = sessions::end(db, jar).await {
        return authorize::database_failure(error);
    }
    match target.map(url::Url::parse) {
        Some(Ok(mut url)) => {
            if let Some(state) = state {
                url.query_pairs_mut().append_pair("state", state);
            }
            AuthorizeResponse::Redirect(Redirect::to(url.to_string()))
        }
        Some(Err(_)) => authorize::logout_error(
            Status::BadRequest,
            "The post_logout_redirect_uri is not a valid URL.",
        ),
        None => authorize::signed_out_page(),
    }
}
