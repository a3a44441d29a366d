//! Brute-force protection for the password grant (RFC 6749 §4.3.2 makes it
//! a MUST): failed logins are counted per account and per client address;
//! past a free allowance each further failure locks the key for a doubling
//! time, and while locked every attempt, right password or not, gets the
//! same `429`.
//!
//! State is in-process. governor's limiters count every attempt; here only
//! failures count and a lock must be checked without spending a cell, which
//! a keyed GCRA cannot do, hence this small table. With several instances
//! each keeps its own counts (the README says what that changes).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures per account allowed within `window` before locking.
    pub account_allowance: u32,
    /// Failures per client address allowed within `window` before locking.
    pub address_allowance: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// First lock; each further failure doubles it up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            account_allowance: 5,
            address_allowance: 30,
            window: Duration::from_secs(15 * 60),
            base_lock: Duration::from_secs(15),
            max_lock: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    /// IPv4 address, or the /64 prefix of an IPv6 address (one host's share).
    Address(u128),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Bound on remembered keys, so a flood of distinct usernames cannot grow
/// memory without limit.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    table: Mutex<HashMap<Key, Failures>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> LoginThrottle {
        LoginThrottle {
            policy,
            table: Mutex::default(),
        }
    }

    /// `Err(retry_after)` while the account or the address is locked.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let table = self.lock();
        let wait = keys(account, address)
            .filter_map(|key| table.get(&key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        let policy = self.policy;
        let mut table = self.lock();
        if table.len() >= MAX_KEYS {
            table.retain(|_, f| {
                f.locked_until.is_some_and(|u| u > now) || now - f.window_start < policy.window
            });
        }
        for key in keys(account, address) {
            let allowance = match key {
                Key::Account(_) => policy.account_allowance,
                Key::Address(_) => policy.address_allowance,
            };
            let entry = table.entry(key).or_insert(Failures {
                count: 0,
                window_start: now,
                locked_until: None,
            });
            if now - entry.window_start >= policy.window
                && entry.locked_until.is_none_or(|u| u <= now)
            {
                *entry = Failures {
                    count: 0,
                    window_start: now,
                    locked_until: None,
                };
            }
            entry.count = entry.count.saturating_add(1);
            if entry.count > allowance {
                let doublings = (entry.count - allowance - 1).min(16);
                let lock = policy
                    .base_lock
                    .saturating_mul(1 << doublings)
                    .min(policy.max_lock);
                entry.locked_until = Some(now + lock);
                // A lock extends the memory of the failures past the window.
                entry.window_start = now;
            }
        }
    }

    /// A successful login clears the account's failures, not the address's:
    /// otherwise one known password would reset a guesser's address count.
    pub fn record_success(&self, account: &str) {
        self.lock().remove(&Key::Account(account.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn keys(account: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
    let address = address.map(|ip| match ip {
        IpAddr::V4(v4) => Key::Address(u128::from(u32::from(v4))),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Key::Address(u128::from(u32::from(v4))),
            None => Key::Address(u128::from(v6) & !((1u128 << 64) - 1)),
        },
    });
    std::iter::once(Key::Account(account.to_owned())).chain(address)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            account_allowance: 3,
            address_allowance: 10,
            window: Duration::from_secs(60),
            base_lock: Duration::from_secs(10),
            max_lock: Duration::from_secs(40),
        }
    }

    #[test]
    fn locks_an_account_after_its_allowance_and_doubles() {
        let throttle = LoginThrottle::new(policy());
        let t0 = Instant::now();
        let ip = Some("127.0.0.1".parse().unwrap());
        for _ in 0..3 {
            assert!(throttle.check("a", ip, t0).is_ok());
            throttle.record_failure("a", ip, t0);
        }
        assert!(throttle.check("a", ip, t0).is_ok());
        throttle.record_failure("a", ip, t0);
        assert_eq!(throttle.check("a", ip, t0), Err(Duration::from_secs(10)));
        // Another account from the same address is not locked yet.
        assert!(throttle.check("b", ip, t0).is_ok());
        throttle.record_failure("a", ip, t0);
        assert_eq!(throttle.check("a", ip, t0), Err(Duration::from_secs(20)));
        let later = t0 + Duration::from_secs(21);
        assert!(throttle.check("a", ip, later).is_ok());
        throttle.record_success("a");
        assert!(throttle.check("a", ip, later).is_ok());
    }

    #[test]
    fn locks_an_address_spraying_many_accounts() {
        let throttle = LoginThrottle::new(policy());
        let t0 = Instant::now();
        let ip = Some("2001:db8::1".parse().unwrap());
        let neighbour = Some("2001:db8::2".parse().unwrap());
        for i in 0..11 {
            throttle.record_failure(&format!("user{i}"), ip, t0);
        }
        assert!(throttle.check("fresh", ip, t0).is_err());
        assert!(throttle.check("fresh", neighbour, t0).is_err(), "same /64");
        assert!(
            throttle
                .check("fresh", Some("2001:db9::1".parse().unwrap()), t0)
                .is_ok()
        );
    }
}
