//! Accounts as operators manage them, by either door (`auth-server users
//! create|update|delete`, `/admin/v1/users`): one validation, one result and
//! one event per operation. The password of a new account is checked by the
//! signup rules and never leaves this module but hashed: never in an event
//! nor a log line.

use serde_json::{Value, json};
use shared::problem::FieldError;

use super::Actor;
use crate::accounts::{self, check_name};
use crate::errors::ApiError;
use crate::store::db::Db;
use crate::store::users::{self, UpdatedUser, User, UserChanges};

/// What an operator asks of a new account.
pub struct NewAccount<'a> {
    pub email: &'a str,
    /// The part of the email before `@` when `None`.
    pub name: Option<&'a str>,
    pub password: &'a str,
    pub admin: bool,
}

/// Creates an account by the signup rules (`422` listing each bad field),
/// `409` when the email is taken.
pub async fn create(
    db: &Db,
    account: NewAccount<'_>,
    min_password_length: usize,
    actor: &Actor,
    now: i64,
) -> Result<User, ApiError> {
    let name = account.name.map(str::to_owned).unwrap_or_else(|| {
        account
            .email
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let mut new_user = accounts::validate_signup(
        Some(account.email.to_owned()),
        Some(name),
        Some(account.password.to_owned()),
        min_password_length,
    )
    .await?;
    new_user.is_admin = account.admin;
    super::create_user(db, new_user, actor, now)
        .await?
        .ok_or(ApiError::Conflict(
            "An account with this email already exists.",
        ))
}

/// The changes an operator asks for, checked: a name by the signup rule,
/// and at least one change.
pub fn changes(admin: Option<bool>, name: Option<&str>) -> Result<UserChanges, ApiError> {
    let name = name.map(|n| n.trim().to_owned());
    if let Some(name) = &name
        && let Err(message) = check_name(name)
    {
        return Err(invalid("name", message));
    }
    if admin.is_none() && name.is_none() {
        return Err(invalid("body", "nothing to change: give admin or name"));
    }
    Ok(UserChanges {
        is_admin: admin,
        name,
    })
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }])
}

/// Applies `changes` to the account with this email (`404` when there is
/// none); a change of rights revokes its refresh token families.
pub async fn update(
    db: &Db,
    email: &str,
    changes: &UserChanges,
    access_token_ttl: i64,
    actor: &Actor,
    now: i64,
) -> Result<UpdatedUser, ApiError> {
    let email = email.trim().to_lowercase();
    super::update_user(db, &email, changes, actor, now, now + access_token_ttl)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Deletes the account with this email (`404` when there is none) and
/// revokes its refresh token families.
pub async fn delete(
    db: &Db,
    email: &str,
    access_token_ttl: i64,
    actor: &Actor,
    now: i64,
) -> Result<UpdatedUser, ApiError> {
    let email = email.trim().to_lowercase();
    super::delete_user(db, &email, actor, now, now + access_token_ttl)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The account with this id (the `sub` of its tokens); `404` when none.
pub async fn find(db: &Db, id: &str) -> Result<User, ApiError> {
    if id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    users::find_by_id(db, id).await?.ok_or(ApiError::NotFound)
}

/// A page of accounts by id, after `after`, with this email only when one
/// is given.
pub async fn list(
    db: &Db,
    email: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, ApiError> {
    let email = email.map(|e| e.trim().to_lowercase());
    if email.as_deref().is_some_and(|e| e.contains('\0')) {
        return Ok(Vec::new());
    }
    Ok(users::list_page(db, email.as_deref(), after, limit).await?)
}

/// An account as both doors show it; never its password hash.
pub fn describe(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "admin": user.is_admin,
        "created_at": shared::clock::rfc3339(user.created_at),
    })
}

/// An account after a change, with how many refresh token families the
/// change revoked.
pub fn describe_change(updated: &UpdatedUser) -> Value {
    let mut shown = describe(&updated.user);
    shown["revoked_refresh_families"] = json!(updated.revoked_families);
    shown
}
