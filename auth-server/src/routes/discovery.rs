//! What the issuer publishes: its JWK Set (RFC 7517), its RFC 8414
//! metadata, and the OpenID Provider Metadata (the same members and the
//! OpenID ones) at the path where OpenID clients look.
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
use crate::grant_type::GrantType;
use crate::keys::{JwksDocument, KeyStore};

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("discovery", |rocket| async {
        let metadata = rocket
            .state::<AppConfig>()
            .map(ServerMetadata::new)
            .unwrap_or_else(|| ServerMetadata(Arc::from(&b"{}"[..])));
        let openid = rocket
            .state::<AppConfig>()
            .map(OpenIdMetadata::new)
            .unwrap_or_else(|| OpenIdMetadata(Arc::from(&b"{}"[..])));
        rocket
            .manage(metadata)
            .manage(openid)
            .mount("/", routes![jwks, oauth_metadata, openid_configuration])
    })
}

/// The RFC 8414 document, serialized once.
#[derive(Debug, Clone)]
pub struct ServerMetadata(Arc<[u8]>);

impl ServerMetadata {
    pub fn new(config: &AppConfig) -> ServerMetadata {
        let document = oauth_document(config);
        ServerMetadata(serde_json::to_vec(&document).unwrap_or_default().into())
    }
}

/// The RFC 8414 members. Its `scopes_supported` lists the resource scopes
/// only, what a plain OAuth client may ask of the APIs (the tests of the
/// document hold it to that); the OpenID document adds the identity ones.
fn oauth_document(config: &AppConfig) -> serde_json::Value {
    use shared::routes;
    use shared::scope::Scope;
    let resource_scopes: Vec<&str> = Scope::ALL
        .iter()
        .filter(|s| !Scope::IDENTITY.contains(s))
        .map(|s| s.as_str())
        .collect();
    serde_json::json!({
            "issuer": config.issuer,
            "token_endpoint": config.endpoint(routes::TOKEN),
            "jwks_uri": config.endpoint(routes::JWKS),
            "authorization_endpoint": config.endpoint(routes::AUTHORIZE),
            "revocation_endpoint": config.endpoint(routes::REVOKE),
            "introspection_endpoint": config.endpoint(routes::INTROSPECT),
            "device_authorization_endpoint": config.endpoint("/oauth/device_authorization"),
            "grant_types_supported": GrantType::ALL,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "scopes_supported": resource_scopes,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
            "code_challenge_methods_supported": ["S256"],
            "pushed_authorization_request_endpoint": config.endpoint("/oauth/par"),
            "require_pushed_authorization_requests": config.require_par,
            "registration_endpoint": config.endpoint(super::register::REGISTER),
            "dpop_signing_alg_values_supported": crate::oauth::dpop::DPOP_ALGORITHMS,
    })
}

/// OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3), serialized
/// once: the RFC 8414 members plus what an OpenID relying party needs.
#[derive(Debug, Clone)]
pub struct OpenIdMetadata(Arc<[u8]>);

impl OpenIdMetadata {
    pub fn new(config: &AppConfig) -> OpenIdMetadata {
        let mut document = oauth_document(config);
        let scopes: Vec<&str> = shared::scope::Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        if let Some(members) = document.as_object_mut() {
            for (name, value) in [
                ("scopes_supported", serde_json::json!(scopes)),
                (
                    "userinfo_endpoint",
                    config.endpoint("/oauth/userinfo").into(),
                ),
                (
                    "end_session_endpoint",
                    config.endpoint("/oauth/logout").into(),
                ),
                ("subject_types_supported", serde_json::json!(["public"])),
                (
                    "id_token_signing_alg_values_supported",
                    serde_json::json!(["RS256"]),
                ),
                (
                    "userinfo_signing_alg_values_supported",
                    serde_json::json!(["none"]),
                ),
                (
                    "claims_supported",
                    serde_json::json!(crate::oauth::id_token::CLAIMS_SUPPORTED),
                ),
                ("claims_parameter_supported", false.into()),
                ("request_parameter_supported", false.into()),
                ("request_uri_parameter_supported", false.into()),
                (
                    "prompt_values_supported",
                    serde_json::json!(["none", "login", "consent"]),
                ),
                ("resource_indicators_supported", true.into()),
                // Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`.
                ("backchannel_logout_supported", true.into()),
                ("backchannel_logout_session_supported", true.into()),
            ] {
                members.insert(name.to_owned(), value);
            }
        }
        OpenIdMetadata(serde_json::to_vec(&document).unwrap_or_default().into())
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

/// OpenID Provider Metadata (OpenID Connect Discovery 1.0).
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "Metadata", body = Object)))]
#[get("/.well-known/openid-configuration")]
pub fn openid_configuration(metadata: &State<OpenIdMetadata>) -> JsonBytes {
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
