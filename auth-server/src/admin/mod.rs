//! Administration: the operations on clients, users and keys that an
//! operator performs, whichever door they come by (the command line, the
//! admin API). Both doors call these, so an operation has one validation,
//! one result and one audit event, recorded in the transaction of the
//! change with who asked ([`Actor`]).

pub mod clients;
pub mod keys;

use std::net::IpAddr;

use serde_json::{Value, json};
use shared::clock::rfc3339;

use crate::accounts::{self, NewUser};
use crate::errors::ApiError;
use crate::store::clients::{ClientAuth, Clients, NewClient};
use crate::store::db::Db;
use crate::store::events::{self, Event, Filter, StoredEvent};
use crate::store::users::{self, UpdatedUser, User, UserChanges};

/// Who asked for a change, as its event records it.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An operator at the command line (`auth-server clients …`).
    CommandLine,
    /// A client holding the `admin` scope, through `/admin/v1/`.
    AdminApi {
        client_id: String,
        address: Option<IpAddr>,
    },
}

impl Actor {
    /// A `kind` event naming this actor.
    pub fn event(&self, kind: &'static str) -> Event {
        match self {
            Actor::CommandLine => Event::new(kind).detail("by", "command_line"),
            Actor::AdminApi { client_id, address } => Event::new(kind)
                .address(*address)
                .detail("by", "admin_api")
                .detail("admin_client_id", client_id.as_str()),
        }
    }
}

/// Registers a client: its id and, for a confidential one, its secret
/// (shown once, stored hashed).
pub async fn create_client(
    clients: &Clients,
    new: &NewClient,
    auth: &ClientAuth,
    actor: &Actor,
    now: i64,
) -> Result<(String, Option<String>), sqlx::Error> {
    clients
        .create_recorded(new, auth, now, actor.event("client_created"))
        .await
}

/// Deletes a client; `false` when there is none.
pub async fn delete_client(
    clients: &Clients,
    client_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<bool, sqlx::Error> {
    clients
        .delete_recorded(client_id, now, actor.event("client_deleted"))
        .await
}

/// Creates an account; `None` when the email is taken.
pub async fn create_user(
    db: &Db,
    user: NewUser,
    actor: &Actor,
    now: i64,
) -> Result<Option<User>, ApiError> {
    accounts::create_recorded(db, user, now, actor.event("user_created")).await
}

/// Changes an account's rights or name; `None` when there is none. A
/// change of rights revokes its refresh token families.
pub async fn update_user(
    db: &Db,
    email: &str,
    changes: &UserChanges,
    actor: &Actor,
    now: i64,
    access_expires_at: i64,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let event = actor.event("user_updated");
    users::update_user_recorded(db, email, changes, now, access_expires_at, event).await
}

/// Deletes an account and revokes its refresh token families.
pub async fn delete_user(
    db: &Db,
    email: &str,
    actor: &Actor,
    now: i64,
    access_expires_at: i64,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let event = actor.event("user_deleted");
    users::delete_user_recorded(db, email, now, access_expires_at, event).await
}

/// A page of audit events, newest first.
pub async fn list_events(db: &Db, filter: &Filter) -> Result<Vec<StoredEvent>, sqlx::Error> {
    events::list(db, filter).await
}

/// An event as both doors show it: its time in RFC 3339.
pub fn describe_event(event: &StoredEvent) -> Value {
    json!({
        "id": event.id,
        "time": rfc3339(event.time),
        "type": event.kind,
        "instance": event.instance,
        "client_address": event.client_address,
        "client_id": event.client_id,
        "subject": event.subject,
        "details": event.details,
    })
}

/// An RFC 3339 time (`--since`, `?since=`) in Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}
