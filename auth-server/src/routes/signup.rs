//! `POST /signup`: an account made from a JSON body (API.md, "Users"),
//! limited per client address ([`SignupThrottle`], 10 an hour, counted in
//! the database so every instance shares the count).
//!
//! A taken email is answered `409` first, with one lookup and no write. A
//! signup with valid fields for a free email takes its place in the limit
//! before anything is hashed; one the server could not finish gives it back.

use platform::client_addr::ClientAddr;
use rocket::data::Data;
use rocket::http::ContentType;
use rocket::response::Responder;
use rocket::serde::json::Json;
use rocket::{State, post, routes};
use serde::{Deserialize, Deserializer, Serialize};
use shared::clock::{AppClock, rfc3339};
use shared::problem::Problem;

use super::form;
use crate::accounts;
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::store::db::Db;
use crate::store::throttle::SignupThrottle;
use crate::store::users;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("signup", |rocket| async {
        rocket
            .manage(SignupThrottle::default())
            .mount("/", routes![signup])
    })
}

// A member that is missing or not a string is read as absent, so that the
// `422` names it ("is required and must be a string").
/// The signup body. Any other member (`id`, `role`, …) is ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SignupRequest {
    #[serde(default, deserialize_with = "text")]
    #[schema(value_type = String, required = true, example = "ada@example.com")]
    email: Option<String>,
    /// 15 to 128 characters (`PASSWORD_MIN_LENGTH`), not a common password.
    #[serde(default, deserialize_with = "text")]
    #[schema(value_type = String, required = true, example = "violet-harbor-quantum-91x")]
    password: Option<String>,
    /// 1 to 100 characters.
    #[serde(default, deserialize_with = "text")]
    #[schema(value_type = String, required = true, example = "Ada Lovelace")]
    name: Option<String>,
}

/// A JSON string member as text; any other JSON value as absent.
fn text<'de, D: Deserializer<'de>>(value: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(value)?;
    Ok(value.as_str().map(str::to_owned))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Responder)]
#[response(status = 201)]
pub struct Created {
    body: Json<UserResponse>,
    location: rocket::http::Header<'static>,
}

/// Create an account.
#[utoipa::path(
    post, path = "/signup", tag = "users",
    request_body(content = SignupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserResponse,
         headers(("Location" = String, description = "Where the user is"))),
        (status = 400, description = "Not JSON, or a member named twice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "More than 10 signups from this address within the hour", body = Problem,
         content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unreachable, or too many password checks waiting", body = Problem,
         content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/signup", data = "<data>")]
pub async fn signup(
    content_type: Option<&ContentType>,
    data: Data<'_>,
    address: ClientAddr,
    db: &State<Db>,
    config: &State<AppConfig>,
    signups: &State<SignupThrottle>,
    clock: &State<AppClock>,
) -> Result<Created, ApiError> {
    let body = form::json_object(content_type, data).await?;
    // Every member reads as text or absent, so this never fails.
    let request: SignupRequest =
        serde_json::from_value(serde_json::Value::Object(body)).unwrap_or_default();
    let new_user = accounts::validate_signup(
        request.email,
        request.name,
        request.password,
        config.password_min_length,
    )
    .await?;
    let now = clock.0.now();
    // A taken email is answered before the limit is consulted: one lookup,
    // no write, so a flood of such signups costs the database least.
    if users::email_taken(db, &new_user.email).await? {
        return Err(ApiError::Conflict(
            "An account with this email already exists.",
        ));
    }
    let place = match signups.take(db, address.0, now).await? {
        Ok(place) => place,
        Err(retry_after) => {
            metrics::counter!("throttle_refusals_total", "throttle" => "signup").increment(1);
            tracing::warn!(client_ip = ?address.0, "signup refused: too many from this address");
            return Err(ApiError::TooManyRequests(retry_after));
        }
    };
    let inserted = accounts::create(db, new_user, now).await;
    if inserted.is_err()
        && let Err(error) = signups.give_back(db, &place).await
    {
        // The place stays taken until the window ends: the client waits
        // longer, nothing worse.
        tracing::warn!(%error, "giving back a signup place failed");
    }
    let user = inserted?.ok_or(ApiError::Conflict(
        "An account with this email already exists.",
    ))?;
    tracing::info!(user_id = %user.id, "user signed up");
    Ok(Created {
        location: rocket::http::Header::new("Location", format!("/users/{}", user.id)),
        body: Json(UserResponse {
            id: user.id,
            email: user.email,
            name: user.name,
            created_at: rfc3339(user.created_at),
        }),
    })
}
