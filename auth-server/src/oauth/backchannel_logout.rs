//! OpenID Connect Back-Channel Logout 1.0 (§2.5, §2.7): posting the
//! logout tokens that `store::logout_deliveries` queues, from a background
//! task of every instance, never on a request's path: a slow or dead
//! receiver delays no page.
//!
//! Each instance takes due rows one at a time under a lease (the store's
//! `lease_due`), posts `logout_token=<JWT>` form-encoded, and on a 2xx
//! deletes the row; otherwise it tries again after an exponential backoff
//! until an hour after the row was enqueued, then gives up. The receivers'
//! URLs are registered by operators or (with the stricter rules of dynamic
//! registration) by third parties, so the client is as careful as the
//! JWKS fetcher: a 5 s budget for connecting, sending and reading, no
//! redirect followed, and at most 64 KiB of the answer read. A third
//! party's URL is posted to only at a public address, whatever its host
//! resolves to when the token is sent.

use std::sync::Arc;
use std::time::Duration;

use shared::clock::AppClock;
use shared::outbound::{PublicAddressesOnly, names_internal_address};
use tokio::task::JoinSet;

use super::jwt::TokenMinter;
use crate::store::db::Db;
use crate::store::logout_deliveries::{self, Delivery};

/// How long a delivery is retried after it was enqueued.
pub const MAX_AGE: i64 = 3600;
/// The wait after the first failed attempt; it doubles with each failure.
pub const FIRST_RETRY: i64 = 5;
/// The longest wait between two attempts.
pub const MAX_RETRY: i64 = 600;
/// How long a leased row is left to its instance: longer than a post can
/// take, so a row is never posted by two at once, short enough that a row
/// whose instance died is soon retried elsewhere.
const LEASE: i64 = 60;
/// The whole post (connect, send, answer) is given this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Of the receiver's answer, only the status matters; no more is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How often the queue is looked at.
const POLL: Duration = Duration::from_secs(1);
/// Posts in flight at once per instance, so that a few dead receivers
/// (each taking the whole timeout) do not hold up the others.
const IN_FLIGHT: usize = 8;

/// The two HTTP clients deliveries are posted with: an operator's URL may
/// be internal (a service beside us), a stranger's never.
struct Posters {
    any: reqwest::Client,
    public_only: reqwest::Client,
}

impl Posters {
    fn for_delivery(&self, delivery: &Delivery) -> &reqwest::Client {
        if delivery.strangers_uri {
            &self.public_only
        } else {
            &self.any
        }
    }
}

fn poster(public_only: bool) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if public_only {
        builder.dns_resolver(Arc::new(PublicAddressesOnly)).build()
    } else {
        builder.build()
    }
}

/// The wait before the next attempt after `attempts` failed ones.
pub fn backoff(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    FIRST_RETRY
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY)
}

/// Delivers what is due, for as long as the server runs
/// (`Services::open` starts it; its posts end with it).
pub async fn run(db: Db, tokens: Arc<TokenMinter>, clock: AppClock) {
    let clients = match (poster(false), poster(true)) {
        (Ok(any), Ok(public_only)) => Posters { any, public_only },
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "back-channel logout: no HTTP client, nothing will be delivered");
            return;
        }
    };
    let mut in_flight = JoinSet::new();
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        while in_flight.try_join_next().is_some() {}
        while in_flight.len() < IN_FLIGHT {
            let now = clock.now();
            match logout_deliveries::lease_due(&db, now, LEASE).await {
                Ok(Some(delivery)) => {
                    let (db, tokens, clock) = (db.clone(), tokens.clone(), clock.clone());
                    let client = clients.for_delivery(&delivery).clone();
                    in_flight.spawn(async move {
                        deliver(&db, &tokens, &client, &delivery, &clock).await;
                    });
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "back-channel logout: the queue cannot be read now");
                    break;
                }
            }
        }
    }
}

/// One attempt at `delivery`, and what it leaves in the queue.
async fn deliver(
    db: &Db,
    tokens: &TokenMinter,
    client: &reqwest::Client,
    delivery: &Delivery,
    clock: &AppClock,
) {
    let outcome = post(tokens, client, delivery, clock.now()).await;
    let now = clock.now();
    let settled = match outcome {
        Ok(status) if status.is_success() => logout_deliveries::delivered(db, delivery, now).await,
        failed => {
            let why = match failed {
                Ok(status) => status.to_string(),
                Err(why) => why,
            };
            let next = now.saturating_add(backoff(delivery.attempts));
            if next > delivery.enqueued_at.saturating_add(MAX_AGE) {
                tracing::warn!(
                    client_id = %delivery.client_id,
                    attempts = delivery.attempts,
                    last = %why,
                    "back-channel logout: given up after an hour"
                );
                logout_deliveries::give_up(db, delivery, "expired", now).await
            } else {
                tracing::info!(
                    client_id = %delivery.client_id,
                    attempts = delivery.attempts,
                    last = %why,
                    retry_in = next - now,
                    "back-channel logout: the receiver did not take the token"
                );
                logout_deliveries::retry_at(db, delivery, next).await
            }
        }
    };
    // The lease runs out, and the row is tried again: at worst once more.
    if let Err(error) = settled {
        tracing::warn!(%error, client_id = %delivery.client_id, "back-channel logout: the outcome was not stored");
    }
}

/// Signs the logout token and posts it; the receiver's status, or why
/// there is none. The token is never logged.
async fn post(
    tokens: &TokenMinter,
    client: &reqwest::Client,
    delivery: &Delivery,
    now: i64,
) -> Result<reqwest::StatusCode, String> {
    let token = tokens
        .sign_logout_token(
            &delivery.client_id,
            &delivery.subject,
            &delivery.sid,
            &delivery.id,
            now,
        )
        .map_err(|e| e.to_string())?;
    // An address in the URL meets no resolver: judged here.
    if delivery.strangers_uri
        && url::Url::parse(&delivery.uri).map_or(true, |url| names_internal_address(&url))
    {
        return Err("an internal address, refused".to_owned());
    }
    let mut answer = client
        .post(&delivery.uri)
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .map_err(|e| without_url(&e))?;
    let status = answer.status();
    // Read (a little) so the connection can be reused; a receiver that
    // answers more is cut off, as one that answers slowly is.
    let mut read = 0;
    while read <= MAX_ANSWER_BYTES {
        match answer.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(status)
}

/// A reqwest error's kind, without the URL (which may carry a secret in
/// its query).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "redirect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_five_seconds_up_to_ten_minutes() {
        let waits: Vec<i64> = (1..=9).map(backoff).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(0), 5);
        assert_eq!(backoff(i64::MAX), 600);
        // Within the hour, a dead receiver is tried about a dozen times.
        let mut at = 0;
        let mut attempts = 0;
        while at <= MAX_AGE {
            attempts += 1;
            at += backoff(attempts);
        }
        assert!((10..=15).contains(&attempts), "{attempts}");
    }
}
