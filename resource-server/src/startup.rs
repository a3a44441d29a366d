//! Start-up failures, one line each, naming the setting to fix. Rocket's
//! ignite fairings can only say that they failed; they record why here and
//! `main` prints it before exiting non-zero, without a panic or backtrace.

use std::sync::{Mutex, PoisonError};

static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records why start-up cannot go on.
pub fn fail(message: impl Into<String>) {
    // Not logged: `main` prints it as the one line the operator reads.
    FAILURES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(message.into());
}

/// Takes the recorded failures.
pub fn take_failures() -> Vec<String> {
    std::mem::take(&mut *FAILURES.lock().unwrap_or_else(PoisonError::into_inner))
}
