//! The signing keys as both doors show and change them: the list with
//! each key's state and times, a rotation, a revocation. The changes are
//! [`crate::keys::schedule`]'s, which records their events.

use serde_json::{Value, json};
use shared::clock::rfc3339;

use crate::keys::lifecycle::{Entry, KeyState, REMOVED_LISTED};
use crate::keys::rows::read_keys;
use crate::keys::schedule::{self, Revocation, Rotation, When};
use crate::keys::{KeyStore, KeyStoreError};
use crate::store::db::Db;

/// Every key, the latest activated first; removed ones for
/// [`REMOVED_LISTED`] after their removal.
pub async fn list(db: &Db, now: i64) -> Result<Vec<Entry>, sqlx::Error> {
    let mut entries: Vec<Entry> = read_keys(&db.pool)
        .await?
        .into_iter()
        .map(|r| r.entry)
        // Tombstones stay in the table for good; the list shows them for
        // a while.
        .filter(|e| {
            e.state(now) != KeyState::Removed
                || e.removed_at.is_some_and(|t| t + REMOVED_LISTED > now)
        })
        .collect();
    entries.sort_by(|a, b| b.activates_at.cmp(&a.activates_at).then(a.kid.cmp(&b.kid)));
    Ok(entries)
}

/// A key as both doors show it.
pub fn describe(entry: &Entry, now: i64) -> Value {
    json!({
        "kid": entry.kid,
        "state": entry.state(now).as_str(),
        "created_at": rfc3339(entry.created_at),
        "activates_at": rfc3339(entry.activates_at),
        "retires_at": entry.retires_at.map(rfc3339),
        "removed_at": entry.removed_at.map(rfc3339),
    })
}

/// A rotation as both doors show it: the new key and those it retires.
pub fn describe_rotation(rotation: &Rotation, now: i64) -> Value {
    json!({
        "new": describe(&rotation.new, now),
        "retiring": rotation.retiring.iter().map(|e| describe(e, now)).collect::<Vec<_>>(),
    })
}

/// Starts a rotation now (refused while one is under way).
pub async fn rotate(
    keys: &KeyStore,
    publish_lead: i64,
    access_token_ttl: i64,
    now: i64,
) -> Result<Option<Rotation>, KeyStoreError> {
    let kek = keys.kek();
    schedule::rotate(
        keys.db(),
        &kek,
        When::Now,
        now,
        publish_lead,
        access_token_ttl,
    )
    .await
}

/// Removes a key at once; another signs from now on.
pub async fn revoke(keys: &KeyStore, kid: &str, now: i64) -> Result<Revocation, KeyStoreError> {
    schedule::revoke(keys.db(), &keys.kek(), kid, now).await
}
