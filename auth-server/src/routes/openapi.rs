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
        super::device_authorization::device_authorization,
        super::device::device_page,
        super::device::device_submit,
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
        super::admin::clients::list,
        super::admin::clients::create,
        super::admin::clients::read,
        super::admin::clients::delete,
        super::admin::keys::list,
        super::admin::keys::rotate,
        super::admin::keys::revoke,
        super::admin::events::list,
        super::admin::clients::update,
        super::admin::clients::rotate_secret,
        super::admin::users::list,
        super::admin::users::create,
        super::admin::users::read,
        super::admin::users::update,
        super::admin::users::delete,
        super::admin::registration_tokens::create,
        super::register::register,
        super::register::read,
        super::register::replace,
        super::register::remove,
    ),
    components(schemas(super::admin::Page, super::admin::clients::NewClientRequest, super::admin::clients::ClientChangeRequest, super::admin::users::NewUserRequest, super::admin::users::UserChangeRequest, super::admin::registration_tokens::NewRegistrationToken, crate::admin::registration::Metadata)),
    tags(
        (name = "users"), (name = "oauth"), (name = "keys"), (name = "operations"), (name = "admin"),
    )
)]
struct ApiDoc;

/// The document, with the password flow pointing at our absolute token URL.
pub fn document(config: &AppConfig) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    shared::openapi::add_password_flow(&mut doc, config.endpoint(shared::routes::TOKEN));
    add_admin_flow(&mut doc, config.endpoint(shared::routes::TOKEN));
    doc
}

/// The admin API's scheme: Swagger UI's Authorize offers the client
/// credentials flow, with the id and secret of a client registered with
/// `--scope admin`.
fn add_admin_flow(doc: &mut utoipa::openapi::OpenApi, token_url: String) {
    use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
    let admin = shared::scope::Scope::Admin;
    let scopes = Scopes::from_iter([(admin.as_str(), admin.description())]);
    let flow = Flow::ClientCredentials(ClientCredentials::new(token_url, scopes));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("admin", SecurityScheme::OAuth2(OAuth2::new([flow])));
}

pub fn stage() -> AdHoc {
    platform::docs::stage(document)
}
