//! Password hashing with argon2id, off the async executor, in bounded memory
//! and with a bounded queue.
//!
//! - Memory: argon2id at m=19 MiB needs a 19 MiB block buffer per hash. Left
//!   to the allocator, every blocking-pool thread that ever ran a hash keeps
//!   its own 19 MiB (glibc's per-thread arenas never give it back): 600
//!   failed logins took the process from 16 to 544 MiB. Here each hashing
//!   slot owns one buffer, allocated on first use and reused for every hash
//!   after, so the process never holds more than `slots × 19 MiB` for
//!   hashing, whatever the load.
//! - Slots: `PASSWORD_HASH_CONCURRENCY` hashes at a time, by default one
//!   per core, so logins use every core. More than the cores would only
//!   time-slice and fight over the memory bus. The contract's memory bound
//!   grows with them: 40 MiB + 20 MiB per slot.
//! - Threads: the hashes run on threads of their own, one per slot, at a
//!   lower scheduling priority (nice 10, on Linux). Hashing takes whatever
//!   CPU is idle, every core's under a login flood, yet the async workers
//!   that answer every other request (and do the logins' own database work)
//!   go first: with one slot per core at equal priority, a burst of 400
//!   logins starved them until database waits timed out into `503`s.
//! - Queue: a request that would wait more than [`MAX_EXPECTED_WAIT`] for a
//!   slot (the hashes ahead of it × the measured hash time ÷ slots) is
//!   refused at once with [`Busy`], which callers answer `503` with
//!   `Retry-After`, instead of queueing without bound.
//! - Timing: login checks run against a fixed dummy hash when the account
//!   does not exist, so an unknown email and a wrong password cost the same.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// OWASP's first argon2id configuration (and the contract's minimum):
/// 19 MiB of memory, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// The most hashing slots `PASSWORD_HASH_CONCURRENCY` may ask for: each
/// holds a 19 MiB buffer, so 64 is already 1.2 GiB.
pub const MAX_SLOTS: usize = 64;
/// The longest a request may expect to wait for a hashing slot.
pub const MAX_EXPECTED_WAIT: Duration = Duration::from_secs(2);
/// The hash time assumed until one has been measured.
const INITIAL_HASH_TIME: Duration = Duration::from_millis(100);

/// The hash checked when no account matches. Its password is irrelevant;
/// its parameters are those of real hashes, so checking it costs the same.
/// Fixed rather than computed at start, which would cost a 19 MiB buffer
/// on an idle server.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm8gYWNjb3VudCBoZXJl$ZMb3ZSzR9rrLPqMJkrF6cjqcX1QU3EBaL2JgTvN6Tx4";

fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).unwrap_or_default()
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Too many hashes are waiting: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password hashes are waiting")]
    Busy(Busy),
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// One piece of hashing work, run on a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing slots, their threads and buffers, and what the queue holds.
struct HashingPool {
    slots: Arc<Semaphore>,
    /// To the hashing threads; at most `slot_count` jobs are ever in it or
    /// running, one per slot held.
    jobs: std::sync::mpsc::Sender<Job>,
    slot_count: usize,
    /// Buffers not in use; at most `slot_count` ever exist.
    buffers: Mutex<Vec<Box<[Block]>>>,
    /// Requests admitted and not yet done (hashing or waiting for a slot).
    queued: AtomicUsize,
    /// Moving average of one hash's duration, in nanoseconds.
    hash_nanos: AtomicU64,
}

/// The process's one pool. Hashing slots are the machine's: several
/// servers in one process (as in the tests) share them, as they share the
/// cores and the memory budget.
static POOL: OnceLock<HashingPool> = OnceLock::new();

/// One slot per core (the default of `PASSWORD_HASH_CONCURRENCY`).
pub fn default_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_SLOTS)
}

/// Sets the number of hashing slots (clamped to 1..=[`MAX_SLOTS`]) before
/// the first hash. Returns the number in force: a pool that already exists
/// keeps its own, since buffers may be out.
pub fn configure(slots: usize) -> usize {
    pool_with(slots.clamp(1, MAX_SLOTS)).slot_count
}

fn pool_with(slot_count: usize) -> &'static HashingPool {
    POOL.get_or_init(|| HashingPool::new(slot_count))
}

fn pool() -> &'static HashingPool {
    pool_with(default_slots())
}

/// One admitted request; leaving the queue when dropped, whether it was
/// served or its caller went away.
struct Admission(&'static HashingPool);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashingPool {
    fn new(slot_count: usize) -> HashingPool {
        HashingPool {
            slots: Arc::new(Semaphore::new(slot_count)),
            jobs: spawn_hashing_threads(slot_count),
            slot_count,
            buffers: Mutex::new(Vec::with_capacity(slot_count)),
            queued: AtomicUsize::new(0),
            hash_nanos: AtomicU64::new(INITIAL_HASH_TIME.as_nanos() as u64),
        }
    }

    fn hash_time(&self) -> Duration {
        Duration::from_nanos(self.hash_nanos.load(Ordering::Relaxed))
    }

    /// Admits a request unless the work ahead of it would take longer than
    /// [`MAX_EXPECTED_WAIT`].
    fn admit(&'static self) -> Result<Admission, Busy> {
        let ahead = self.queued.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(self);
        let wait = self.expected_wait(ahead);
        if wait > MAX_EXPECTED_WAIT {
            drop(admission);
            metrics::counter!("password_hashes_shed_total").increment(1);
            return Err(Busy {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        Ok(admission)
    }

    /// How long a request waits for a slot with `ahead` requests before it.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let rounds = ahead / self.slot_count;
        self.hash_time().saturating_mul(rounds as u32)
    }

    fn record(&self, took: Duration) {
        let sample = took.as_nanos().min(u128::from(u64::MAX)) as u64;
        let old = self.hash_nanos.load(Ordering::Relaxed);
        // An exponential moving average: recent load matters most.
        let new = old - old / 8 + sample / 8;
        self.hash_nanos.store(new, Ordering::Relaxed);
    }

    fn take_buffer(&self) -> Box<[Block]> {
        let reused = self.buffers.lock().ok().and_then(|mut free| free.pop());
        reused.unwrap_or_else(|| vec![Block::default(); params().block_count()].into_boxed_slice())
    }

    fn give_back(&self, buffer: Box<[Block]>) {
        if let Ok(mut free) = self.buffers.lock()
            && free.len() < self.slot_count
        {
            free.push(buffer);
        }
    }
}

/// `count` hashing threads at a lower priority, taking jobs from the one
/// channel returned. A thread that cannot be started is logged; with none,
/// the channel is closed and every hash fails rather than waits.
fn spawn_hashing_threads(count: usize) -> std::sync::mpsc::Sender<Job> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for n in 0..count {
        let receiver = receiver.clone();
        let started = std::thread::Builder::new()
            .name(format!("argon2id-{n}"))
            .spawn(move || {
                lower_this_threads_priority();
                loop {
                    // The lock is held only while waiting for a job.
                    let job = match receiver.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A job that panics fails its one hash (its caller sees
                    // the answer channel closed), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        if let Err(error) = started {
            tracing::error!(%error, "cannot start a password hashing thread");
        }
    }
    sender
}

/// Nice 10: the scheduler gives this thread about a tenth of a core's share
/// while other threads want it, and the whole core when it is idle. On
/// Linux, `setpriority` on a thread id changes that thread only.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)
    {
        tracing::warn!(%error, "cannot lower the priority of a password hashing thread");
    }
}

#[cfg(target_os = "linux")]
const HASHING_NICENESS: i32 = 10;

/// Runs one argon2 computation on a hashing thread, in a slot of `pool` and
/// with the slot's buffer. The slot is held by the job itself, so a caller
/// that goes away mid-hash frees nothing early and the bound holds; a job
/// whose caller went away before it began is skipped.
async fn run_bounded<T: Send + 'static>(
    pool: &'static HashingPool,
    work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
) -> Result<Option<T>, Busy> {
    let admission = pool.admit()?;
    let Ok(slot) = pool.slots.clone().acquire_owned().await else {
        return Ok(None);
    };
    let span = tracing::Span::current();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _entered = span.enter();
        let _admission = admission;
        let _slot = slot;
        if answer.is_closed() {
            return;
        }
        let mut buffer = pool.take_buffer();
        let started = Instant::now();
        let result = work(&mut buffer);
        pool.record(started.elapsed());
        pool.give_back(buffer);
        let _ = answer.send(result);
    });
    if pool.jobs.send(job).is_err() {
        return Ok(None);
    }
    Ok(answered.await.ok())
}

/// Hashes a password into a PHC string, on the blocking pool.
pub async fn hash(password: SecretString) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    run_bounded(pool(), move |buffer| {
        let mut out = [0u8; OUTPUT_LEN];
        hasher()
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                &salt,
                &mut out,
                buffer,
            )
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params())
                .map_err(|e| HashError::Failed(e.to_string()))?,
            salt: Some(Salt::new(&salt).map_err(|e| HashError::Failed(e.to_string()))?),
            hash: Some(Output::new(&out).map_err(|e| HashError::Failed(e.to_string()))?),
        };
        Ok(phc.to_string())
    })
    .await
    .map_err(HashError::Busy)?
    .unwrap_or_else(|| Err(HashError::Failed("the hashing task failed".into())))
}

/// Checks `password` against `stored` (or against the dummy hash when there
/// is no account), on the blocking pool. Always does the same work.
/// `Err(Busy)` when too many hashes wait: nothing was checked.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, Busy> {
    let exists = stored.is_some();
    let verified = run_bounded(pool(), move |buffer| {
        let phc = stored.as_deref().unwrap_or(DUMMY_HASH);
        match matches(password.expose_secret().as_bytes(), phc, buffer) {
            Ok(matches) => matches && exists,
            Err(error) => {
                tracing::error!(%error, "a stored password hash cannot be checked");
                false
            }
        }
    })
    .await?;
    Ok(verified.unwrap_or(false))
}

/// Recomputes the hash of `password` with the parameters and salt of the
/// PHC string `phc` in `buffer`, and compares in constant time.
fn matches(password: &[u8], phc: &str, buffer: &mut [Block]) -> Result<bool, String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
    if parsed.algorithm != ARGON2ID_IDENT {
        return Err(format!("not argon2id but {}", parsed.algorithm));
    }
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or(Version::V0x13);
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err("no salt or no hash".into());
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, buffer)
        .map_err(|e| e.to_string())?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

/// A 19 MiB block buffer, as each slot holds, for [`verify_in`].
pub fn new_buffer() -> Vec<Block> {
    vec![Block::default(); params().block_count()]
}

/// One login's password check, synchronously in `buffer`, against the fixed
/// hash an unknown account is checked against: the raw argon2id work of a
/// login, with no pool, queue or HTTP around it (the load runs' gauge).
pub fn verify_in(password: &[u8], buffer: &mut [Block]) -> bool {
    matches(password, DUMMY_HASH, buffer).unwrap_or(false)
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
        let check = |password: &str, stored: Option<String>| {
            verify(SecretString::from(password.to_owned()), stored)
        };
        assert_eq!(
            check("correct horse battery staple", Some(phc.clone())).await,
            Ok(true)
        );
        assert_eq!(check("wrong", Some(phc)).await, Ok(false));
        assert_eq!(check("anything", None).await, Ok(false));
    }

    #[test]
    fn hashes_of_the_argon2_crate_verify_in_a_reused_buffer() {
        use argon2::password_hash::PasswordHasher;
        let made = hasher()
            .hash_password_with_salt(b"a password", b"some salt here!!")
            .unwrap()
            .to_string();
        let mut buffer = vec![Block::default(); params().block_count()];
        assert_eq!(matches(b"a password", &made, &mut buffer), Ok(true));
        assert_eq!(matches(b"a password!", &made, &mut buffer), Ok(false));
        assert_eq!(matches(b"a password", &made, &mut buffer), Ok(true));
    }

    #[test]
    fn the_dummy_hash_has_the_real_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(Params::try_from(&parsed).unwrap(), params());
        let mut buffer = vec![Block::default(); params().block_count()];
        assert!(matches(b"x", DUMMY_HASH, &mut buffer).is_ok());
    }

    /// Whether `slots` slots run two pieces of work at once: each waits
    /// (up to 3 s) to see the other started.
    async fn two_run_at_once(slots: usize) -> bool {
        let pool: &'static HashingPool = Box::leak(Box::new(HashingPool::new(slots)));
        let started = Arc::new(AtomicUsize::new(0));
        let work = |started: Arc<AtomicUsize>| {
            move |_: &mut [Block]| {
                started.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(3);
                while started.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                started.load(Ordering::SeqCst) >= 2
            }
        };
        let (a, b) = tokio::join!(
            run_bounded(pool, work(started.clone())),
            run_bounded(pool, work(started.clone()))
        );
        a == Ok(Some(true)) && b == Ok(Some(true))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_slot_hashes_at_the_same_time_as_the_others() {
        assert!(two_run_at_once(2).await, "two slots ran one hash at a time");
        assert!(!two_run_at_once(1).await, "one slot ran two hashes at once");
    }

    #[test]
    fn hashes_needing_more_memory_than_a_slot_are_refused_not_run() {
        let mut buffer = vec![Block::default(); 8];
        assert!(matches(b"x", DUMMY_HASH, &mut buffer).is_err());
    }
}
