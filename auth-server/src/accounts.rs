//! Accounts as the contract wants them (API.md, "Users"), whichever door
//! makes one (`POST /signup`, `auth-server users create`): the rules of the
//! fields (email shape, name length, password policy after NIST SP
//! 800-63B-4: a minimum length and no commonly used passwords), then the
//! argon2id hash and the row.
//!
//! The cheap work comes first: the field checks, then whether the email is
//! taken, and only then the hash, so a flood of signups for taken emails
//! costs no hashing. The strength estimate (zxcvbn, whose cost grows faster
//! than the input) runs on the blocking pool, on at most
//! [`STRENGTH_CHECK_LENGTH`] characters.

use secrecy::SecretString;
use shared::problem::FieldError;

use crate::errors::ApiError;
use crate::password_hash;
use crate::store::db::Db;
use crate::store::events::Event;
use crate::store::users::{self, NewUserRow, User};

pub const MAX_PASSWORD_LENGTH: usize = 128;
pub const MAX_NAME_LENGTH: usize = 100;
const MAX_EMAIL_LENGTH: usize = 254;
/// Characters of a password (and of each user input) zxcvbn looks at. A
/// password whose first 64 characters are guessable is refused; beyond
/// that zxcvbn's matching only costs time.
pub const STRENGTH_CHECK_LENGTH: usize = 64;

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

/// Creates the account; `Ok(None)` when the email is taken. The email is
/// looked up before the password is hashed, so a taken one costs no hash.
pub async fn create(db: &Db, user: NewUser, now: i64) -> Result<Option<User>, ApiError> {
    create_recorded(db, user, now, Event::new("user_created")).await
}

/// [`create`], recording `event` (`user_created`, with who asked) in the
/// transaction that inserts the account.
pub async fn create_recorded(
    db: &Db,
    user: NewUser,
    now: i64,
    event: Event,
) -> Result<Option<User>, ApiError> {
    if users::email_taken(db, &user.email).await? {
        return Ok(None);
    }
    let password_hash = password_hash::hash(user.password).await?;
    let row = NewUserRow {
        email: &user.email,
        name: &user.name,
        password_hash: &password_hash,
        is_admin: user.is_admin,
    };
    Ok(users::insert_recorded(db, row, now, event).await?)
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
