//! Liveness and readiness. `/health` answers while the process runs;
//! `/ready` only while the database answers and the JWKS cache can verify
//! tokens (loaded, and not stale beyond the hard limit).

use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::serde::json::{Json, Value, json};
use rocket::{State, get, routes};
use shared::jwks_cache::CacheHealth;
use shared::problem::Problem;

use platform::health::health;

use crate::auth::Keys;
use crate::db::Db;

pub fn stage() -> AdHoc {
    AdHoc::on_ignite("health", |rocket| async {
        rocket.mount("/", routes![health, ready])
    })
}

/// Readiness: 200 only while the database answers and the issuer's keys
/// are loaded and not stale beyond the hard limit.
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Database unreachable or keys unusable", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ready")]
pub async fn ready(db: &State<Db>, keys: &State<Keys>) -> Result<Json<Value>, Problem> {
    let database = platform::db::is_reachable(&db.0).await;
    let jwks = keys.0.health();
    let jwks_label = match jwks {
        CacheHealth::Empty => "not loaded",
        CacheHealth::Fresh { .. } => "fresh",
        CacheHealth::Stale { .. } => "stale",
        CacheHealth::Expired { .. } => "expired",
    };
    if database && jwks.is_serving() {
        return Ok(Json(
            json!({"status": "ready", "database": "ok", "jwks": jwks_label}),
        ));
    }
    let detail = match (database, jwks.is_serving()) {
        (false, false) => "The database is unreachable and the issuer's keys are not usable.",
        (false, true) => "The database is unreachable.",
        _ => "The issuer's keys are not loaded or are stale beyond the limit.",
    };
    Err(Problem::new(Status::ServiceUnavailable.code, detail))
}
