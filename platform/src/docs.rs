//! The OpenAPI 3 document of a service at `/openapi.json` and Swagger UI
//! at `/docs`, the same on both services; each makes its own document from
//! its settings.

use rocket::fairing::AdHoc;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Serves the document that `document` makes from the service's managed
/// settings `C` (at ignite, once).
pub fn stage<C: Send + Sync + 'static>(document: fn(&C) -> OpenApi) -> AdHoc {
    AdHoc::on_ignite("openapi", move |rocket| async move {
        let Some(config) = rocket.state::<C>() else {
            return rocket;
        };
        let doc = document(config);
        rocket.mount("/", SwaggerUi::new("/docs/<_..>").url("/openapi.json", doc))
    })
}
