//! One password sign-in, whatever door it comes through (the password
//! grant and `/login`, the authorization page's form, and any later page
//! that asks for a password): the throttle's place taken first, then the
//! account looked up and the password checked in constant time, then the
//! attempt settled. Every door answers the same outcomes in its own format.
//!
//! The attempt counts before the hash: [`LoginThrottle::admit`] holds a
//! place under the attempt's keys before anything else, so concurrent
//! attempts never check more passwords than the throttle allows. Exactly one
//! settlement follows: a failure is counted, a success clears the account's
//! counts, and an attempt whose password was never checked (the hashing
//! queue was full, the database failed) gives its place back.

use std::net::IpAddr;

use secrecy::SecretString;

use crate::password_hash::{self, Busy};
use crate::store::db::Db;
use crate::store::events::{self, Event};
use crate::store::throttle::{Attempt, LoginThrottle};
use crate::store::users::{self, User};

/// Why a sign-in was not decided.
#[derive(Debug)]
pub enum Undecided {
    /// The throttle refused it (`429`, retry after this many seconds).
    Throttled(u64),
    /// Too many password hashes are waiting (`503`); nothing was counted.
    Busy(Busy),
    /// The database failed; nothing was counted that can be given back.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Undecided {
    fn from(error: sqlx::Error) -> Undecided {
        Undecided::Database(error)
    }
}

/// Checks `password` for the account named `account` (already trimmed and
/// lower-cased) from `address`: `Ok(Some(user))` when it is right,
/// `Ok(None)` when it is wrong or there is no such account (the same work
/// either way), or why it was not checked.
pub async fn check(
    db: &Db,
    throttle: &LoginThrottle,
    account: &str,
    address: Option<IpAddr>,
    password: SecretString,
    now: i64,
) -> Result<Option<User>, Undecided> {
    let attempt = Attempt::new(account, address);
    if let Err(wait) = throttle.admit(db, &attempt, now).await? {
        metrics::counter!("throttle_refusals_total", "throttle" => "login").increment(1);
        tracing::warn!(client_ip = ?address, "sign-in throttled");
        let refused = Event::new("login_failed")
            .address(address)
            .detail("reason", "throttled");
        events::record(db, refused, now).await;
        return Err(Undecided::Throttled(wait));
    }
    let verified = match verify(db, account, password).await {
        Ok(verified) => verified,
        Err(refusal) => {
            // Nothing was checked: the place goes back, uncounted.
            if let Err(error) = throttle.release(db, &attempt).await {
                // It is forgotten after `RESERVATION_TTL` all the same.
                tracing::warn!(%error, "giving back a sign-in's throttle place failed");
            }
            return Err(refusal);
        }
    };
    match verified {
        Checked::Right(user) => {
            if let Err(error) = throttle.record_success(db, &attempt).await {
                // The sign-in stands; the counts expire on their own.
                tracing::warn!(%error, "clearing failed-login counts failed");
            }
            let signed_in = Event::new("login_succeeded")
                .address(address)
                .subject(user.id.as_str());
            events::record(db, signed_in, now).await;
            Ok(Some(user))
        }
        Checked::Wrong(reason, account) => {
            throttle.record_failure(db, &attempt, now).await?;
            metrics::counter!("failed_logins_total", "reason" => reason.as_str()).increment(1);
            tracing::info!(client_ip = ?address, "sign-in refused");
            // The name typed for an unknown account is not kept: people
            // type their password into it.
            let mut failed = Event::new("login_failed")
                .address(address)
                .detail("reason", reason.as_str());
            if let Some(id) = account {
                failed = failed.subject(id);
            }
            events::record(db, failed, now).await;
            Ok(None)
        }
    }
}

/// Why a checked password was refused: for operators only, since the
/// client is answered the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongPassword,
    UnknownAccount,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::WrongPassword => "wrong_password",
            Refusal::UnknownAccount => "unknown_account",
        }
    }
}

enum Checked {
    Right(User),
    /// With the account's id when there is one.
    Wrong(Refusal, Option<String>),
}

/// The account, when `password` is its password, else why not.
async fn verify(db: &Db, account: &str, password: SecretString) -> Result<Checked, Undecided> {
    let user = users::find_by_email(db, account).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = password_hash::verify(password, stored)
        .await
        .map_err(Undecided::Busy)?;
    Ok(match user {
        Some(user) if verified => Checked::Right(user),
        Some(user) => Checked::Wrong(Refusal::WrongPassword, Some(user.id)),
        None => Checked::Wrong(Refusal::UnknownAccount, None),
    })
}
