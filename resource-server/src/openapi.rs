//! The OpenAPI 3 document of every route (`/openapi.json`) and Swagger UI
//! (`/docs`), whose Authorize button logs in with the password flow at the
//! issuer's token endpoint (the issuer allows this origin by CORS).

use rocket::fairing::AdHoc;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::AppConfig;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "resource-server",
        description = "Profile API that trusts only the issuer's published keys (RFC 9068 access tokens, RFC 6750 errors)."
    ),
    paths(
        crate::profiles::me,
        crate::profiles::update_me,
        crate::profiles::profile,
        crate::profiles::profiles,
        platform::health::health,
        crate::health::ready,
        platform::observe::metrics_text,
    ),
    tags((name = "profiles"), (name = "operations"))
)]
struct ApiDoc;

/// The document, with the password flow pointing at the issuer.
pub fn document(config: &AppConfig) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    shared::openapi::add_password_flow(
        &mut doc,
        format!("{}{}", config.issuer, shared::routes::TOKEN),
    );
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
