//! The device authorization grant's codes (RFC 8628): a `device_code` the
//! device polls with and a short `user_code` a person types on
//! `/oauth/device`, both stored only as SHA-256 digests, each row living
//! [`DEVICE_CODE_TTL`] seconds.
//!
//! A poll is one transaction that begins by writing the code's row (the
//! row lock on PostgreSQL, the write lock on SQLite), so polls of one code
//! run one after the other: of any number of polls after approval exactly
//! one finds it approved and marks it issued, and the interval that
//! `slow_down` grows is the database's, the same at every instance.

use rand::Rng;
use sqlx::Row;

use super::db::{Db, is_unique_violation};
use super::secrets::{generate_secret, hash_secret};

/// How long a device code and its user code live (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_CODE_TTL: i64 = 600;
/// The first polling interval (RFC 8628 §3.2 `interval`).
pub const POLL_INTERVAL: i64 = 5;
/// What `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: i64 = 5;

/// RFC 8628 §6.1: 20 consonants, no vowel (no words) and no look-alikes;
/// 8 of them are 20^8 ≈ 2^34.5 codes, against a throttled guesser.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A fresh user code, as shown: `XXXX-XXXX`.
fn new_user_code() -> String {
    let mut rng = rand::rng();
    let mut code = String::with_capacity(USER_CODE_LEN + 1);
    for i in 0..USER_CODE_LEN {
        if i == USER_CODE_LEN / 2 {
            code.push('-');
        }
        let pick = rng.random_range(0..USER_CODE_ALPHABET.len());
        code.push(char::from(USER_CODE_ALPHABET[pick]));
    }
    code
}

/// A user code as typed, in the form it is stored by: upper case, the one
/// dash in the middle and surrounding blanks dropped; `None` when it cannot
/// be one of ours.
pub fn normalise_user_code(typed: &str) -> Option<String> {
    let typed = typed.trim().to_ascii_uppercase();
    let code = match typed.split_once('-') {
        Some((a, b)) if a.len() == USER_CODE_LEN / 2 => format!("{a}{b}"),
        Some(_) => return None,
        None => typed,
    };
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A stored user code as people read it off the device: `XXXX-XXXX`.
pub fn shown_user_code(stored: &str) -> String {
    match (
        stored.get(..USER_CODE_LEN / 2),
        stored.get(USER_CODE_LEN / 2..),
    ) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => format!("{a}-{b}"),
        _ => stored.to_owned(),
    }
}

/// A device authorization request, checked.
pub struct NewDeviceCode<'a> {
    pub client_id: &'a str,
    pub scope: &'a str,
    pub resource: Option<&'a str>,
    pub now: i64,
}

/// The codes handed to the device.
pub struct IssuedDeviceCode {
    pub device_code: String,
    /// As shown: `XXXX-XXXX`.
    pub user_code: String,
}

/// Stores a new pair of codes.
pub async fn create(db: &Db, new: NewDeviceCode<'_>) -> Result<IssuedDeviceCode, sqlx::Error> {
    let mut attempt = 0;
    loop {
        let device_code = generate_secret();
        let user_code = new_user_code();
        let stored = user_code.replace('-', "");
        let inserted = sqlx::query(
            "insert into device_codes (device_code_hash, user_code_hash, client_id, scope, \
             resource, status, interval_secs, created_at, expires_at) \
             values ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
        )
        .bind(hash_secret(&device_code))
        .bind(hash_secret(&stored))
        .bind(new.client_id)
        .bind(new.scope)
        .bind(new.resource)
        .bind(POLL_INTERVAL)
        .bind(new.now)
        .bind(new.now + DEVICE_CODE_TTL)
        .execute(&mut *db.writer().await?)
        .await;
        match inserted {
            Ok(_) => {
                return Ok(IssuedDeviceCode {
                    device_code,
                    user_code,
                });
            }
            // A user code still in use: draw another.
            Err(error) if is_unique_violation(&error) && attempt < 5 => attempt += 1,
            Err(error) => return Err(error),
        }
    }
}

/// What a poll with a device code comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    /// Unknown, or another client's.
    Unknown,
    /// Its tokens were handed out already.
    Used,
    Expired,
    Denied,
    /// Still undecided, polled within the interval: it grew.
    SlowDown,
    Pending,
    /// Approved, and now marked issued: this poll gets the tokens.
    Approved(Approval),
}

/// What an approved code grants.
#[derive(Debug, PartialEq, Eq)]
pub struct Approval {
    pub user_id: String,
    pub scope: String,
    pub resource: Option<String>,
}

/// Polls a device code for `client_id` at `now`.
pub async fn poll(
    db: &Db,
    device_code: &str,
    client_id: &str,
    now: i64,
) -> Result<Poll, sqlx::Error> {
    let hash = hash_secret(device_code);
    let mut tx = db.begin_write().await?;
    // The row lock first: polls of one code go one at a time.
    let row = sqlx::query(
        "update device_codes set device_code_hash = device_code_hash \
         where device_code_hash = $1 \
         returning client_id, status, user_id, scope, resource, interval_secs, \
         last_polled_at, expires_at",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(Poll::Unknown);
    };
    let owner: String = row.try_get("client_id")?;
    let status: String = row.try_get("status")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let outcome = if owner != client_id {
        Poll::Unknown
    } else if status == "issued" {
        Poll::Used
    } else if expires_at <= now {
        Poll::Expired
    } else if status == "denied" {
        Poll::Denied
    } else if status == "approved" {
        sqlx::query("update device_codes set status = 'issued', last_polled_at = $2 where device_code_hash = $1")
            .bind(&hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Poll::Approved(Approval {
            user_id: row
                .try_get::<Option<String>, _>("user_id")?
                .unwrap_or_default(),
            scope: row.try_get("scope")?,
            resource: row.try_get("resource")?,
        })
    } else {
        let interval: i64 = row.try_get("interval_secs")?;
        let last: Option<i64> = row.try_get("last_polled_at")?;
        let too_soon = last.is_some_and(|last| now - last < interval);
        let grown = if too_soon {
            interval + SLOW_DOWN_STEP
        } else {
            interval
        };
        sqlx::query(
            "update device_codes set interval_secs = $2, last_polled_at = $3 \
             where device_code_hash = $1",
        )
        .bind(&hash)
        .bind(grown)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if too_soon {
            Poll::SlowDown
        } else {
            Poll::Pending
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// A code awaiting a person's decision.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    pub client_id: String,
    pub scope: String,
    pub expires_at: i64,
}

/// The undecided, unexpired code a person typed (normalised), if any.
pub async fn find_pending(
    db: &Db,
    user_code: &str,
    now: i64,
) -> Result<Option<PendingDevice>, sqlx::Error> {
    let row = sqlx::query(
        "select client_id, scope, expires_at from device_codes \
         where user_code_hash = $1 and status = 'pending' and expires_at > $2",
    )
    .bind(hash_secret(user_code))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(PendingDevice {
            client_id: row.try_get("client_id")?,
            scope: row.try_get("scope")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Records a person's decision on a pending code; `false` when it was no
/// longer pending (decided meanwhile, or expired).
pub async fn decide(
    db: &Db,
    user_code: &str,
    user_id: &str,
    approve: bool,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let decided = sqlx::query(
        "update device_codes set status = $3, user_id = $2 \
         where user_code_hash = $1 and status = 'pending' and expires_at > $4",
    )
    .bind(hash_secret(user_code))
    .bind(user_id)
    .bind(if approve { "approved" } else { "denied" })
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    tx.commit().await?;
    Ok(decided)
}

/// How long a code is remembered past its expiry, so that a device still
/// polling hears `expired_token` rather than `invalid_grant`.
const EXPIRED_MEMORY: i64 = 3600;

/// Deletes the codes expired more than [`EXPIRED_MEMORY`] before `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from device_codes where expires_at < $1")
            .bind(now - EXPIRED_MEMORY)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_shown_with_a_dash() {
        for _ in 0..100 {
            let code = new_user_code();
            assert_eq!(code.len(), 9);
            assert_eq!(code.as_bytes()[4], b'-');
            assert_eq!(normalise_user_code(&code), Some(code.replace('-', "")));
            let stored = normalise_user_code(&code).unwrap_or_default();
            assert_eq!(shown_user_code(&stored), code);
        }
    }

    #[test]
    fn typed_codes_match_in_any_case_with_or_without_the_dash() {
        let want = Some("BCDFGHJK".to_owned());
        for typed in ["BCDF-GHJK", "bcdf-ghjk", "bcdfghjk", " BcDf-gHjK "] {
            assert_eq!(normalise_user_code(typed), want, "{typed}");
        }
        for bad in [
            "BCDF-GHJ",
            "BCDFG-HJK",
            "BCDF--GHJK",
            "ABCD-EFGH",
            "BCDF-GHJKL",
            "",
        ] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
    }
}
