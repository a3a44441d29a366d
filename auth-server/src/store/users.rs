//! The `users` table: accounts, found by email (sign-in) or by id (the
//! `sub` of their tokens), and the operator's changes to them. A change of
//! rights or a deletion revokes the account's refresh token families in the
//! same transaction (`refresh_families`), and ends their sign-in sessions,
//! whose clients are told by the back channel (`logout_deliveries`).
//!
//! What a new account must look like, and how its password is hashed, is
//! `accounts`; this is where the rows are.

use sqlx::Row;

use super::db::{Db, flag, is_unique_violation};
use super::events::{self, Event};
use super::{logout_deliveries, refresh_families};

/// Accounts remembered by id for token exchange, whose every request
/// would otherwise read its subject's row. They follow the revocation
/// view's rule (`revocations`: this instance forgets at once, another
/// within 2 s): every change to an account moves the revocations' version
/// in its transaction and calls `Db::revoked_here`, and an entry counts
/// only while the revocation view's generation it was read under is
/// current. Accounts that do not exist are remembered too: the ids come
/// from tokens we signed, not from strangers. Cheap to clone; clones
/// share the entries.
#[derive(Clone)]
pub struct AccountView {
    entries: moka::sync::Cache<String, (u64, Option<User>)>,
}

/// Most accounts remembered.
const MAX_VIEWED_ACCOUNTS: u64 = 10_000;

impl Default for AccountView {
    fn default() -> Self {
        AccountView {
            entries: moka::sync::Cache::builder()
                .max_capacity(MAX_VIEWED_ACCOUNTS)
                // A safety net only (a row edited by hand): invalidation
                // is by version.
                .time_to_live(std::time::Duration::from_secs(300))
                .build(),
        }
    }
}

impl std::fmt::Debug for AccountView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountView")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

/// [`find_by_id`] through `view`: at most 2 s late about a change made at
/// another instance, never about one made here.
pub async fn find_by_id_viewed(
    db: &Db,
    view: &AccountView,
    id: &str,
) -> Result<Option<User>, sqlx::Error> {
    if let Some((stamp, user)) = view.entries.get(id)
        && db.revocations.is_current(stamp)
    {
        return Ok(user);
    }
    let stamp = db.revocations.generation();
    let user = find_by_id(db, id).await?;
    view.entries.insert(id.to_owned(), (stamp, user.clone()));
    Ok(user)
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
}

/// Whether an account has this (normalised) email.
pub async fn email_taken(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("select 1 from users where email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

/// An account as it is inserted: checked, its password already hashed.
pub struct NewUserRow<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
}

/// Inserts a user; `Ok(None)` when the email is taken (the unique index
/// settles two signups racing for one email).
pub async fn insert(db: &Db, user: NewUserRow<'_>, now: i64) -> Result<Option<User>, sqlx::Error> {
    insert_recorded(db, user, now, Event::new("user_created")).await
}

/// [`insert`], recording `event` (`user_created`, with who asked) in the
/// same transaction, completed with the new user's id.
pub async fn insert_recorded(
    db: &Db,
    user: NewUserRow<'_>,
    now: i64,
    event: Event,
) -> Result<Option<User>, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = db.begin_write().await?;
    let result = sqlx::query(
        "insert into users (id, email, name, password_hash, is_admin, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(user.email)
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.is_admin)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => {
            let event = event.subject(id.as_str()).detail("admin", user.is_admin);
            events::insert(&mut tx, event, now).await?;
            tx.commit().await?;
        }
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    Ok(Some(User {
        id,
        email: user.email.to_owned(),
        name: user.name.to_owned(),
        password_hash: user.password_hash.to_owned(),
        is_admin: user.is_admin,
        created_at: now,
    }))
}

/// sqlx 0.9 takes only static SQL, so the column list is spliced in by `concat!`.
macro_rules! user_columns {
    () => {
        "id, email, name, password_hash, is_admin, created_at"
    };
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: flag(row, "is_admin")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    // No stored email holds NUL (signup refuses control characters), and
    // PostgreSQL refuses it in text with an error: a sign-in form may send one.
    if email.contains('\0') {
        return Ok(None);
    }
    sqlx::query(concat!(
        "select ",
        user_columns!(),
        " from users where email = $1"
    ))
    .bind(email)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(user_from_row)
    .transpose()
}

/// A user by id (the `sub` of their tokens).
pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(concat!(
        "select ",
        user_columns!(),
        " from users where id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(user_from_row)
    .transpose()
}

/// What an operator changes on an account (`users update`).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub is_admin: Option<bool>,
    /// Already checked with [`check_name`].
    pub name: Option<String>,
}

/// An account after `users update`, and how many of its refresh token
/// families the change revoked.
#[derive(Debug, Clone)]
pub struct UpdatedUser {
    pub user: User,
    pub revoked_families: u64,
}

/// Applies `changes` to the account with this (normalised) email; `None`
/// when there is none. A change of rights revokes every refresh token
/// family of the user in the same transaction, so no refresh token issued
/// under the old rights outlives it (refresh also re-derives the scope from
/// the current rights, for a grant that raced the change).
/// `access_expires_at` bounds how long their access tokens could live.
pub async fn update_user(
    db: &Db,
    email: &str,
    changes: &UserChanges,
    now: i64,
    access_expires_at: i64,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let event = Event::new("user_updated");
    update_user_recorded(db, email, changes, now, access_expires_at, event).await
}

/// [`update_user`], recording `event` (`user_updated`, with who asked) in
/// the same transaction, completed with the user and the changes.
pub async fn update_user_recorded(
    db: &Db,
    email: &str,
    changes: &UserChanges,
    now: i64,
    access_expires_at: i64,
    event: Event,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // The write first: it takes the row (or, on SQLite, the database) lock,
    // so two updates of one user run one after the other.
    let updated =
        sqlx::query("update users set updated_at = $2 where email = $1 returning is_admin")
            .bind(email)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = updated else {
        tx.rollback().await?;
        return Ok(None);
    };
    let was_admin = flag(&row, "is_admin")?;
    let is_admin = changes.is_admin.unwrap_or(was_admin);
    let user = sqlx::query(concat!(
        "update users set is_admin = $2, name = coalesce($3, name) where email = $1 returning ",
        user_columns!()
    ))
    .bind(email)
    .bind(is_admin)
    .bind(changes.name.as_deref())
    .fetch_one(&mut *tx)
    .await?;
    let user = user_from_row(&user)?;
    let revoked_families = if is_admin == was_admin {
        // No revocation, yet the account changed: the version moves so
        // that every instance's `AccountView` forgets it.
        refresh_families::bump_revocations(&mut tx).await?;
        0
    } else {
        // The sessions signed in under the old rights end too, and their
        // clients are told (back-channel logout).
        logout_deliveries::user_sessions_ended(&mut tx, &user.id, now).await?;
        refresh_families::revoke_user_families(&mut tx, &user.id, now, access_expires_at).await?
    };
    let mut event = event
        .subject(user.id.as_str())
        .detail("revoked_families", revoked_families);
    if let Some(admin) = changes.is_admin {
        event = event.detail("admin", admin);
    }
    if changes.name.is_some() {
        event = event.detail("name_changed", true);
    }
    events::insert(&mut tx, event, now).await?;
    tx.commit().await?;
    db.revoked_here();
    Ok(Some(UpdatedUser {
        user,
        revoked_families,
    }))
}

/// Deletes the account with this (normalised) email; `None` when there is
/// none. Its refresh token families are revoked first, in the same
/// transaction, so their access tokens are listed as revoked
/// (introspection answers `active: false`) before the rows go with the
/// user; what else refers to the user (codes, tickets) goes by cascade.
pub async fn delete_user(
    db: &Db,
    email: &str,
    now: i64,
    access_expires_at: i64,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let event = Event::new("user_deleted");
    delete_user_recorded(db, email, now, access_expires_at, event).await
}

/// [`delete_user`], recording `event` (`user_deleted`) in the same
/// transaction.
pub async fn delete_user_recorded(
    db: &Db,
    email: &str,
    now: i64,
    access_expires_at: i64,
    event: Event,
) -> Result<Option<UpdatedUser>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let found = sqlx::query(concat!(
        "update users set updated_at = $2 where email = $1 returning ",
        user_columns!()
    ))
    .bind(email)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = found else {
        tx.rollback().await?;
        return Ok(None);
    };
    let user = user_from_row(&row)?;
    let revoked_families =
        refresh_families::revoke_user_families(&mut tx, &user.id, now, access_expires_at).await?;
    // Before the sessions go with the user: their clients are told.
    logout_deliveries::user_sessions_ended(&mut tx, &user.id, now).await?;
    // Without the cascade (a SQLite connection with foreign keys off), the
    // rows would stay, revoked, and every grant still finds no user.
    sqlx::query("delete from users where id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let event = event
        .subject(user.id.as_str())
        .detail("revoked_families", revoked_families);
    events::insert(&mut tx, event, now).await?;
    tx.commit().await?;
    db.revoked_here();
    Ok(Some(UpdatedUser {
        user,
        revoked_families,
    }))
}

/// At most `limit` accounts by id, after `after` when given, with this
/// (normalised) email only when one is given (the admin API's list).
pub async fn list_page(
    db: &Db,
    email: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "select ",
        user_columns!(),
        " from users where email = coalesce($1, email) and id > $2 order by id limit $3"
    ))
    .bind(email)
    .bind(after.unwrap_or_default())
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(user_from_row).collect()
}
