//! `/admin/v1/users`: list, create, read, change and delete accounts, with
//! the command line's rules and events ([`crate::admin::users`]). A new
//! account's password comes in the body; it is never logged nor recorded.

use rocket::http::{ContentType, Status};
use rocket::response::status::Created;
use rocket::serde::json::Json;
use rocket::{Data, State, delete, get, patch, post};
use serde::Deserialize;
use serde_json::Value;
use shared::clock::AppClock;
use shared::problem::{FieldError, Problem};
use std::sync::Arc;

use super::{AdminCaller, AdminError, AdminRefusal, Cursor, Page};
use crate::admin::users::{self as accounts, NewAccount};
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::keys::KeyStore;
use crate::routes::form;
use crate::store::db::Db;

const LIST: &str = "users";

/// A new account: the fields of `users create`, and its password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub email: String,
    /// The part of the email before `@` when absent.
    pub name: Option<String>,
    pub password: String,
    /// Grants `profiles:read`.
    #[serde(default)]
    pub admin: bool,
}

/// A change to an account: the fields of `users update`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangeRequest {
    pub name: Option<String>,
    /// Grant (`true`) or take away (`false`) `profiles:read`; a change
    /// revokes the account's refresh tokens.
    pub admin: Option<bool>,
}

/// A JSON object body read as `T`; an unknown or mistyped member is a
/// `422` naming it, nothing of the body echoed.
async fn body<T: serde::de::DeserializeOwned>(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<T, AdminError> {
    let object = form::json_object(content_type, data).await?;
    serde_json::from_value(Value::Object(object)).map_err(|e| {
        let what = e.to_string();
        let what = what.split(" at line").next().unwrap_or_default().to_owned();
        AdminError::Api(ApiError::Validation(vec![FieldError {
            field: "body".into(),
            message: what,
        }]))
    })
}

/// List accounts by id, optionally the one with an email.
#[utoipa::path(get, path = "/admin/v1/users", tag = "admin",
    params(("email" = Option<String>, Query, description = "only the account with this email"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
           ("limit" = Option<i64>, Query, description = "1 to 100 (default 100)")),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "A page of accounts", body = Page),
              (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json")))]
#[get("/users?<email>&<cursor>&<limit>")]
pub async fn list(
    caller: Result<AdminCaller, AdminRefusal>,
    email: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
    db: &State<Db>,
    keys: &State<Arc<KeyStore>>,
) -> Result<Json<Page>, AdminError> {
    caller?;
    let limit = super::limit(limit)?;
    let after = cursor
        .map(|c| Cursor::open(c, LIST, keys))
        .transpose()?
        .map(|c| c.after);
    // One more than the page tells whether there is a next one.
    let mut found = accounts::list(db, email, after.as_deref(), limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let next_cursor = match found.last() {
        Some(last) if more => Some(
            Cursor {
                list: LIST.into(),
                after: last.id.clone(),
                time: None,
            }
            .seal(keys)?,
        ),
        _ => None,
    };
    Ok(Json(Page {
        items: found.iter().map(accounts::describe).collect(),
        next_cursor,
    }))
}

/// Create an account, as `users create` does.
#[utoipa::path(post, path = "/admin/v1/users", tag = "admin",
    request_body(content = NewUserRequest, content_type = "application/json"),
    security(("admin" = ["admin"])),
    responses((status = 201, description = "Created"),
              (status = 400, description = "Not a JSON object, or a member named twice", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A field breaks the rules of an account", body = Problem, content_type = "application/problem+json")))]
#[post("/users", data = "<data>")]
pub async fn create(
    caller: Result<AdminCaller, AdminRefusal>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    db: &State<Db>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<Created<Json<Value>>, AdminError> {
    let caller = caller?;
    let request: NewUserRequest = body(content_type, data).await?;
    let account = NewAccount {
        email: &request.email,
        name: request.name.as_deref(),
        password: &request.password,
        admin: request.admin,
    };
    let user = accounts::create(
        db,
        account,
        config.password_min_length,
        &caller.actor(),
        clock.now(),
    )
    .await?;
    let location = format!("/admin/v1/users/{}", user.id);
    Ok(Created::new(location).body(Json(accounts::describe(&user))))
}

/// One account.
#[utoipa::path(get, path = "/admin/v1/users/{id}", tag = "admin",
    params(("id" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The account"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json")))]
#[get("/users/<id>")]
pub async fn read(
    caller: Result<AdminCaller, AdminRefusal>,
    id: &str,
    db: &State<Db>,
) -> Result<Json<Value>, AdminError> {
    caller?;
    Ok(Json(accounts::describe(&accounts::find(db, id).await?)))
}

/// Change an account's name or rights, as `users update` does.
#[utoipa::path(patch, path = "/admin/v1/users/{id}", tag = "admin",
    params(("id" = String, Path)),
    request_body(content = UserChangeRequest, content_type = "application/json"),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The account, and the refresh token families the change revoked"),
              (status = 400, description = "Not a JSON object, or a member named twice", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A bad or no change", body = Problem, content_type = "application/problem+json")))]
#[patch("/users/<id>", data = "<data>")]
pub async fn update(
    caller: Result<AdminCaller, AdminRefusal>,
    id: &str,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    db: &State<Db>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    let caller = caller?;
    let request: UserChangeRequest = body(content_type, data).await?;
    let changes = accounts::changes(request.admin, request.name.as_deref())?;
    let user = accounts::find(db, id).await?;
    let updated = accounts::update(
        db,
        &user.email,
        &changes,
        config.access_token_ttl,
        &caller.actor(),
        clock.now(),
    )
    .await?;
    Ok(Json(accounts::describe_change(&updated)))
}

/// Delete an account, as `users delete` does: its refresh tokens are revoked.
#[utoipa::path(delete, path = "/admin/v1/users/{id}", tag = "admin",
    params(("id" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json")))]
#[delete("/users/<id>")]
pub async fn delete(
    caller: Result<AdminCaller, AdminRefusal>,
    id: &str,
    db: &State<Db>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<Status, AdminError> {
    let caller = caller?;
    let user = accounts::find(db, id).await?;
    accounts::delete(
        db,
        &user.email,
        config.access_token_ttl,
        &caller.actor(),
        clock.now(),
    )
    .await?;
    Ok(Status::NoContent)
}
