//! The token endpoint (`POST /oauth/token`, RFC 6749 §3.2) and its
//! seed-compatible alias `POST /login`: request parsing shared by every
//! grant, dispatch on `grant_type`, and the success response. Each grant
//! lives in a file of its own.

pub mod authorization_code;
pub mod authorize;
pub mod client_credentials;
pub mod codes;
pub mod introspect;
pub mod oidc;
pub mod password;
pub mod pkce;
pub mod primitives;
pub mod refresh;
pub mod refresh_tokens;
pub mod revoke;
pub mod sessions;
pub mod throttle;

use std::collections::HashMap;
use std::io::Cursor;
use std::net::IpAddr;
use std::sync::Arc;

use rocket::data::Data;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{post, routes};
use shared::client_addr::ClientAddr;
use shared::oauth::{OAuthErrorBody, TokenResponse};
use shared::problem::Problem;

use crate::AppClock;
use crate::body::{self, BodyError};
use crate::clients::PresentedCredentials;
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::{ApiError, OAuthError};
use crate::token::{MintedToken, TokenIssuer};
use primitives::GrantSession;
use throttle::LoginThrottle;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("oauth", |rocket| async {
        // The client address (shared::client_addr) reads the trusted proxies
        // from managed state, for the handlers and the request log alike.
        let trusted = rocket
            .state::<AppConfig>()
            .map(|config| config.trusted_proxies.clone())
            .unwrap_or_default();
        rocket
            .manage(trusted)
            .manage(LoginThrottle::default())
            .attach(authorize::security_headers())
            .mount(
                "/",
                routes![
                    token,
                    login,
                    authorize::authorize_page,
                    authorize::authorize_submit,
                    revoke::revoke,
                    introspect::introspect,
                    oidc::userinfo_get,
                    oidc::userinfo_post,
                    oidc::logout
                ],
            )
            .mount("/", crate::pages::routes())
    })
}

/// The form parameters of a token request. RFC 6749 §3.1: parameters sent
/// without a value are treated as omitted, and none may appear twice.
#[derive(Debug, Default)]
pub struct TokenParams(HashMap<String, String>);

impl TokenParams {
    pub fn parse(body: &[u8]) -> Result<TokenParams, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            // PostgreSQL text cannot hold NUL: such a value would reach a
            // query as a database error (500) instead of a clear refusal.
            if name.contains('\0') || value.contains('\0') {
                return Err(OAuthError::invalid_request(
                    "A request parameter contains a NUL character.",
                ));
            }
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(
                    "A request parameter was repeated.",
                ));
            }
        }
        Ok(TokenParams(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or(OAuthError::invalid_request(match name {
                "username" => "The username parameter is required.",
                "password" => "The password parameter is required.",
                "grant_type" => "The grant_type parameter is required.",
                "code" => "The code parameter is required.",
                "redirect_uri" => "The redirect_uri parameter is required.",
                "code_verifier" => "The code_verifier parameter is required.",
                "refresh_token" => "The refresh_token parameter is required.",
                "token" => "The token parameter is required.",
                _ => "A required parameter is missing.",
            }))
    }
}

/// What a grant needs from the request besides its parameters.
pub struct RequestMeta {
    pub authorization: Option<String>,
    /// The TCP peer, or what a trusted proxy says (`TRUSTED_PROXIES`);
    /// never `X-Real-IP` or a forwarding header from anyone else.
    pub client_ip: Option<IpAddr>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestMeta {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(RequestMeta {
            authorization: request
                .headers()
                .get_one("Authorization")
                .map(str::to_owned),
            client_ip: ClientAddr::of(request).0,
        })
    }
}

/// Everything a grant handler works with.
pub struct GrantContext<'a> {
    pub params: TokenParams,
    pub meta: RequestMeta,
    pub db: &'a Db,
    pub config: &'a AppConfig,
    pub issuer: &'a TokenIssuer,
    pub throttle: &'a LoginThrottle,
    pub now: i64,
}

impl<'a> GrantContext<'a> {
    /// The client credentials of the request (Basic header or body).
    pub fn credentials(&self) -> Result<PresentedCredentials, OAuthError> {
        PresentedCredentials::extract(
            self.meta.authorization.as_deref(),
            self.params.get("client_id"),
            self.params.get("client_secret"),
        )
    }

    /// The credentials of a request that must name its client and carry
    /// `required`, checked in that order before any flow runs.
    pub fn named_client(
        &self,
        required: &[&'static str],
    ) -> Result<PresentedCredentials, OAuthError> {
        let presented = self.credentials()?;
        for name in required {
            self.params.require(name)?;
        }
        if presented.client_id.is_none() {
            return Err(OAuthError::invalid_client());
        }
        Ok(presented)
    }

    /// The state oxide-auth's primitives share for this request.
    pub fn session(&self, presented: &PresentedCredentials) -> GrantSession<'a> {
        GrantSession::new(
            self.db,
            self.config,
            self.issuer,
            self.now,
            presented.client_id.clone(),
        )
        .with_resource(self.params.get("resource"))
    }
}

/// The server state every grant works with, taken from Rocket's managed
/// state in one guard so that token-style routes need not list it all.
pub struct GrantServices<'r> {
    db: &'r Db,
    config: &'r AppConfig,
    issuer: &'r TokenIssuer,
    throttle: &'r LoginThrottle,
    clock: &'r AppClock,
}

impl<'r> GrantServices<'r> {
    /// The state oxide-auth's primitives share, for one request.
    pub fn session(&self, presented_client: Option<String>) -> GrantSession<'r> {
        GrantSession::new(
            self.db,
            self.config,
            self.issuer,
            self.clock.0.now(),
            presented_client,
        )
    }

    pub fn context(&self, params: TokenParams, meta: RequestMeta) -> GrantContext<'r> {
        GrantContext {
            params,
            meta,
            db: self.db,
            config: self.config,
            issuer: self.issuer,
            throttle: self.throttle,
            now: self.clock.0.now(),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for GrantServices<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let services = (|| {
            Some(GrantServices {
                db: rocket.state::<Db>()?,
                config: rocket.state::<AppConfig>()?,
                issuer: rocket.state::<Arc<TokenIssuer>>()?,
                throttle: rocket.state::<LoginThrottle>()?,
                clock: rocket.state::<AppClock>()?,
            })
        })();
        match services {
            Some(services) => Outcome::Success(services),
            None => Outcome::Error((Status::InternalServerError, "grant state is not managed")),
        }
    }
}

/// A successful token response (RFC 6749 §5.1): never cached.
#[derive(Debug)]
pub struct TokenSuccess(pub TokenResponse);

impl TokenSuccess {
    pub fn new(minted: MintedToken, scope: String, refresh_token: Option<String>) -> TokenSuccess {
        TokenSuccess(TokenResponse {
            access_token: minted.token,
            token_type: "Bearer".into(),
            expires_in: minted.expires_in,
            scope,
            refresh_token,
            id_token: None,
        })
    }
}

impl<'r> Responder<'r, 'static> for TokenSuccess {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_vec(&self.0).map_err(|_| Status::InternalServerError)?;
        Response::build()
            .status(Status::Ok)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .header(Header::new("Pragma", "no-cache"))
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Failures of the token endpoint: OAuth errors, or a body over the limit.
#[derive(Debug, Responder)]
pub enum TokenFailure {
    OAuth(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for TokenFailure {
    fn from(error: OAuthError) -> Self {
        TokenFailure::OAuth(error)
    }
}

/// Reads the form body of a token-style request.
pub async fn read_form(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<TokenParams, TokenFailure> {
    if !content_type.is_some_and(|ct| *ct == ContentType::Form) {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        )
        .into());
    }
    let bytes = body::read_limited(data).await.map_err(|e| match e {
        BodyError::TooLarge => TokenFailure::Api(ApiError::PayloadTooLarge),
        BodyError::Unreadable => {
            OAuthError::invalid_request("The request body could not be read.").into()
        }
    })?;
    Ok(TokenParams::parse(&bytes)?)
}

/// The form fields of a token request; which are needed depends on `grant_type`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestForm {
    #[schema(example = "password")]
    grant_type: Option<String>,
    /// The email, for the password grant.
    username: Option<String>,
    password: Option<String>,
    /// Space-separated; defaults to everything the user and client may have.
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// RFC 8707: the resource the access token is for (its `aud`):
    /// `AUDIENCE` or one the client was registered with.
    resource: Option<String>,
}

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
    meta: RequestMeta,
    services: GrantServices<'_>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<TokenSuccess, TokenFailure> {
    let params = read_form(content_type, data).await?;
    let grant_type = params.require("grant_type")?.to_owned();
    let context = services.context(params, meta);
    let result = match grant_type.as_str() {
        "password" => password::grant(&context).await,
        "client_credentials" => client_credentials::grant(&context).await,
        "authorization_code" => authorization_code::grant(&context).await,
        "refresh_token" => refresh::grant(&context).await,
        _ => Err(OAuthError::unsupported_grant_type()),
    };
    record_outcome(&grant_type, &result);
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
    meta: RequestMeta,
    services: GrantServices<'_>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<TokenSuccess, TokenFailure> {
    let params = read_form(content_type, data).await?;
    if params.get("grant_type").is_some_and(|g| g != "password") {
        return Err(OAuthError::unsupported_grant_type().into());
    }
    let context = services.context(params, meta);
    let result = password::grant(&context).await;
    record_outcome("password", &result);
    Ok(result?)
}

fn record_outcome(grant_type: &str, result: &Result<TokenSuccess, OAuthError>) {
    let grant = match grant_type {
        "password" | "client_credentials" | "authorization_code" | "refresh_token" => {
            grant_type.to_owned()
        }
        _ => "other".to_owned(),
    };
    match result {
        Ok(_) => metrics::counter!("tokens_issued_total", "grant" => grant).increment(1),
        Err(e) => metrics::counter!("token_requests_failed_total", "grant" => grant, "error" => e.code.as_str())
            .increment(1),
    }
}
