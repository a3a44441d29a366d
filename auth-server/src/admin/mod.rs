//! Administration: the operations on clients, users and keys that an
//! operator performs, whichever door they come by (the command line, the
//! admin API). Both doors call these, so an operation has one validation,
//! one result and one audit event, recorded in the transaction of the
//! change with who asked ([`Actor`]).

pub mod clients;
pub mod keys;
pub mod registration;
pub mod users;

use std::net::IpAddr;

use serde_json::{Value, json};
use shared::clock::rfc3339;

use crate::accounts::{self, NewUser};
use crate::errors::ApiError;
use crate::store::clients::{ClientAuth, Clients, NewClient};
use crate::store::db::Db;
use crate::store::events::{self, Event, Filter, StoredEvent};
use crate::store::registration_tokens;
use crate::store::users::{self as user_rows, UpdatedUser, User, UserChanges};

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
    /// A third party registering or managing its own client (RFC 7591,
    /// RFC 7592).
    Registration { address: Option<IpAddr> },
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
            Actor::Registration { address } => Event::new(kind)
                .address(*address)
                .detail("by", "registration"),
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
    user_rows::update_user_recorded(db, email, changes, now, access_expires_at, event).await
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
    user_rows::delete_user_recorded(db, email, now, access_expires_at, event).await
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

/// How long an initial access token lives unless asked otherwise: a day.
pub const REGISTRATION_TOKEN_TTL: i64 = 86_400;

/// A new initial access token (RFC 7591 §3), as both doors show it.
#[derive(Debug)]
pub struct RegistrationToken {
    /// Shown once; only its digest is stored.
    pub token: String,
    pub expires_at: i64,
    pub max_uses: i64,
}

impl RegistrationToken {
    pub fn describe(&self) -> Value {
        json!({
            "initial_access_token": self.token,
            "expires_at": rfc3339(self.expires_at),
            "max_uses": self.max_uses,
        })
    }
}

/// Makes an initial access token good for `max_uses` registrations (1 to
/// 1,000,000; default 1) for `expires_in` seconds (60 to 31,536,000;
/// default a day). `422` naming the field otherwise.
pub async fn create_registration_token(
    db: &Db,
    expires_in: Option<i64>,
    max_uses: Option<i64>,
    actor: &Actor,
    now: i64,
) -> Result<RegistrationToken, ApiError> {
    let field = |field: &str, message: &str| {
        ApiError::Validation(vec![shared::problem::FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        }])
    };
    let expires_in = expires_in.unwrap_or(REGISTRATION_TOKEN_TTL);
    if !(60..=31_536_000).contains(&expires_in) {
        return Err(field(
            "expires_in",
            "must be between 60 and 31536000 seconds",
        ));
    }
    let max_uses = max_uses.unwrap_or(1);
    if !(1..=1_000_000).contains(&max_uses) {
        return Err(field("max_uses", "must be between 1 and 1000000"));
    }
    let expires_at = now + expires_in;
    let event = actor.event("registration_token_created");
    let token = registration_tokens::create_recorded(db, expires_at, max_uses, now, event).await?;
    Ok(RegistrationToken {
        token,
        expires_at,
        max_uses,
    })
}
