//! The OpenAPI 3 document of every route (`/openapi.json`) and Swagger UI
//! (`/docs`), whose Authorize button logs in with the password flow.

use rocket::fairing::AdHoc;
use utoipa::OpenApi;

use crate::config::AppConfig;

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-server", description = "OAuth 2.0 token issuer: users, RS256 JWT access tokens (RFC 9068), JWKS."),
    paths(
        super::signup::signup,
        super::token::token,
        super::token::login,
        super::authorize::authorize_page,
        super::authorize::authorize_submit,
        super::revoke::revoke,
        super::introspect::introspect,
        super::par::par,
        super::userinfo::userinfo_get,
        super::userinfo::userinfo_post,
        super::logout::logout,
        super::logout::logout_submit,
        crate::pages::page::stylesheet,
        super::discovery::jwks,
        super::discovery::oauth_metadata,
        super::discovery::openid_configuration,
        platform::health::health,
        super::health::ready,
        platform::observe::metrics_text,
    ),
    tags(
        (name = "users"), (name = "oauth"), (name = "keys"), (name = "operations"),
    )
)]
struct ApiDoc;

/// The document, with the password flow pointing at our absolute token URL.
pub fn document(config: &AppConfig) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    shared::openapi::add_password_flow(&mut doc, config.endpoint(shared::routes::TOKEN));
    doc
}

pub fn stage() -> AdHoc {
    platform::docs::stage(document)
}
