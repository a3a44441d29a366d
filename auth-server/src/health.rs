//! Liveness (`/health`: the process answers) and readiness (`/ready`: the
//! database answers too), for load balancers and Kubernetes probes.

use rocket::serde::json::{Json, Value, json};
use rocket::{State, get, routes};

use crate::db::Db;
use crate::error::ApiError;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("health", |rocket| async {
        rocket.mount("/", routes![health, ready])
    })
}

#[get("/health")]
fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[get("/ready")]
async fn ready(db: &State<Db>) -> Result<Json<Value>, ApiError> {
    if db.is_ready().await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable)
    }
}
