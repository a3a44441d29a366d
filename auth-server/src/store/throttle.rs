//! Brute-force protection for password logins (RFC 6749 §4.3.2 makes it a
//! MUST), counted in the database so that every instance on it sees the
//! same counts. Three keys are counted for each failed login:
//!
//! - the client address (IPv4, or the /64 of IPv6: one host's share):
//!   30 failures within 15 minutes lock it;
//! - the account at that address: 5 failures lock it;
//! - the account from anywhere: 100 consecutive failures lock it
//!   (NIST SP 800-63B), forgotten a day after the last one.
//!
//! A lock starts at 15 s and doubles with each further failure up to
//! 15 minutes; while any of the attempt's keys is locked, every attempt,
//! right password or not, gets `429`. Refused attempts are not failures, so
//! they never lengthen a lock. A success clears the account's two keys but
//! not the address's: one known password must not reset a guesser's count.
//! So below 100 consecutive failures the right password from an address
//! that has not failed is never refused, whoever fails elsewhere.
//!
//! An attempt counts before its password is checked, so that concurrency
//! buys no extra guesses. [`LoginThrottle::admit`] takes a place under each
//! of the attempt's keys with one atomic upsert that returns each key's
//! failures, places held and lock; a key lets as many attempts be in flight
//! as failures it still allows (one at a time once its allowance is spent
//! and its lock is over). An attempt is settled once: its failure counted
//! ([`LoginThrottle::record_failure`]), or its place given back, by a
//! success (which also clears the account's keys) or by a server that could
//! not check it (`503`). So of any number of simultaneous wrong passwords
//! for one account from one address, at most 5 are checked.
//!
//! Places held by attempts still in flight are not failures: they never
//! lock a key and never refuse anyone. An attempt that finds no place free
//! waits (up to [`MAX_ADMISSION_WAIT`]) for those ahead of it to settle, and
//! is refused only if they locked the key, or if they took too long. It asks
//! again as soon as an attempt settles in this process, and otherwise
//! polls, for attempts settled by other instances; without the wake-up,
//! fresh attempts that found a place free overtook the pollers, and 8
//! concurrent logins of one account had a p99 over a second. So an owner's concurrent logins, or an office's behind one
//! address, are queued, not refused, and no attempt in flight ever locks
//! anyone out. Places of a process that died are forgotten after
//! [`RESERVATION_TTL`].
//!
//! Each failure is one atomic upsert per key that returns the new count
//! (the three in one transaction), so concurrent failures on any number of
//! instances count exactly; the lock is then written from that count and
//! only ever lengthened. Every statement that writes several keys writes
//! them in the same order (address, account at address, account), so two
//! attempts never wait on each other's row locks in a cycle. Keys are
//! stored as the SHA-256 of a kind-prefixed value, never the email or
//! address itself. Rows past their `expires_at` (and their places and locks)
//! are deleted by the pruner.
//!
//! [`SignupThrottle`] counts signups per client address in the same table,
//! under a key kind of its own, so no login key can ever meet a signup key.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sqlx::Row;

use platform::db::Backend;

use super::db::{Db, Tx};

/// Longest `username` looked at; longer is refused before any work (an
/// email address is at most 320 characters, RFC 3696 errata 1690).
pub const MAX_USERNAME_CHARS: usize = 320;

/// How long an attempt waits for a place before it is refused: longer
/// than the attempts ahead of it take to settle (each is checked within
/// about 2 s or answered `503`, `password_hash::MAX_EXPECTED_WAIT`).
pub const MAX_ADMISSION_WAIT: Duration = Duration::from_secs(3);

/// `Retry-After` for an attempt that waited [`MAX_ADMISSION_WAIT`] in vain.
const CROWDED_RETRY_AFTER: u64 = 1;

/// Seconds after which places still held count for nothing: attempts
/// settle within seconds, so such places belong to a process that died.
pub const RESERVATION_TTL: i64 = 30;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures per client address within `address_window` before a lock.
    pub address_allowance: i64,
    pub address_window: i64,
    /// Failures per account at one address (same window) before a lock.
    pub account_address_allowance: i64,
    /// Consecutive failures per account, from anywhere, before a lock.
    pub account_allowance: i64,
    /// How long after its last failure an account's count is remembered.
    pub account_memory: i64,
    /// First lock in seconds; each further failure doubles it up to `max_lock`.
    pub base_lock: i64,
    pub max_lock: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            address_allowance: 30,
            address_window: 15 * 60,
            account_address_allowance: 5,
            account_allowance: 100,
            account_memory: 24 * 3600,
            base_lock: 15,
            max_lock: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Address,
    AccountAddress,
    Account,
    /// Signups from one client address (not a login key).
    Signup,
}

/// One counted key, as stored: its kind and hashed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    pub kind: KeyKind,
    pub hash: String,
}

impl ThrottleKey {
    fn new(kind: KeyKind, value: &str) -> ThrottleKey {
        let prefix = match kind {
            KeyKind::Address => "address",
            KeyKind::AccountAddress => "account-address",
            KeyKind::Account => "account",
            KeyKind::Signup => "signup",
        };
        let digest = Sha256::new()
            .chain_update(prefix)
            .chain_update([0u8])
            .chain_update(value)
            .finalize();
        let hash = digest.iter().map(|b| format!("{b:02x}")).collect();
        ThrottleKey { kind, hash }
    }
}

/// The keys one login attempt is counted under.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub address: ThrottleKey,
    pub account_address: ThrottleKey,
    pub account: ThrottleKey,
}

impl Attempt {
    /// `account` is the normalised (trimmed, lower-cased) username;
    /// `address` the client address, `None` only without a TCP peer.
    pub fn new(account: &str, address: Option<IpAddr>) -> Attempt {
        let address = address_bucket(address);
        Attempt {
            address: ThrottleKey::new(KeyKind::Address, &address),
            account_address: ThrottleKey::new(
                KeyKind::AccountAddress,
                &format!("{account}\0{address}"),
            ),
            account: ThrottleKey::new(KeyKind::Account, account),
        }
    }

    /// In the one order every statement writes them.
    fn keys(&self) -> [&ThrottleKey; 3] {
        [&self.address, &self.account_address, &self.account]
    }
}

/// What one attempt found when it asked for a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A place is held under every key: check the password, then settle.
    Held,
    /// A key is locked for this many more seconds: refuse (`429`).
    Locked(u64),
    /// Attempts in flight use every check a key still allows: wait for
    /// them to settle. Nothing is held.
    Full,
}

/// IPv4 (IPv4-mapped IPv6 included) as itself, IPv6 by its /64.
fn address_bucket(address: Option<IpAddr>) -> String {
    match address.map(platform::client_addr::canonical) {
        None => "none".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// The statement that gives back the places an attempt holds under its three
/// keys (`$1` to `$3`, in the usual order); a settlement may add to its
/// `set`. sqlx 0.9 takes only static SQL, so the pieces meet in `concat!`.
macro_rules! give_back_places {
    () => {
        "insert into login_failures \
           (key_hash, failures, locked_until, expires_at, pending, pending_until) \
         values ($1, 0, 0, 0, 0, 0), ($2, 0, 0, 0, 0, 0), ($3, 0, 0, 0, 0, 0) \
         on conflict (key_hash) do update set \
           pending = case when login_failures.pending > 0 \
                          then login_failures.pending - 1 else 0 end"
    };
}
/// Settles a held attempt with one statement over its three keys. One
/// statement is atomic by itself: on SQLite it is sent alone (a BEGIN and
/// a COMMIT around it were two more round trips to SQLite's thread, each
/// waking a thread that preempts a password hash); on PostgreSQL in a
/// transaction, for its `synchronous_commit = off`.
async fn settle(db: &Db, attempt: &Attempt, sql: &'static str) -> Result<(), sqlx::Error> {
    let [a, b, c] = attempt.keys();
    let statement = sqlx::query(sql).bind(&a.hash).bind(&b.hash).bind(&c.hash);
    if db.backend == Backend::Sqlite {
        statement.execute(&mut *db.writer().await?).await?;
        return Ok(());
    }
    let mut tx = begin_counting(db).await?;
    statement.execute(&mut *tx).await?;
    tx.commit().await
}

/// The login throttle: a policy over the `login_failures` table.
#[derive(Debug, Default, Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// Woken whenever an attempt of this process settles, so that the
    /// attempts waiting for a place ask again at once.
    settled: Arc<tokio::sync::Notify>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle {
            policy,
            settled: Arc::default(),
        }
    }

    /// Settles a held attempt (see [`settle`]) and wakes the waiters.
    async fn settle(
        &self,
        db: &Db,
        attempt: &Attempt,
        sql: &'static str,
    ) -> Result<(), sqlx::Error> {
        let settled = settle(db, attempt, sql).await;
        self.settled.notify_waiters();
        settled
    }

    /// The policy's allowance and memory for a key kind, and whether its
    /// memory slides with each failure.
    fn rule(&self, kind: KeyKind) -> (i64, i64, bool) {
        match kind {
            KeyKind::Address => (
                self.policy.address_allowance,
                self.policy.address_window,
                false,
            ),
            KeyKind::AccountAddress => (
                self.policy.account_address_allowance,
                self.policy.address_window,
                false,
            ),
            KeyKind::Account | KeyKind::Signup => (
                self.policy.account_allowance,
                self.policy.account_memory,
                true,
            ),
        }
    }

    /// Lets an attempt be checked: `Ok(Ok(()))` with a place held under each
    /// of its keys (settle it with `record_failure`, `record_success` or
    /// `release`), or `Ok(Err(seconds))` for a `429`. Waits while the places
    /// are all taken by attempts in flight, up to [`MAX_ADMISSION_WAIT`].
    pub async fn admit(
        &self,
        db: &Db,
        attempt: &Attempt,
        now: i64,
    ) -> Result<Result<(), u64>, sqlx::Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            // Registered before asking, so that a settlement between the
            // answer and the wait is not missed.
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match self.reserve(db, attempt, now).await? {
                Reservation::Held => return Ok(Ok(())),
                Reservation::Locked(wait) => return Ok(Err(wait)),
                Reservation::Full if started.elapsed() >= MAX_ADMISSION_WAIT => {
                    return Ok(Err(CROWDED_RETRY_AFTER));
                }
                Reservation::Full => {
                    // Jittered, so that the waiters of one burst do not
                    // all ask again at the same instant.
                    let jitter = rand::random_range(0..=pause.as_millis() as u64);
                    let poll = tokio::time::sleep(pause + Duration::from_millis(jitter));
                    tokio::select! {
                        () = settled => {}
                        () = poll => pause = (pause * 2).min(Duration::from_millis(50)),
                    }
                }
            }
        }
    }

    /// One try at a place under each of the attempt's keys: one atomic
    /// upsert takes it and returns what each key holds; a place that cannot
    /// be kept is rolled back with it.
    pub async fn reserve(
        &self,
        db: &Db,
        attempt: &Attempt,
        now: i64,
    ) -> Result<Reservation, sqlx::Error> {
        let [a, b, c] = attempt.keys();
        let mut tx = begin_counting(db).await?;
        // A new row counts nothing yet (`expires_at` = now): its window
        // begins with its first failure. A stale window counts from zero.
        let rows = sqlx::query(
            "insert into login_failures \
               (key_hash, failures, locked_until, expires_at, pending, pending_until) \
             values ($1, 0, 0, $4, 1, $5), ($2, 0, 0, $4, 1, $5), ($3, 0, 0, $4, 1, $5) \
             on conflict (key_hash) do update set \
               failures = case when login_failures.expires_at <= $4 then 0 \
                               else login_failures.failures end, \
               pending = case when login_failures.pending_until <= $4 then 1 \
                              else login_failures.pending + 1 end, \
               pending_until = case when login_failures.pending_until > $5 \
                                    then login_failures.pending_until else $5 end \
             returning key_hash, failures, pending, locked_until",
        )
        .bind(&a.hash)
        .bind(&b.hash)
        .bind(&c.hash)
        .bind(now)
        .bind(now + RESERVATION_TTL)
        .fetch_all(&mut *tx)
        .await?;
        let mut found = Reservation::Held;
        for row in &rows {
            let hash: String = row.try_get("key_hash")?;
            let failures: i64 = row.try_get("failures")?;
            let pending: i64 = row.try_get("pending")?;
            let locked_until: i64 = row.try_get("locked_until")?;
            let Some(key) = attempt.keys().into_iter().find(|k| k.hash == hash) else {
                continue;
            };
            let (allowance, _, _) = self.rule(key.kind);
            found = match (
                found,
                Self::assess(failures, pending, locked_until, allowance, now),
            ) {
                (Reservation::Locked(x), Reservation::Locked(y)) => Reservation::Locked(x.max(y)),
                (Reservation::Locked(x), _) | (_, Reservation::Locked(x)) => Reservation::Locked(x),
                (Reservation::Full, _) | (_, Reservation::Full) => Reservation::Full,
                (Reservation::Held, Reservation::Held) => Reservation::Held,
            };
        }
        if found == Reservation::Held {
            tx.commit().await?;
        } else {
            // A place that cannot be kept was never taken.
            tx.rollback().await?;
        }
        Ok(found)
    }

    /// What one key says of an attempt that has just taken a place there
    /// (`pending` includes it).
    fn assess(
        failures: i64,
        pending: i64,
        locked_until: i64,
        allowance: i64,
        now: i64,
    ) -> Reservation {
        if locked_until > now {
            return Reservation::Locked(u64::try_from(locked_until - now).unwrap_or(1).max(1));
        }
        // As many in flight as failures are still allowed; once the
        // allowance is spent (and its lock over), one at a time, each
        // failure locking again.
        let in_flight = (allowance - failures).max(1);
        if pending > in_flight {
            Reservation::Full
        } else {
            Reservation::Held
        }
    }

    /// Settles a held attempt as a failure: counted under each of its keys,
    /// locking those past their allowance, and its place given back.
    pub async fn record_failure(
        &self,
        db: &Db,
        attempt: &Attempt,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        // One transaction: one commit instead of up to six. Keys are always
        // taken in the same order (address, account at address, account),
        // so two attempts never wait on each other in a cycle.
        let mut tx = begin_counting(db).await?;
        for key in attempt.keys() {
            let (allowance, memory, sliding) = self.rule(key.kind);
            // One statement, so concurrent failures each see their own
            // count. A window begins with its first failure.
            let failures: i64 = sqlx::query_scalar(
                "insert into login_failures \
                   (key_hash, failures, locked_until, expires_at, pending, pending_until) \
                 values ($1, 1, 0, $3, 0, 0) \
                 on conflict (key_hash) do update set \
                   failures = case when login_failures.expires_at <= $2 then 1 \
                                   else login_failures.failures + 1 end, \
                   expires_at = case when login_failures.expires_at <= $2 \
                                       or login_failures.failures = 0 or $4 = 1 then $3 \
                                     else login_failures.expires_at end, \
                   pending = case when login_failures.pending > 0 \
                                  then login_failures.pending - 1 else 0 end \
                 returning failures",
            )
            .bind(&key.hash)
            .bind(now)
            .bind(now + memory)
            .bind(i64::from(sliding))
            .fetch_one(&mut *tx)
            .await?;
            if let Some(lock) = self.lock_for(failures, allowance) {
                // Never shortens a lock a higher count already wrote; the
                // count is remembered for a window past the lock.
                sqlx::query(
                    "update login_failures set locked_until = $2, \
                       expires_at = case when expires_at < $3 then $3 else expires_at end \
                     where key_hash = $1 and locked_until < $2",
                )
                .bind(&key.hash)
                .bind(now + lock)
                .bind(now + lock.max(memory))
                .execute(&mut *tx)
                .await?;
            }
        }
        let committed = tx.commit().await;
        self.settled.notify_waiters();
        committed
    }

    /// Settles a held attempt as a success: its place given back, and the
    /// account's keys cleared (their failures and lock), not the address's.
    pub async fn record_success(&self, db: &Db, attempt: &Attempt) -> Result<(), sqlx::Error> {
        let sql = concat!(
            give_back_places!(),
            ", failures = case when login_failures.key_hash = $1 \
                               then login_failures.failures else 0 end, \
               locked_until = case when login_failures.key_hash = $1 \
                                   then login_failures.locked_until else 0 end, \
               expires_at = case when login_failures.key_hash = $1 \
                                 then login_failures.expires_at else 0 end"
        );
        self.settle(db, attempt, sql).await
    }

    /// Gives a held place back without counting anything: the password was
    /// not checked (the hashing queue was full, or the database failed).
    pub async fn release(&self, db: &Db, attempt: &Attempt) -> Result<(), sqlx::Error> {
        self.settle(db, attempt, give_back_places!()).await
    }

    /// Seconds until the attempt may be made, when any of its keys is
    /// locked (for operators and tests; logins use [`LoginThrottle::admit`]).
    pub async fn check(
        &self,
        db: &Db,
        attempt: &Attempt,
        now: i64,
    ) -> Result<Option<u64>, sqlx::Error> {
        let [a, b, c] = attempt.keys();
        let until: Option<i64> = sqlx::query_scalar(
            "select max(locked_until) from login_failures \
             where key_hash in ($1, $2, $3) and locked_until > $4",
        )
        .bind(&a.hash)
        .bind(&b.hash)
        .bind(&c.hash)
        .bind(now)
        .fetch_one(&db.pool)
        .await?;
        Ok(until.map(|until| u64::try_from(until - now).unwrap_or(1).max(1)))
    }

    /// The `failures`-th failure's lock in seconds, if it earns one: the
    /// failure that reaches the allowance locks for `base_lock`, each one
    /// after doubles it.
    pub fn lock_for(&self, failures: i64, allowance: i64) -> Option<i64> {
        let over = failures.checked_sub(allowance)?;
        if over < 0 {
            return None;
        }
        let doublings = u32::try_from(over.min(16)).unwrap_or(16);
        Some(
            self.policy
                .base_lock
                .saturating_mul(1 << doublings)
                .min(self.policy.max_lock),
        )
    }
}

/// Begins a transaction for the login throttle's writes. On PostgreSQL its
/// commit does not wait for the WAL flush: a count lost in a crash of the
/// database hands a guesser a few attempts at most, and a place lost is
/// forgotten within [`RESERVATION_TTL`]; waiting would add a disk flush to
/// every login, before and after its password is checked.
async fn begin_counting(db: &Db) -> Result<Tx, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.backend == Backend::Postgres {
        sqlx::query("set local synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// How many signups one client address may make, and over what window.
#[derive(Debug, Clone, Copy)]
pub struct SignupPolicy {
    pub allowance: i64,
    /// Seconds; the window starts with the address's first signup and is
    /// fixed, so refused attempts never push it back.
    pub window: i64,
}

impl Default for SignupPolicy {
    /// 10 an hour: a household or an office behind one address signs up a
    /// few people; a script making accounts by the thousand is stopped.
    fn default() -> Self {
        SignupPolicy {
            allowance: 10,
            window: 3600,
        }
    }
}

/// The signup limit per client address (IPv4, or the /64 of IPv6), on the
/// `login_failures` table: one row per address whose `failures` column
/// counts the signups taken in the window that ends at `expires_at`.
///
/// A signup takes its place with one atomic upsert that returns the new
/// count, before anything is hashed or stored, so concurrent signups on
/// any number of instances never take more than the allowance. A refused
/// attempt leaves the count at `allowance + 1` at most (never more, so that
/// [`SignupThrottle::give_back`] can tell how many were taken). A signup
/// the server could not finish (`503`) gives its place back; one that lost
/// a race for its email (`409`) keeps it.
#[derive(Debug, Default, Clone)]
pub struct SignupThrottle {
    policy: SignupPolicy,
}

/// A place taken in an address's window, to give back if the signup
/// could not be done.
#[derive(Debug, Clone)]
pub struct SignupPlace {
    key: ThrottleKey,
    window_end: i64,
}

impl SignupThrottle {
    pub fn new(policy: SignupPolicy) -> SignupThrottle {
        SignupThrottle { policy }
    }

    pub fn policy(&self) -> SignupPolicy {
        self.policy
    }

    /// The key an address's signups are counted under.
    pub fn key(address: Option<IpAddr>) -> ThrottleKey {
        ThrottleKey::new(KeyKind::Signup, &address_bucket(address))
    }

    /// Takes a place for one signup from `address`: `Ok(place)`, or
    /// `Err(seconds)` until the window ends when none is left.
    pub async fn take(
        &self,
        db: &Db,
        address: Option<IpAddr>,
        now: i64,
    ) -> Result<Result<SignupPlace, u64>, sqlx::Error> {
        let key = SignupThrottle::key(address);
        let (count, window_end): (i64, i64) = sqlx::query_as(
            "insert into login_failures (key_hash, failures, locked_until, expires_at)              values ($1, 1, 0, $3)              on conflict (key_hash) do update set                failures = case when login_failures.expires_at <= $2 then 1                                when login_failures.failures > $4 then login_failures.failures                                else login_failures.failures + 1 end,                expires_at = case when login_failures.expires_at <= $2 then $3                                  else login_failures.expires_at end              returning failures, expires_at",
        )
        .bind(&key.hash)
        .bind(now)
        .bind(now + self.policy.window)
        .bind(self.policy.allowance)
        .fetch_one(&mut *db.writer().await?)
        .await?;
        if count > self.policy.allowance {
            return Ok(Err(u64::try_from(window_end - now).unwrap_or(1).max(1)));
        }
        Ok(Ok(SignupPlace { key, window_end }))
    }

    /// Gives a place back (the signup was not done through no fault of the
    /// client). A count at `allowance + 1` meant all places taken and some
    /// attempts refused: one fewer taken is `allowance - 1`. Nothing
    /// happens once the window the place was taken in has ended.
    pub async fn give_back(&self, db: &Db, place: &SignupPlace) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update login_failures set failures =                case when failures > $3 then $3 - 1 else failures - 1 end              where key_hash = $1 and expires_at = $2 and failures > 0",
        )
        .bind(&place.key.hash)
        .bind(place.window_end)
        .bind(self.policy.allowance)
        .execute(&mut *db.writer().await?)
        .await?;
        Ok(())
    }
}

/// The stored count of one key (for tests and operators), if any.
pub async fn failures(db: &Db, key: &ThrottleKey) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select failures from login_failures where key_hash = $1")
        .bind(&key.hash)
        .fetch_optional(&db.pool)
        .await
}

/// The places one key holds for attempts in flight (for tests and
/// operators), if it has a row.
pub async fn pending(db: &Db, key: &ThrottleKey) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select pending from login_failures where key_hash = $1")
        .bind(&key.hash)
        .fetch_optional(&db.pool)
        .await
}

/// Deletes rows that no longer mean anything (no count, no lock, no
/// place that may still be held); returns how many went.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "delete from login_failures \
         where expires_at < $1 and locked_until < $1 and pending_until < $1",
    )
    .bind(now)
    .execute(&mut *db.writer().await?)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locks_start_at_the_allowance_and_double_up_to_the_cap() {
        let throttle = LoginThrottle::default();
        assert_eq!(throttle.lock_for(4, 5), None);
        assert_eq!(throttle.lock_for(5, 5), Some(15));
        assert_eq!(throttle.lock_for(6, 5), Some(30));
        assert_eq!(throttle.lock_for(30, 30), Some(15));
        assert_eq!(throttle.lock_for(35, 30), Some(480));
        assert_eq!(throttle.lock_for(36, 30), Some(900));
        assert_eq!(throttle.lock_for(10_000, 30), Some(900));
        assert_eq!(throttle.lock_for(99, 100), None);
        assert_eq!(throttle.lock_for(100, 100), Some(15));
    }

    #[test]
    fn addresses_are_bucketed_and_keys_hashed_by_kind() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(address_bucket(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(address_bucket(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(
            address_bucket(ip("2001:db8:1:2:3:4:5:6")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            Attempt::new("a@x", ip("2001:db8:1:2::9")).address,
            Attempt::new("b@y", ip("2001:db8:1:2:ffff::1")).address
        );
        let attempt = Attempt::new("ada@example.com", ip("192.0.2.1"));
        let hashes: Vec<&str> = attempt.keys().iter().map(|k| k.hash.as_str()).collect();
        assert!(
            hashes
                .iter()
                .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert_ne!(hashes[0], hashes[1]);
        assert_ne!(hashes[1], hashes[2]);
        // An account named like an address is not that address's key.
        assert_ne!(
            Attempt::new("192.0.2.1", None).account.hash,
            Attempt::new("x", ip("192.0.2.1")).address.hash
        );
    }
}
