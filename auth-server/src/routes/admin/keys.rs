//! `/admin/v1/keys`: the signing keys, a rotation, a revocation; the same
//! operations and events as `auth-server keys`.

use std::sync::Arc;

use rocket::serde::json::Json;
use rocket::{State, get, post};
use serde_json::Value;
use shared::clock::AppClock;
use shared::problem::Problem;

use super::{AdminCaller, AdminError, AdminRefusal};
use crate::admin::keys as admin_keys;
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::keys::{KeyStore, KeyStoreError};

fn refused(error: KeyStoreError) -> AdminError {
    match error {
        KeyStoreError::RotationPending { .. } => {
            ApiError::Conflict("A rotation is already under way.").into()
        }
        KeyStoreError::UnknownKid(_) => ApiError::NotFound.into(),
        other => ApiError::Internal(other.to_string()).into(),
    }
}

/// Every key with its state and times.
#[utoipa::path(get, path = "/admin/v1/keys", tag = "admin",
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The keys, the latest activated first"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json")))]
#[get("/keys")]
pub async fn list(
    caller: Result<AdminCaller, AdminRefusal>,
    keys: &State<Arc<KeyStore>>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    caller?;
    let now = clock.now();
    let entries = admin_keys::list(keys.db(), now).await?;
    let items: Vec<Value> = entries
        .iter()
        .map(|e| admin_keys::describe(e, now))
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// Start a rotation: a new key is published now and signs after the lead.
#[utoipa::path(post, path = "/admin/v1/keys/rotate", tag = "admin",
    security(("admin" = ["admin"])),
    responses((status = 200, description = "The new key and those it retires"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "A rotation is under way", body = Problem, content_type = "application/problem+json")))]
#[post("/keys/rotate")]
pub async fn rotate(
    caller: Result<AdminCaller, AdminRefusal>,
    keys: &State<Arc<KeyStore>>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    caller?;
    let now = clock.now();
    let rotation = admin_keys::rotate(keys, config.publish_lead(), config.access_token_ttl, now)
        .await
        .map_err(refused)?
        .ok_or(ApiError::Conflict("A rotation is already under way."))?;
    // This instance publishes it at once; the others at their next poll.
    if let Err(error) = keys.reload(now).await {
        tracing::warn!(%error, "re-reading the keys after a rotation failed");
    }
    Ok(Json(admin_keys::describe_rotation(&rotation, now)))
}

/// Remove a (compromised) key at once.
#[utoipa::path(post, path = "/admin/v1/keys/{kid}/revoke", tag = "admin",
    params(("kid" = String, Path)),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "Revoked; the key that signs from now on"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json")))]
#[post("/keys/<kid>/revoke")]
pub async fn revoke(
    caller: Result<AdminCaller, AdminRefusal>,
    kid: &str,
    keys: &State<Arc<KeyStore>>,
    clock: &State<AppClock>,
) -> Result<Json<Value>, AdminError> {
    caller?;
    let now = clock.now();
    let revocation = admin_keys::revoke(keys, kid, now).await.map_err(refused)?;
    if let Err(error) = keys.reload(now).await {
        tracing::warn!(%error, "re-reading the keys after a revocation failed");
    }
    Ok(Json(serde_json::json!({
        "revoked": admin_keys::describe(&revocation.revoked, now),
        "signing": admin_keys::describe(&revocation.signing, now),
    })))
}
