//! OpenID Connect on top of the OAuth flows: the claims of an `id_token`
//! (OIDC Core §2, §3.1.3.6), the UserInfo endpoint (§5.3) and RP-Initiated
//! Logout 1.0 (`GET /oauth/logout`).
//!
//! - id_tokens are signed by [`TokenMinter::sign_id_token`] with the access
//!   tokens' key ring, `typ` `JWT`; they are minted where access tokens are
//!   (the code and refresh grants, `primitives`), whenever the grant has
//!   the `openid` scope.
//! - UserInfo takes one of our access tokens whose `aud` is `AUDIENCE` or
//!   the issuer, checked here against the key ring (no network call), and
//!   answers from the user's current record with the claims its scopes
//!   allow. Errors are RFC 6750's.
//! - Logout ends the sign-in session (`sessions`) everywhere. It redirects
//!   only to a `post_logout_redirect_uri` registered for the client that an
//!   `id_token_hint` we signed (or `client_id`) names; anything else gets a
//!   page, never a redirect. A session ends at once only for an
//!   `id_token_hint` of its own user; otherwise the person is asked, and
//!   only the form posted back with the page's CSRF token ends it, so a
//!   link or an `<img>` elsewhere cannot sign anyone out.

use std::io::Cursor;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::data::Data;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{get, post};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use shared::access::{AccessError, Challenge, credentials_from_headers};
use shared::scope::{Scope, ScopeSet};
use shared::verifier::{ClaimRules, Jws, TokenKind, TokenRejection};

use super::authorize::{self, AuthorizeResponse};
use super::csrf;
use crate::config::AppConfig;
use crate::keys::KeyStore;
use crate::pages::{ConfirmSignOut, Page, View};
use crate::store::clients::Clients;
use crate::store::db::Db;
use crate::store::refresh_families as refresh_tokens;
use crate::store::sessions;
use crate::store::users::{self, User};
use crate::token::TokenMinter;
use shared::clock::AppClock;

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
                platform::db::OUTAGE_RETRY_AFTER.to_string(),
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
    // UserInfo is a resource of its own: a token minted for another one
    // (RFC 8707) must not be replayable here (RFC 8725 §3.9).
    let config = services.config;
    if ![config.audience.as_str(), config.issuer.as_str()]
        .iter()
        .any(|ours| claims.aud.contains(ours))
    {
        return invalid(TokenRejection::WrongAudience);
    }
    let scope = ScopeSet::parse(&claims.scope);
    // A client's own token (client credentials) names no user.
    if claims.sub == claims.client_id || !scope.has(Scope::OpenId) {
        return UserInfo::Refused(AccessError::InsufficientScope(Scope::OpenId));
    }
    let failed = |error: sqlx::Error| {
        if platform::db::is_unavailable(&error) {
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
        (status = 401, description = "No token, or an invalid one (RFC 6750), or one whose `aud` is neither AUDIENCE nor the issuer", headers(("WWW-Authenticate" = String))),
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

/// The parameters of an RP-Initiated Logout request (§2), by `GET` or
/// `POST`; a parameter sent without a value is omitted (RFC 6749 §3.1).
#[derive(Debug, Default)]
struct LogoutRequest {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

impl LogoutRequest {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> LogoutRequest {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        LogoutRequest {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
        }
    }
}

/// The server state logout needs.
pub struct LogoutServices<'r> {
    db: &'r Db,
    clients: &'r Clients,
    config: &'r AppConfig,
    keys: &'r KeyStore,
    clock: &'r AppClock,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for LogoutServices<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let services = (|| {
            Some(LogoutServices {
                db: rocket.state::<Db>()?,
                clients: rocket.state::<Clients>()?,
                config: rocket.state::<AppConfig>()?,
                keys: rocket.state::<Arc<KeyStore>>()?,
                clock: rocket.state::<AppClock>()?,
            })
        })();
        match services {
            Some(services) => Outcome::Success(services),
            None => Outcome::Error((Status::InternalServerError, "state is not managed")),
        }
    }
}

/// OpenID RP-Initiated Logout 1.0: ends the sign-in session, then sends the
/// browser to a registered `post_logout_redirect_uri` (with `state`), or
/// shows a "signed out" page. Without an `id_token_hint` we signed for the
/// signed-in user, it first asks the person (a form posted back here with
/// a CSRF token), so that a link or an image cannot sign anyone out.
#[utoipa::path(
    get, path = "/oauth/logout", tag = "oauth",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An id_token we issued to the client for the signed-in user; without one the person is asked to confirm"),
        ("client_id" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered with `clients create --post-logout-redirect-uri`"),
        ("state" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Signed out, or (signed in, no valid id_token_hint) the page asking to confirm", content_type = "text/html"),
        (status = 303, description = "Signed out, back to the client's post-logout redirect URI", headers(("Location" = String))),
        (status = 400, description = "Invalid id_token_hint, or an unregistered post_logout_redirect_uri (never redirected)", content_type = "text/html"),
    )
)]
#[get("/oauth/logout?<id_token_hint>&<client_id>&<post_logout_redirect_uri>&<state>")]
pub async fn logout(
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
    jar: &CookieJar<'_>,
    services: LogoutServices<'_>,
) -> AuthorizeResponse {
    let request = LogoutRequest::from_lookup(|name| {
        match name {
            "id_token_hint" => id_token_hint,
            "client_id" => client_id,
            "post_logout_redirect_uri" => post_logout_redirect_uri,
            "state" => state,
            _ => None,
        }
        .map(str::to_owned)
    });
    end_session(request, false, jar, &services).await
}

/// The form of a logout by `POST`: the RP-Initiated Logout parameters
/// (§2 allows `POST`), and from the confirmation page its CSRF token.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LogoutForm {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    /// The confirmation page's CSRF token; must match its `logout_csrf`
    /// cookie.
    csrf: Option<String>,
}

/// RP-Initiated Logout by `POST`, and the answer of the confirmation page:
/// with a CSRF token that matches the page's cookie, the session ends.
#[utoipa::path(
    post, path = "/oauth/logout", tag = "oauth",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "As GET", content_type = "text/html"),
        (status = 303, description = "As GET", headers(("Location" = String))),
        (status = 400, description = "As GET, or a malformed form", content_type = "text/html"),
        (status = 403, description = "A CSRF token that does not match: nothing ends", content_type = "text/html"),
    )
)]
#[post("/oauth/logout", data = "<data>")]
pub async fn logout_submit(
    content_type: Option<&ContentType>,
    data: Data<'_>,
    jar: &CookieJar<'_>,
    services: LogoutServices<'_>,
) -> AuthorizeResponse {
    let form = match super::read_page_form(content_type, data).await {
        Ok(form) => form,
        Err(super::TokenFailure::Api(_)) => {
            return authorize::logout_error(Status::PayloadTooLarge, "The form is too large.");
        }
        Err(super::TokenFailure::OAuth(_)) => {
            return authorize::logout_error(Status::BadRequest, "The form is malformed.");
        }
    };
    let confirmed = match form.get("csrf") {
        None => false,
        Some(token) if csrf::LOGOUT.matches(jar, Some(token)) => true,
        Some(_) => {
            return authorize::logout_error(
                Status::Forbidden,
                "This form has expired or was not sent from this site. You are still signed in.",
            );
        }
    };
    let request = LogoutRequest::from_lookup(|name| form.get(name).map(str::to_owned));
    end_session(request, confirmed, jar, &services).await
}

/// Checks a logout request, then ends the session when the person asked
/// for it: by confirming, or through an application that holds an
/// id_token of theirs. Anything else that would end a session asks first.
async fn end_session(
    request: LogoutRequest,
    confirmed: bool,
    jar: &CookieJar<'_>,
    services: &LogoutServices<'_>,
) -> AuthorizeResponse {
    let LogoutServices {
        db,
        clients,
        config,
        keys,
        clock,
    } = *services;
    let params = [
        &request.id_token_hint,
        &request.client_id,
        &request.post_logout_redirect_uri,
        &request.state,
    ];
    if params
        .iter()
        .filter_map(|v| v.as_deref())
        .any(|v| v.len() > MAX_PARAM_CHARS)
    {
        return authorize::logout_error(Status::BadRequest, "The logout request is too large.");
    }
    let hint = match request.id_token_hint.as_deref() {
        Some(hint) => match own_id_token(keys, config, hint) {
            Some(hint) => Some(hint),
            None => {
                return authorize::logout_error(
                    Status::BadRequest,
                    "The id_token_hint was not issued by this server.",
                );
            }
        },
        None => None,
    };
    let client_id = match (hint.as_ref().map(|(_, aud)| aud), request.client_id) {
        (Some(hinted), Some(named)) if *hinted != named => {
            return authorize::logout_error(
                Status::BadRequest,
                "The id_token_hint was issued to another client.",
            );
        }
        (hinted, named) => hinted.cloned().or(named),
    };
    let target_uri = request.post_logout_redirect_uri;
    let target = match target_uri.as_deref() {
        None => None,
        Some(uri) => {
            let client = match client_id.as_deref() {
                Some(id) => match clients.find(id).await {
                    Ok(client) => client,
                    Err(error) => return authorize::database_failure(error),
                },
                None => None,
            };
            let registered = client.as_ref().is_some_and(|c| {
                c.metadata
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return authorize::logout_error(
                    Status::BadRequest,
                    "The post_logout_redirect_uri is not registered for this client.",
                );
            }
            match url::Url::parse(uri) {
                Ok(url) => Some(url),
                Err(_) => {
                    return authorize::logout_error(
                        Status::BadRequest,
                        "The post_logout_redirect_uri is not a valid URL.",
                    );
                }
            }
        }
    };
    let session = match sessions::current(db, jar, clock.now()).await {
        Ok(session) => session,
        Err(error) => return authorize::database_failure(error),
    };
    // A hint names the person it was issued for; one of someone else's
    // (anyone can hold their own) proves nothing about this browser.
    let hinted_here = |session: &sessions::SignIn| {
        hint.as_ref()
            .is_some_and(|(sub, _)| *sub == session.user_id)
    };
    if let Some(session) = session.filter(|s| !confirmed && !hinted_here(s)) {
        let hidden = [
            ("client_id", client_id),
            ("post_logout_redirect_uri", target_uri),
            ("state", request.state),
        ];
        return confirm_page(jar, services, &session, hidden, target.as_ref()).await;
    }
    if let Err(error) = sessions::end(db, jar).await {
        return authorize::database_failure(error);
    }
    match target {
        Some(mut url) => {
            if let Some(state) = request.state {
                url.query_pairs_mut().append_pair("state", &state);
            }
            AuthorizeResponse::Redirect(Redirect::to(url.to_string()))
        }
        None => authorize::signed_out_page(),
    }
}

/// The page asking the signed-in person whether to sign out, its form
/// carrying the request on with a fresh CSRF token.
async fn confirm_page(
    jar: &CookieJar<'_>,
    services: &LogoutServices<'_>,
    session: &sessions::SignIn,
    hidden: [(&'static str, Option<String>); 3],
    target: Option<&url::Url>,
) -> AuthorizeResponse {
    let user = match users::find_by_id(services.db, &session.user_id).await {
        Ok(user) => user,
        Err(error) => return authorize::database_failure(error),
    };
    let view = View::ConfirmSignOut(ConfirmSignOut {
        csrf: csrf::LOGOUT.issue(jar, services.config),
        hidden: hidden
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect(),
        email: user.map(|u| u.email).unwrap_or_default(),
    });
    let page = Page::new(Status::Ok, view);
    // The confirmed form may end in the redirect to the client.
    AuthorizeResponse::Page(match target {
        Some(target) => page.posting_towards(target.as_str()),
        None => page,
    })
}
