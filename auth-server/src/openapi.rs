//! The OpenAPI 3 document of every route (`/openapi.json`) and Swagger UI
//! (`/docs`), whose Authorize button logs in with the password flow.

use rocket::fairing::AdHoc;
use utoipa::OpenApi;
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::AppConfig;

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-server", description = "OAuth 2.0 token issuer: users, RS256 JWT access tokens (RFC 9068), JWKS."),
    paths(
        crate::users::signup,
        crate::oauth::token,
        crate::oauth::login,
        crate::oauth::authorize::authorize_page,
        crate::oauth::authorize::authorize_submit,
        crate::oauth::revoke::revoke,
        crate::oauth::introspect::introspect,
        crate::discovery::jwks,
        crate::discovery::oauth_metadata,
        crate::discovery::openid_configuration,
        crate::health::health,
        crate::health::ready,
        metrics,
    ),
    tags(
        (name = "users"), (name = "oauth"), (name = "keys"), (name = "operations"),
    )
)]
struct ApiDoc;

/// Prometheus metrics (served by `shared::observe`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[allow(dead_code)]
fn metrics() {}

/// The document, with the password flow pointing at our absolute token URL.
pub fn document(config: &AppConfig) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let scopes = Scopes::from_iter(shared::scope::Scope::ALL.map(|s| {
        (
            s.as_str(),
            match s {
                shared::scope::Scope::ProfileRead => "Read your own profile",
                shared::scope::Scope::ProfileWrite => "Change your own profile",
                shared::scope::Scope::ProfilesRead => "Read any profile (admins)",
            },
        )
    }));
    let flow = Flow::Password(Password::new(
        config.endpoint(shared::routes::TOKEN),
        scopes,
    ));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("oauth2", SecurityScheme::OAuth2(OAuth2::new([flow])));
    doc
}

pub fn stage() -> AdHoc {
    AdHoc::on_ignite("openapi", |rocket| async {
        let Some(config) = rocket.state::<AppConfig>() else {
            return rocket;
        };
        let doc = document(config);
        rocket.mount("/", SwaggerUi::new("/docs/<_..>").url("/openapi.json", doc))
    })
}
