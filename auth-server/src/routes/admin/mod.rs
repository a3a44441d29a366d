//! The admin API (`/admin/v1/`, API.md "Admin API"): JSON doors onto the
//! operations of [`crate::admin`], which the command line calls too. The
//! caller is a client holding an access token of this issuer with the
//! `admin` scope ([`AdminCaller`]), checked by the workspace's one JWS
//! verifier over the local ring, unexpired and unrevoked. Errors are
//! problem+json; lists are paged by an opaque cursor ([`Cursor`]).
//!
//! A caller's token presented again is not verified again: the verdict is
//! remembered while its key stays in the ring (`oauth::own_tokens`). Its
//! revocation is looked up in the remembered view of `store::revocations`:
//! a token revoked at this instance is refused by the next request, one
//! revoked at another instance within 2 seconds (docs/operations.md).

pub mod clients;
pub mod events;
pub mod keys;
pub mod registration_tokens;
pub mod users;

use std::net::IpAddr;
use std::sync::Arc;

use platform::client_addr::ClientAddr;
use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder};
use rocket::routes;
use serde::{Deserialize, Serialize};
use shared::clock::AppClock;
use shared::problem::Problem;
use shared::scope::{Scope, ScopeSet};

use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::keys::KeyStore;
use crate::oauth::own_tokens::own_access_token;
use crate::store::clients::Clients;
use crate::store::db::Db;
use crate::store::revocations;

/// The admin API's routes.
pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("admin api", |rocket| async {
        rocket.mount(
            "/admin/v1",
            routes![
                clients::list,
                clients::create,
                clients::read,
                clients::delete,
                keys::list,
                keys::rotate,
                keys::revoke,
                events::list,
                clients::update,
                clients::rotate_secret,
                users::list,
                users::create,
                users::read,
                users::update,
                users::delete,
                registration_tokens::create,
            ],
        )
    })
}

/// A client proven to hold `admin`.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub client_id: String,
    pub address: Option<IpAddr>,
}

impl AdminCaller {
    pub fn actor(&self) -> crate::admin::Actor {
        crate::admin::Actor::AdminApi {
            client_id: self.client_id.clone(),
            address: self.address,
        }
    }
}

/// Why a caller may not use the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// No `Authorization: Bearer` token.
    Missing,
    /// A token that is not a live access token of ours.
    InvalidToken,
    /// A live token without the `admin` scope.
    InsufficientScope,
    /// The revocation list could not be read.
    Unavailable,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AdminCaller {
    type Error = AdminRefusal;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match admin_caller(request).await {
            Ok(caller) => Outcome::Success(caller),
            Err(refusal) => Outcome::Error((refusal.status(), refusal)),
        }
    }
}

async fn admin_caller(request: &Request<'_>) -> Result<AdminCaller, AdminRefusal> {
    let rocket = request.rocket();
    let (Some(keys), Some(config), Some(db), Some(clock), Some(clients)) = (
        rocket.state::<Arc<KeyStore>>(),
        rocket.state::<AppConfig>(),
        rocket.state::<Db>(),
        rocket.state::<AppClock>(),
        rocket.state::<Clients>(),
    ) else {
        return Err(AdminRefusal::Unavailable);
    };
    let mut values = request.headers().get("Authorization");
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(AdminRefusal::Missing);
    };
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(AdminRefusal::Missing),
    };
    let claims = own_access_token(keys, config, token).ok_or(AdminRefusal::InvalidToken)?;
    let now = clock.now();
    if claims.exp <= now || claims.nbf > now {
        return Err(AdminRefusal::InvalidToken);
    }
    let revoked = revocations::is_revoked(db, &claims.jti)
        .await
        .map_err(|_| AdminRefusal::Unavailable)?;
    if revoked {
        return Err(AdminRefusal::InvalidToken);
    }
    // Only a client acting for itself holds `admin` (client credentials).
    if !ScopeSet::parse(&claims.scope).has(Scope::Admin) || claims.sub != claims.client_id {
        return Err(AdminRefusal::InsufficientScope);
    }
    // Deleting the client, or taking `admin` from it, ends what its tokens
    // open, as revoking them does: its registration is read as every
    // client read is (from memory; a change made at another instance is
    // seen within 2 seconds).
    match clients.find(&claims.client_id).await {
        Ok(Some(client)) if client.metadata.scopes.has(Scope::Admin) => {}
        Ok(_) => return Err(AdminRefusal::InvalidToken),
        Err(_) => return Err(AdminRefusal::Unavailable),
    }
    Ok(AdminCaller {
        client_id: claims.client_id,
        address: ClientAddr::of(request).0,
    })
}

impl AdminRefusal {
    fn status(self) -> Status {
        match self {
            AdminRefusal::Missing | AdminRefusal::InvalidToken => Status::Unauthorized,
            AdminRefusal::InsufficientScope => Status::Forbidden,
            AdminRefusal::Unavailable => Status::ServiceUnavailable,
        }
    }
}

/// Every answer of the admin API that is not a success.
#[derive(Debug)]
pub enum AdminError {
    Refused(AdminRefusal),
    Api(ApiError),
}

impl From<AdminRefusal> for AdminError {
    fn from(refusal: AdminRefusal) -> AdminError {
        AdminError::Refused(refusal)
    }
}

impl From<ApiError> for AdminError {
    fn from(error: ApiError) -> AdminError {
        AdminError::Api(error)
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(error: sqlx::Error) -> AdminError {
        AdminError::Api(ApiError::Database(error))
    }
}

const REALM: &str = "admin";

impl<'r> Responder<'r, 'static> for AdminError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let refusal = match self {
            AdminError::Api(error) => return error.respond_to(request),
            AdminError::Refused(refusal) => refusal,
        };
        // RFC 6750 §3: the challenge says why; the body never echoes the token.
        let (detail, challenge) = match refusal {
            AdminRefusal::Missing => (
                "An access token with the admin scope is required.",
                format!("Bearer realm=\"{REALM}\""),
            ),
            AdminRefusal::InvalidToken => (
                "The access token is invalid, expired or revoked.",
                format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
            ),
            AdminRefusal::InsufficientScope => (
                "insufficient_scope: the access token does not carry the admin scope.",
                format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"admin\""),
            ),
            AdminRefusal::Unavailable => {
                return ApiError::Unavailable.respond_to(request);
            }
        };
        let mut response = Problem::new(refusal.status().code, detail).respond_to(request)?;
        response.set_header(Header::new("WWW-Authenticate", challenge));
        Ok(response)
    }
}

/// The longest page, and the default.
pub const MAX_LIMIT: i64 = 100;

/// Where the next page of a list starts, handed to the caller sealed under
/// the key-encryption key: opaque, the same at every instance, and any
/// change to it is refused (`400`) rather than read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursor {
    /// Which list it pages (a cursor of one list is refused by another).
    pub list: String,
    /// The sort key of the last item given.
    pub after: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// What a cursor's seal is bound to, so that no other sealed value opens
/// as a cursor.
const CURSOR_AAD: &str = "admin-api-cursor";

impl Cursor {
    pub fn seal(&self, keys: &KeyStore) -> Result<String, ApiError> {
        let plain = serde_json::to_vec(self).map_err(|e| ApiError::Internal(e.to_string()))?;
        keys.kek()
            .seal(CURSOR_AAD, &plain)
            .map_err(|_| ApiError::Internal("cannot seal a cursor".into()))
    }

    /// The cursor `sealed` of `list`, or `400`.
    pub fn open(sealed: &str, list: &str, keys: &KeyStore) -> Result<Cursor, ApiError> {
        let invalid = ApiError::BadRequest("The cursor is not one this server gave.");
        if sealed.len() > 1024 {
            return Err(invalid);
        }
        let plain = keys.kek().open(CURSOR_AAD, sealed).map_err(|_| invalid)?;
        let cursor: Cursor = serde_json::from_slice(&plain)
            .map_err(|_| ApiError::BadRequest("The cursor is not one this server gave."))?;
        if cursor.list != list {
            return Err(ApiError::BadRequest(
                "The cursor is not one this server gave.",
            ));
        }
        Ok(cursor)
    }
}

/// `?limit=`: 1 to [`MAX_LIMIT`], else `400`.
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(MAX_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest("limit must be between 1 and 100.")),
    }
}

/// A page of a list: its items and, when there may be more, the cursor of
/// the next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}
