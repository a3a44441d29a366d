//! Users: signup (`POST /signup`), the account table, and the validation
//! rules of the contract (email shape, name length, password policy after
//! NIST SP 800-63B-4: a minimum length and no commonly used passwords).
//!
//! Signup does the cheap work first: the field checks, then whether the
//! email is taken, and only then the argon2id hash, so a flood of signups
//! for taken emails costs no hashing. The strength estimate (zxcvbn, whose
//! cost grows faster than the input) runs on the blocking pool, on at most
//! [`STRENGTH_CHECK_LENGTH`] characters.
//!
//! Signups are limited per client address ([`SignupThrottle`], 10 an hour,
//! counted in the database so every instance shares the count): a signup
//! with valid fields for a free email takes its place before anything is
//! hashed; one the server could not finish gives it back. A taken email is
//! answered `409` first, with one lookup and no write.

use platform::client_addr::ClientAddr;
use rocket::data::Data;
use rocket::http::ContentType;
use rocket::response::Responder;
use rocket::serde::json::Json;
use rocket::{State, post, routes};
use secrecy::SecretString;
use serde::Serialize;
use shared::clock::rfc3339;
use shared::problem::{FieldError, Problem};
use sqlx::Row;

use crate::body;
use crate::config::AppConfig;
use crate::db::{Db, is_unique_violation};
use crate::error::ApiError;
use crate::oauth::throttle::SignupThrottle;
use crate::password;

pub const MAX_PASSWORD_LENGTH: usize = 128;
pub const MAX_NAME_LENGTH: usize = 100;
const MAX_EMAIL_LENGTH: usize = 254;
/// Characters of a password (and of each user input) zxcvbn looks at. A
/// password whose first 64 characters are guessable is refused; beyond
/// that zxcvbn's matching only costs time.
pub const STRENGTH_CHECK_LENGTH: usize = 64;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("users", |rocket| async {
        rocket
            .manage(SignupThrottle::default())
            .mount("/", routes![signup])
    })
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

/// The signup body. Any other member (`id`, `role`, …) is ignored.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SignupRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    /// 15 to 128 characters (`PASSWORD_MIN_LENGTH`), not a common password.
    #[schema(example = "violet-harbor-quantum-91x")]
    password: String,
    /// 1 to 100 characters.
    #[schema(example = "Ada Lovelace")]
    name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Responder)]
#[response(status = 201)]
pub struct Created {
    body: Json<UserResponse>,
    location: rocket::http::Header<'static>,
}

/// A new account, validated.
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: SecretString,
    pub is_admin: bool,
}

/// Validates signup input; every bad field is reported, not just the first.
pub fn validate_new_user(
    email: Option<&str>,
    name: Option<&str>,
    password: Option<&str>,
    min_password_length: usize,
) -> Result<NewUser, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };

    let email = email.map(|e| e.trim().to_lowercase());
    match email.as_deref() {
        None => bad("email", "is required and must be a string"),
        Some(e) if !looks_like_email(e) => bad("email", "must be an email address"),
        Some(_) => {}
    }

    let name = name.map(|n| n.trim().to_owned());
    match name.as_deref() {
        None => bad("name", "is required and must be a string"),
        Some(n) => {
            if let Err(message) = check_name(n) {
                bad("name", message);
            }
        }
    }

    match password {
        None => bad("password", "is required and must be a string"),
        Some(p) => {
            let length = p.chars().count();
            if length < min_password_length {
                bad(
                    "password",
                    &format!("must be at least {min_password_length} characters"),
                );
            } else if length > MAX_PASSWORD_LENGTH {
                bad("password", "must be at most 128 characters");
            } else if is_common_password(p, email.as_deref(), name.as_deref()) {
                bad("password", "is too common or too easy to guess");
            }
        }
    }

    match (email, name, password) {
        (Some(email), Some(name), Some(password)) if errors.is_empty() => Ok(NewUser {
            email,
            name,
            password: SecretString::from(password.to_owned()),
            is_admin: false,
        }),
        _ => Err(errors),
    }
}

/// The rule for a display name (already trimmed): 1 to 100 characters,
/// none of them a control character.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LENGTH {
        return Err("must be 1 to 100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// One `@`, a non-empty local part, a dotted domain, no spaces: an address
/// shape check, not deliverability.
fn looks_like_email(email: &str) -> bool {
    if email.len() > MAX_EMAIL_LENGTH || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// zxcvbn's estimate, fed with the user's own email and name so that a
/// password built from them counts as weak.
fn is_common_password(password: &str, email: Option<&str>, name: Option<&str>) -> bool {
    let inputs: Vec<&str> = email.into_iter().chain(name).map(capped).collect();
    zxcvbn::zxcvbn(capped(password), &inputs).score() < zxcvbn::Score::Three
}

/// The first [`STRENGTH_CHECK_LENGTH`] characters of `text`.
fn capped(text: &str) -> &str {
    match text.char_indices().nth(STRENGTH_CHECK_LENGTH) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// [`validate_new_user`] on the blocking pool: the strength estimate is
/// CPU work that must not hold up the async workers.
pub async fn validate_signup(
    email: Option<String>,
    name: Option<String>,
    password: Option<String>,
    min_password_length: usize,
) -> Result<NewUser, ApiError> {
    tokio::task::spawn_blocking(move || {
        validate_new_user(
            email.as_deref(),
            name.as_deref(),
            password.as_deref(),
            min_password_length,
        )
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the validation task failed: {e}")))?
    .map_err(ApiError::Validation)
}

/// Whether an account has this (normalised) email.
pub async fn email_taken(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("select 1 from users where email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

/// Inserts a user; `Ok(None)` when the email is taken. The email is
/// looked up before the password is hashed, so a taken one costs no hash;
/// the unique index still settles two signups racing for one email.
pub async fn insert_user(db: &Db, user: NewUser, now: i64) -> Result<Option<User>, ApiError> {
    if email_taken(db, &user.email).await? {
        return Ok(None);
    }
    let password_hash = password::hash(user.password).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let result = sqlx::query(
        "insert into users (id, email, name, password_hash, is_admin, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(&password_hash)
    .bind(user.is_admin)
    .bind(now)
    .bind(now)
    .execute(&db.pool)
    .await;
    match result {
        Ok(_) => Ok(Some(User {
            id,
            email: user.email,
            name: user.name,
            password_hash,
            is_admin: user.is_admin,
            created_at: now,
        })),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
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
        is_admin: crate::db::flag(row, "is_admin")?,
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
    let was_admin = crate::db::flag(&row, "is_admin")?;
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
        0
    } else {
        crate::oauth::refresh_tokens::revoke_user_families(
            &mut tx,
            &user.id,
            now,
            access_expires_at,
        )
        .await?
    };
    tx.commit().await?;
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
    let revoked_families = crate::oauth::refresh_tokens::revoke_user_families(
        &mut tx,
        &user.id,
        now,
        access_expires_at,
    )
    .await?;
    // Without the cascade (a SQLite connection with foreign keys off), the
    // rows would stay, revoked, and every grant still finds no user.
    sqlx::query("delete from users where id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(UpdatedUser {
        user,
        revoked_families,
    }))
}

/// Create an account.
#[utoipa::path(
    post, path = "/signup", tag = "users",
    request_body(content = SignupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = UserResponse,
         headers(("Location" = String, description = "Where the user is"))),
        (status = 400, description = "Not JSON, or a member named twice", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "More than 10 signups from this address within the hour", body = Problem,
         content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unreachable, or too many password checks waiting", body = Problem,
         content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/signup", data = "<data>")]
pub async fn signup(
    content_type: Option<&ContentType>,
    data: Data<'_>,
    address: ClientAddr,
    db: &State<Db>,
    config: &State<AppConfig>,
    signups: &State<SignupThrottle>,
    clock: &State<crate::AppClock>,
) -> Result<Created, ApiError> {
    let body = body::json_object(content_type, data).await?;
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let new_user = validate_signup(
        field("email"),
        field("name"),
        field("password"),
        config.password_min_length,
    )
    .await?;
    let now = clock.0.now();
    // A taken email is answered before the limit is consulted: one lookup,
    // no write, so a flood of such signups costs the database least.
    if email_taken(db, &new_user.email).await? {
        return Err(ApiError::Conflict(
            "An account with this email already exists.",
        ));
    }
    let place = match signups.take(db, address.0, now).await? {
        Ok(place) => place,
        Err(retry_after) => {
            tracing::warn!(client_ip = ?address.0, "signup refused: too many from this address");
            return Err(ApiError::TooManyRequests(retry_after));
        }
    };
    let inserted = insert_user(db, new_user, now).await;
    if inserted.is_err()
        && let Err(error) = signups.give_back(db, &place).await
    {
        // The place stays taken until the window ends: the client waits
        // longer, nothing worse.
        tracing::warn!(%error, "giving back a signup place failed");
    }
    let user = inserted?.ok_or(ApiError::Conflict(
        "An account with this email already exists.",
    ))?;
    tracing::info!(user_id = %user.id, "user signed up");
    Ok(Created {
        location: rocket::http::Header::new("Location", format!("/users/{}", user.id)),
        body: Json(UserResponse {
            id: user.id,
            email: user.email,
            name: user.name,
            created_at: rfc3339(user.created_at),
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(looks_like_email("ada@example.com"));
        assert!(!looks_like_email("ada@example"));
        assert!(!looks_like_email("ada example@example.com"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("a@b@example.com"));
        assert!(!looks_like_email("ada@.example.com"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = validate_new_user(Some("nope"), Some(""), Some("short"), 15)
            .err()
            .unwrap();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "name", "password"]);
    }

    #[test]
    fn common_passwords_are_refused_even_when_long() {
        let errors = validate_new_user(
            Some("ada@example.com"),
            Some("Ada"),
            Some("passwordpassword"),
            15,
        )
        .err()
        .unwrap();
        assert_eq!(errors[0].field, "password");
        assert!(
            validate_new_user(
                Some(" Ada@Example.COM "),
                Some("Ada"),
                Some("violet-harbor-quantum-91x"),
                15
            )
            .is_ok()
        );
    }

    #[test]
    fn the_strength_estimate_sees_a_capped_input() {
        assert_eq!(capped("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(capped(&long).chars().count(), STRENGTH_CHECK_LENGTH);
        // The longest accepted password, built to be slow to match, is
        // estimated quickly, with an over-long email and name as inputs.
        let password = "ab1!".repeat(32);
        let started = std::time::Instant::now();
        let _ = validate_new_user(
            Some(&"x".repeat(60_000)),
            Some(&"y".repeat(60_000)),
            Some(&password),
            15,
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[tokio::test]
    async fn signup_validation_runs_off_the_async_workers_with_the_same_rules() {
        let user = validate_signup(
            Some(" Ada@Example.COM ".into()),
            Some("Ada".into()),
            Some("violet-harbor-quantum-91x".into()),
            15,
        )
        .await
        .unwrap();
        assert_eq!(user.email, "ada@example.com");
        let Err(ApiError::Validation(errors)) = validate_signup(
            Some("nope".into()),
            None,
            Some("passwordpassword".into()),
            15,
        )
        .await
        else {
            panic!("invalid input accepted")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "name", "password"]);
    }
}
