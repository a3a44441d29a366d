//! Liveness, the same on both services: `GET /health` answers while the
//! process runs. Readiness differs by
//! service (what it depends on), so each mounts its own `/ready`.

use rocket::get;
use rocket::serde::json::{Json, Value, json};

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/health")]
pub fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
