//! `GET /admin/v1/events`: the audit trail, newest first, as
//! `auth-server events list` reads it.

use std::sync::Arc;

use rocket::serde::json::Json;
use rocket::{State, get};
use shared::problem::Problem;

use super::{AdminCaller, AdminError, AdminRefusal, Cursor, Page};
use crate::admin;
use crate::errors::ApiError;
use crate::keys::KeyStore;
use crate::store::db::Db;
use crate::store::events::{After, Filter};

const LIST: &str = "events";

/// Audit events, newest first, a page at a time.
#[utoipa::path(get, path = "/admin/v1/events", tag = "admin",
    params(("type" = Option<String>, Query, description = "only this type"),
           ("since" = Option<String>, Query, description = "RFC 3339: at or after this time"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
           ("limit" = Option<i64>, Query, description = "1 to 100 (default 100)")),
    security(("admin" = ["admin"])),
    responses((status = 200, description = "A page of events", body = Page),
              (status = 400, description = "Bad since, cursor or limit", body = Problem, content_type = "application/problem+json"),
              (status = 401, description = "No or a bad token", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "insufficient_scope", body = Problem, content_type = "application/problem+json")))]
#[get("/events?<type>&<since>&<cursor>&<limit>")]
pub async fn list(
    caller: Result<AdminCaller, AdminRefusal>,
    r#type: Option<String>,
    since: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
    db: &State<Db>,
    keys: &State<Arc<KeyStore>>,
) -> Result<Json<Page>, AdminError> {
    caller?;
    let limit = super::limit(limit)?;
    let since = since
        .map(|s| {
            admin::parse_time(s).ok_or(ApiError::BadRequest(
                "since must be an RFC 3339 time, such as 2026-01-31T12:00:00Z.",
            ))
        })
        .transpose()?;
    let after = match cursor {
        Some(sealed) => {
            let cursor = Cursor::open(sealed, LIST, keys)?;
            let time = cursor.time.ok_or(ApiError::BadRequest(
                "The cursor is not one this server gave.",
            ))?;
            Some(After {
                time,
                id: cursor.after,
            })
        }
        None => None,
    };
    // One more than asked: whether there is a next page.
    let filter = Filter {
        kind: r#type.filter(|t| !t.is_empty()),
        since,
        after,
        limit: limit + 1,
    };
    let mut events = admin::list_events(db, &filter).await?;
    let more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next_cursor = match events.last() {
        Some(last) if more => Some(
            Cursor {
                list: LIST.into(),
                after: last.id.clone(),
                time: Some(last.time),
            }
            .seal(keys)?,
        ),
        _ => None,
    };
    Ok(Json(Page {
        items: events.iter().map(admin::describe_event).collect(),
        next_cursor,
    }))
}
