//! Time is a parameter everywhere (`issue(.., now)`, `verify(.., now)`); this
//! is the only place that reads the wall clock, so expiry tests need no sleeps.
//! `clippy.toml` refuses wall-clock reads anywhere else.
//!
//! It also holds the one way a time is written for people and JSON
//! ([`rfc3339`]), so that every timestamp the services answer with or print
//! reads the same.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        unix(system_time())
    }
}

/// The wall clock as a [`SystemTime`], for the few places that need one
/// (file times, a library's own deadline type).
#[allow(clippy::disallowed_methods)]
pub fn system_time() -> SystemTime {
    SystemTime::now()
}

/// The wall clock in seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemClock.now()
}

/// A [`SystemTime`] in seconds since the Unix epoch (0 before it).
pub fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A clock that stands still, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

/// The clock a service's request handlers read, managed as Rocket state so
/// that tests can stop time; the wall clock by default.
#[derive(Clone)]
pub struct AppClock(pub Arc<dyn Clock>);

impl AppClock {
    pub fn now(&self) -> i64 {
        self.0.now()
    }
}

impl Default for AppClock {
    fn default() -> Self {
        AppClock(Arc::new(SystemClock))
    }
}

/// `0000-01-01T00:00:00Z`, the earliest instant RFC 3339 can write.
const RFC3339_MIN: i64 = -62_167_219_200;
/// `9999-12-31T23:59:59Z`, the latest.
const RFC3339_MAX: i64 = 253_402_300_799;

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp
/// (`2025-06-15T15:06:40Z`). RFC 3339 has four-digit years; a time beyond
/// them is written as the nearest instant it can write, so the answer is
/// always a valid timestamp on the right side of every other one, never an
/// empty string or a made-up epoch.
pub fn rfc3339(unix: i64) -> String {
    let clamped = unix.clamp(RFC3339_MIN, RFC3339_MAX);
    OffsetDateTime::from_unix_timestamp(clamped)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        // Within the clamped range neither step can fail.
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_writes_utc_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_750_000_000), "2025-06-15T15:06:40Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_clamps_times_beyond_four_digit_years() {
        assert_eq!(rfc3339(RFC3339_MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(RFC3339_MAX + 1), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(RFC3339_MIN), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
        // Still ordered as the instants are.
        assert!(rfc3339(RFC3339_MAX - 1) < rfc3339(i64::MAX));
    }
}
