//! The OpenAPI 3 document of every route (`/openapi.json`) and Swagger UI
//! (`/docs`), whose Authorize button logs in with the password flow at the
//! issuer's token endpoint (the issuer allows this origin by CORS).

use rocket::fairing::AdHoc;
use utoipa::OpenApi;
use utoipa::openapi::security::SecurityRequirement;

use crate::config::AppConfig;
use crate::profiles::BY_ID_ALIAS;

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
    // One door serves both paths of a profile by id; the second is
    // documented as the first, for `profiles:read` alone.
    let by_id = doc.paths.paths.get("/profile/{id}").cloned();
    if let Some(mut alias) = by_id {
        if let Some(get) = alias.get.as_mut() {
            get.summary = Some("The same as `GET /profile/{id}`.".into());
            get.description = None;
            get.operation_id = Some("profiles".into());
            get.security = Some(vec![SecurityRequirement::new("oauth2", ["profiles:read"])]);
        }
        doc.paths.paths.insert(BY_ID_ALIAS.into(), alias);
    }
    shared::openapi::add_password_flow(
        &mut doc,
        format!("{}{}", config.issuer, shared::routes::TOKEN),
    );
    doc
}

pub fn stage() -> AdHoc {
    platform::docs::stage(document)
}
