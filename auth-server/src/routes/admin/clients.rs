//! `/admin/v1/clients`: list, register, read, change and delete clients,
//! and give one a new secret, with the command line's checks and events
//! ([`crate::admin`]).

use rocket::http::{ContentType, Status};
use rocket::response::status::Custom;
use rocket::serde::json::Json;
use rocket::{Data, State, delete, get, patch, post};
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
    /// Back-channel logout: an absolute http(s) URL.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
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
        ("--backchannel-logout-uri", "backchannel_logout_uri"),
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
) -> Result<(ContentType, String), AdminError> {
    caller?;
    let limit = super::limit(limit)?;
    let after = cursor
        .map(|c| Cursor::open(c, LIST, keys))
        .transpose()?
        .map(|c| c.after);
    // Read, sorted and described once per change of the clients.
    let sorted = clients.sorted().await?;
    let all = &sorted.clients;
    let items = sorted.rendered.get_or_init(|| {
        all.iter()
            .map(|client| checks::describe(client).to_string())
            .collect()
    });
    let start = after
        .as_deref()
        .map_or(0, |after| all.partition_point(|c| c.id.as_str() <= after));
    let end = start.saturating_add(limit as usize).min(all.len());
    let next_cursor = match end.checked_sub(1).and_then(|last| all.get(last)) {
        Some(last) if end < all.len() && start < end => Some(
            Cursor {
                list: LIST.into(),
                after: last.id.clone(),
                time: None,
            }
            .seal(keys)?,
        ),
        _ => None,
    };
    // The page as `Page` serializes it, from the items described already.
    let page = items.get(start..end).unwrap_or_default();
    let next_cursor =
        serde_json::to_string(&next_cursor).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut body = String::with_capacity(page.iter().map(|i| i.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"items\":[");
    body.push_str(&page.join(","));
    body.push_str("],\"next_cursor\":");
    body.push_str(&next_cursor);
    body.push('}');
    Ok((ContentType::JSON, body))
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
    .and_then(|new| {
        checks::with_backchannel_logout_uri(new, request.backchannel_logout_uri.as_deref())
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

/// A change of registration: each member given replaces the registered one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChangeRequest {
    pub name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub backchannel_logout_uri: Option<Option<String>>,
}

/// A member that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Change a client's registration, with the checks of `clients create`;
/// every instance uses the change within 2 s.
#[utoipa::path(patch, path = "/admin/v1/clients/{client_id}", tag = "admin",
    params(("client_id" = String, Path)),
    request_body(content = ClientChangeRequest, content_type = "application/json"),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The client as changed"),
              (status = 400, description = "Not a JSON object, or a member named twice", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "A field breaks the registration rules, or a member is unknown", body = Problem, content_type = "application/problem+json")))]
#[patch("/clients/<client_id>", data = "<data>")]
pub async fn update(
    caller: Result<AdminCaller, AdminRefusal>,
    client_id: &str,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    clients: &State<Clients>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    let caller = caller?;
    let body = form::json_object(content_type, data).await?;
    let request: ClientChangeRequest =
        serde_json::from_value(Value::Object(body)).map_err(|e| {
            let what = e.to_string();
            let what = what.split(" at line").next().unwrap_or_default().to_owned();
            invalid("body", what)
        })?;
    let grant_types = match &request.grant_types {
        Some(names) => {
            let mut grants = Vec::new();
            for grant in names {
                grants.push(GrantType::parse(grant).ok_or_else(|| {
                    invalid("grant_types", format!("{grant:?} is not a grant type"))
                })?);
            }
            Some(grants)
        }
        None => None,
    };
    let changes = checks::ClientChanges {
        name: request.name,
        grant_types,
        scope: request.scope,
        redirect_uris: request.redirect_uris,
        audiences: request.audiences,
        post_logout_redirect_uris: request.post_logout_redirect_uris,
        backchannel_logout_uri: request.backchannel_logout_uri,
    };
    match checks::update(clients, client_id, &changes, &caller.actor(), clock.now()).await {
        Ok(Some(client)) => Ok(Json(checks::describe(&client))),
        Ok(None) => Err(ApiError::NotFound.into()),
        Err(checks::ClientError::Invalid(message)) => Err(invalid(field_of(&message), message)),
        Err(checks::ClientError::Database(error)) => Err(error.into()),
    }
}

/// Give a client a new secret, in this answer only; the old one stops
/// working at once.
#[utoipa::path(post, path = "/admin/v1/clients/{client_id}/secret", tag = "admin",
    params(("client_id" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The new secret, shown once"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The client has no secret (public, or private_key_jwt)", body = Problem, content_type = "application/problem+json")))]
#[post("/clients/<client_id>/secret")]
pub async fn rotate_secret(
    caller: Result<AdminCaller, AdminRefusal>,
    client_id: &str,
    clients: &State<Clients>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    let caller = caller?;
    match checks::rotate_secret(clients, client_id, &caller.actor(), clock.now()).await? {
        checks::SecretRotation::Rotated(secret) => Ok(Json(json!({
            "client_id": client_id,
            "client_secret": secret,
        }))),
        checks::SecretRotation::NoSuchClient => Err(ApiError::NotFound.into()),
        checks::SecretRotation::NoSecret => Err(ApiError::Conflict(
            "This client has no secret: it is public or authenticates with private_key_jwt.",
        )
        .into()),
    }
}
