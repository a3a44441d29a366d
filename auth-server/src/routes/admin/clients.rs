//! `/admin/v1/clients`: list, register, read and delete clients, with the
//! command line's checks and events ([`crate::admin`]).

use rocket::http::{ContentType, Status};
use rocket::response::status::Custom;
use rocket::serde::json::Json;
use rocket::{Data, State, delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::clock::AppClock;
use shared::problem::{FieldError, Problem};
use std::sync::Arc;

use super::{AdminCaller, AdminError, AdminRefusal, Cursor, Page};
use crate::admin::{self, clients as checks};
use crate::errors::ApiError;
use crate::grant_type::GrantType;
use crate::keys::KeyStore;
use crate::routes::form;
use crate::store::clients::{ClientAuth, Clients};

const LIST: &str = "clients";

/// A registration as the admin API takes it: the fields of `clients create`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientRequest {
    pub name: String,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub first_party: bool,
    /// Every token request must carry a DPoP proof (RFC 9449).
    #[serde(default)]
    pub dpop_bound: bool,
}

/// The field of the request a command-line check's message names.
fn field_of(message: &str) -> &'static str {
    let flags = [
        ("--name", "name"),
        ("--grant", "grant_types"),
        ("--scope", "scope"),
        ("--redirect-uri", "redirect_uris"),
        ("--public", "public"),
        ("--audience", "audiences"),
        ("--post-logout-redirect-uri", "post_logout_redirect_uris"),
    ];
    flags
        .iter()
        .filter(|(flag, _)| message.starts_with(flag))
        .max_by_key(|(flag, _)| flag.len())
        .map_or("body", |(_, field)| field)
}

fn invalid(field: &str, message: String) -> AdminError {
    AdminError::Api(ApiError::Validation(vec![FieldError {
        field: field.to_owned(),
        message,
    }]))
}

/// List clients, by client_id, a page at a time.
#[utoipa::path(get, path = "/admin/v1/clients", tag = "admin",
    params(("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
           ("limit" = Option<i64>, Query, description = "1 to 100 (default 100)")),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "A page of clients", body = Page),
              (status = 400, description = "Bad cursor or limit", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json")))]
#[get("/clients?<cursor>&<limit>")]
pub async fn list(
    caller: Result<AdminCaller, AdminRefusal>,
    cursor: Option<&str>,
    limit: Option<i64>,
    clients: &State<Clients>,
    keys: &State<Arc<KeyStore>>,
) -> Result<Json<Page>, AdminError> {
    caller?;
    let limit = super::limit(limit)?;
    let after = cursor
        .map(|c| Cursor::open(c, LIST, keys))
        .transpose()?
        .map(|c| c.after);
    let mut all = clients.list().await?;
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let rest: Vec<_> = all
        .into_iter()
        .filter(|c| after.as_deref().is_none_or(|after| c.id.as_str() > after))
        .collect();
    let page: Vec<_> = rest.iter().take(limit as usize).collect();
    let next_cursor = match page.last() {
        Some(last) if rest.len() > page.len() => Some(
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
        items: page.into_iter().map(checks::describe).collect(),
        next_cursor,
    }))
}

/// Register a client; a confidential client's secret is in this answer only.
#[utoipa::path(post, path = "/admin/v1/clients", tag = "admin",
    request_body(content = NewClientRequest, content_type = "application/json"),
    security(("admin" = ["admin"])),
    responses((status = 201, description = "Registered; the secret is shown once"),
              (status = 400, description = "Not a JSON object, a member named twice or unknown", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A field breaks the registration rules", body = Problem, content_type = "application/problem+json")))]
#[post("/clients", data = "<data>")]
pub async fn create(
    caller: Result<AdminCaller, AdminRefusal>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    clients: &State<Clients>,
    clock: &State<AppClock>,
) -> Result<Custom<Json<Value>>, AdminError> {
    let caller = caller?;
    let body = form::json_object(content_type, data).await?;
    let request: NewClientRequest = serde_json::from_value(Value::Object(body)).map_err(|e| {
        // serde names the unknown or mistyped member; nothing of the body.
        let what = e.to_string();
        let what = what.split(" at line").next().unwrap_or_default().to_owned();
        invalid("body", what)
    })?;
    let mut grants = Vec::new();
    for grant in &request.grant_types {
        let parsed = GrantType::parse(grant)
            .ok_or_else(|| invalid("grant_types", format!("{grant:?} is not a grant type")))?;
        grants.push(parsed);
    }
    // Only the command line hands out the admin API itself.
    if shared::scope::ScopeSet::parse(&request.scope).has(shared::scope::Scope::Admin) {
        return Err(invalid(
            "scope",
            "admin is registered only from the command line".into(),
        ));
    }
    let new = checks::validate(
        &request.name,
        &grants,
        &request.scope,
        &request.redirect_uris,
        request.public,
        request.first_party,
    )
    .and_then(|new| {
        checks::with_targets(new, &request.audiences, &request.post_logout_redirect_uris)
    })
    .map_err(|message| invalid(field_of(&message), message))?;
    let now = clock.now();
    // The admin API registers secret or public clients; key-authenticated
    // ones (`private_key_jwt`) come from the command line for now.
    let mut auth = ClientAuth::by_secret_or_none(new.public);
    auth.dpop_bound = request.dpop_bound;
    let (client_id, secret) =
        admin::create_client(clients, &new, &auth, &caller.actor(), now).await?;
    let created = clients.find(&client_id).await?.ok_or(ApiError::NotFound)?;
    let mut shown = checks::describe(&created);
    shown["client_secret"] = json!(secret);
    Ok(Custom(Status::Created, Json(shown)))
}

/// One client.
#[utoipa::path(get, path = "/admin/v1/clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The client"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json")))]
#[get("/clients/<client_id>")]
pub async fn read(
    caller: Result<AdminCaller, AdminRefusal>,
    client_id: &str,
    clients: &State<Clients>,
) -> Result<Json<Value>, AdminError> {
    caller?;
    let client = clients.find(client_id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(checks::describe(&client)))
}

/// Delete a client; its codes and refresh tokens go with it.
#[utoipa::path(delete, path = "/admin/v1/clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json")))]
#[delete("/clients/<client_id>")]
pub async fn delete(
    caller: Result<AdminCaller, AdminRefusal>,
    client_id: &str,
    clients: &State<Clients>,
    clock: &State<AppClock>,
) -> Result<Status, AdminError> {
    let caller = caller?;
    if admin::delete_client(clients, client_id, &caller.actor(), clock.now()).await? {
        Ok(Status::NoContent)
    } else {
        Err(ApiError::NotFound.into())
    }
}
