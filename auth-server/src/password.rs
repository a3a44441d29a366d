//! Password hashing with argon2id, off the async executor.
//!
//! Login checks run against a fixed dummy hash when the account does not
//! exist, so an unknown email and a wrong password cost the same time.
//!
//! At most one hash per core runs at a time; the others wait in async land.
//! Argon2id is memory-hard: more hashes than cores only time-slice and
//! fight over the memory bus, which lowers throughput and raises every
//! login's latency.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// OWASP's first argon2id configuration (and the contract's minimum):
/// 19 MiB of memory, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The hash checked when no account matches; its password is irrelevant,
/// only its parameters (the same as real hashes') matter.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hasher()
        .hash_password(b"no account has this password; it only spends time")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

static HASHING_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Runs one argon2 computation on the blocking pool, within the core limit.
async fn run_bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _slot = HASHING_SLOTS.acquire().await.ok()?;
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        work()
    })
    .await
    .ok()
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash(password: SecretString) -> Result<String, HashError> {
    run_bounded(move || {
        hasher()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .unwrap_or_else(|| Err(HashError("the hashing task failed".into())))
}

/// Checks `password` against `stored` (or against the dummy hash when there
/// is no account), on the blocking pool. Always does the same work.
pub async fn verify(password: SecretString, stored: Option<String>) -> bool {
    let exists = stored.is_some();
    run_bounded(move || {
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            tracing::error!("a stored password hash is not a valid PHC string");
            return false;
        };
        let matches = hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        matches && exists
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash now, so the first failed login is not slower.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_carry_the_parameters() {
        let phc = hash(SecretString::from("correct horse battery staple"))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify(
                SecretString::from("correct horse battery staple"),
                Some(phc.clone())
            )
            .await
        );
        assert!(!verify(SecretString::from("wrong"), Some(phc)).await);
        assert!(!verify(SecretString::from("anything"), None).await);
    }
}
