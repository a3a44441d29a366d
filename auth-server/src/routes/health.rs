//! Liveness (`/health`, the same on both services: the process answers) and
//! readiness (`/ready`: the database answers too), for load balancers and
//! Kubernetes probes.

use platform::health::health;
use rocket::serde::json::{Json, Value, json};
use rocket::{State, get, routes};

use crate::errors::ApiError;
use crate::store::db::Db;
use shared::problem::Problem;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("health", |rocket| async {
        rocket.mount("/", routes![health, ready])
    })
}

/// Readiness: 200 only while the database answers.
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ready")]
pub async fn ready(db: &State<Db>) -> Result<Json<Value>, ApiError> {
    if db.is_ready().await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable)
    }
}
