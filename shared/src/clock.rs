//! Time is a parameter everywhere (`issue(.., now)`, `verify(.., now)`); this
//! is the only place that reads the wall clock, so expiry tests need no sleeps.
//! `clippy.toml` refuses wall-clock reads anywhere else.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
