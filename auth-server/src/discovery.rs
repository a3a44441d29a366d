//! What the issuer publishes: its JWK Set (RFC 7517) and its metadata
//! (RFC 8414, also at the OpenID Connect path where clients look first).
//!
//! Both are served from memory, prepared once (the JWKS once per key-set
//! change), so they keep answering while the database is down.

use std::io::Cursor;
use std::sync::Arc;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{State, get, routes};
use shared::jwk::JwkSet;

use crate::config::AppConfig;
use crate::keys::{JwksDocument, KeyStore};

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("discovery", |rocket| async {
        let metadata = rocket
            .state::<AppConfig>()
            .map(ServerMetadata::new)
            .unwrap_or_else(|| ServerMetadata(Arc::from(&b"{}"[..])));
        rocket
            .manage(metadata)
            .mount("/", routes![jwks, oauth_metadata, openid_configuration])
    })
}

/// The grant types the token endpoint really supports.
pub const GRANT_TYPES_SUPPORTED: &[&str] = &[
    "password",
    "client_credentials",
    "authorization_code",
    "refresh_token",
];

/// The RFC 8414 document, serialized once.
#[derive(Debug, Clone)]
pub struct ServerMetadata(Arc<[u8]>);

impl ServerMetadata {
    pub fn new(config: &AppConfig) -> ServerMetadata {
        use shared::routes;
        let document = serde_json::json!({
            "issuer": config.issuer,
            "token_endpoint": config.endpoint(routes::TOKEN),
            "jwks_uri": config.endpoint(routes::JWKS),
            "authorization_endpoint": config.endpoint(routes::AUTHORIZE),
            "revocation_endpoint": config.endpoint(routes::REVOKE),
            "introspection_endpoint": config.endpoint(routes::INTROSPECT),
            "grant_types_supported": GRANT_TYPES_SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "scopes_supported": shared::scope::Scope::ALL.map(|s| s.as_str()),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        });
        ServerMetadata(serde_json::to_vec(&document).unwrap_or_default().into())
    }
}

pub struct JsonBytes {
    body: Arc<[u8]>,
    cache_control: &'static str,
}

impl<'r> Responder<'r, 'static> for JsonBytes {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.body.to_vec();
        Response::build()
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", self.cache_control))
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "keys",
    responses((status = 200, description = "Metadata", body = Object)))]
#[get("/.well-known/oauth-authorization-server")]
pub fn oauth_metadata(metadata: &State<ServerMetadata>) -> JsonBytes {
    JsonBytes {
        body: metadata.0.clone(),
        cache_control: "public, max-age=3600",
    }
}

/// The same metadata at the OpenID Connect discovery path.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "Metadata", body = Object)))]
#[get("/.well-known/openid-configuration")]
pub fn openid_configuration(metadata: &State<ServerMetadata>) -> JsonBytes {
    JsonBytes {
        body: metadata.0.clone(),
        cache_control: "public, max-age=3600",
    }
}

/// The validators of a conditional GET.
pub struct IfNoneMatch(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(IfNoneMatch(
            request
                .headers()
                .get_one("If-None-Match")
                .map(str::to_owned),
        ))
    }
}

impl IfNoneMatch {
    /// RFC 9110 §13.1.2: weak comparison, a list of tags, or `*`.
    fn matches(&self, etag: &str) -> bool {
        let Some(header) = &self.0 else { return false };
        header.split(',').map(str::trim).any(|tag| {
            tag == "*"
                || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
        })
    }
}

pub struct JwksResponse {
    document: JwksDocument,
    not_modified: bool,
    max_age: i64,
}

impl<'r> Responder<'r, 'static> for JwksResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        // A new key is published 2 × max-age before it signs. A cache may
        // serve its copy for max-age, plus stale-if-error while the issuer
        // is unreachable: at most max-age more, so it has seen the new key
        // before it signs.
        let max_age = self.max_age;
        let cache_control = format!(
            "public, max-age={max_age}, stale-while-revalidate={max_age}, stale-if-error={max_age}"
        );
        let mut response = Response::build();
        response
            .header(Header::new("Cache-Control", cache_control))
            .header(Header::new("ETag", self.document.etag.clone()));
        if self.not_modified {
            response.status(Status::NotModified);
        } else {
            // The bytes made when the ring was loaded, shared, not copied.
            let body = self.document.body;
            response
                .header(ContentType::JSON)
                .sized_body(body.len(), Cursor::new(body));
        }
        response.ok()
    }
}

/// The public signing keys (RFC 7517 JWK Set).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    params(("If-None-Match" = Option<String>, Header, description = "ETag of a cached copy")),
    responses(
        (status = 200, description = "Key set", body = JwkSet,
         headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The cached copy is current"),
    ))]
#[get("/.well-known/jwks.json")]
pub fn jwks(
    keys: &State<Arc<KeyStore>>,
    config: &State<AppConfig>,
    if_none_match: IfNoneMatch,
) -> JwksResponse {
    let document = keys.current().jwks.clone();
    let not_modified = if_none_match.matches(&document.etag);
    JwksResponse {
        document,
        not_modified,
        max_age: config.jwks_max_age,
    }
}
