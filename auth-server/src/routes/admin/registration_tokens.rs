//! `/admin/v1/registration-tokens`: initial access tokens for dynamic
//! client registration (RFC 7591 §3), as `registration-tokens create`
//! makes them ([`crate::admin::create_registration_token`]).

use rocket::http::{ContentType, Status};
use rocket::response::status::Custom;
use rocket::serde::json::Json;
use rocket::{Data, State, post};
use serde::Deserialize;
use serde_json::Value;
use shared::clock::AppClock;
use shared::problem::{FieldError, Problem};

use super::{AdminCaller, AdminError, AdminRefusal};
use crate::admin;
use crate::errors::ApiError;
use crate::routes::form;
use crate::store::db::Db;

/// What a new initial access token allows; both optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegistrationToken {
    /// Seconds it lives: 60 to 31536000 (default 86400).
    pub expires_in: Option<i64>,
    /// Registrations it allows: 1 to 1000000 (default 1).
    pub max_uses: Option<i64>,
}

/// Make an initial access token; it is in this answer only.
#[utoipa::path(post, path = "/admin/v1/registration-tokens", tag = "admin",
    request_body(content = NewRegistrationToken, content_type = "application/json"),
    security(("admin" = ["admin"])),
    responses((status = 201, description = "The token (shown once), its expiry and uses"),
              (status = 400, description = "Not a JSON object, or a member named twice", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A bad expiry or number of uses, or an unknown member", body = Problem, content_type = "application/problem+json")))]
#[post("/registration-tokens", data = "<data>")]
pub async fn create(
    caller: Result<AdminCaller, AdminRefusal>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    db: &State<Db>,
    clock: &State<AppClock>,
) -> Result<Custom<Json<Value>>, AdminError> {
    let caller = caller?;
    let body = form::json_object(content_type, data).await?;
    let request: NewRegistrationToken =
        serde_json::from_value(Value::Object(body)).map_err(|e| {
            let what = e.to_string();
            let what = what.split(" at line").next().unwrap_or_default().to_owned();
            ApiError::Validation(vec![FieldError {
                field: "body".into(),
                message: what,
            }])
        })?;
    let token = admin::create_registration_token(
        db,
        request.expires_in,
        request.max_uses,
        &caller.actor(),
        clock.now(),
    )
    .await?;
    Ok(Custom(Status::Created, Json(token.describe())))
}
