//! The queue of small writes that a request waits on but that need no
//! transaction of their own, as the database handle carries it
//! ([`super::db::Db::writes`]): spending a once-only `jti`
//! (`spent_jtis`) and recording an exchanged token's lineage
//! (`exchanged_tokens`). One task per process drains it
//! ([`super::write_batches`]), a batch per statement. Apart, so that the
//! handle need not know the tables.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

/// Which once-only credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpentJtis {
    /// Client assertions, by client id.
    ClientAssertions,
    /// DPoP proofs, by the thumbprint of the key that signed them.
    DpopProofs,
}

/// Why a queued write was not done: a whole batch fails together, and each
/// waiter gets the kind of error the batch got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The database could not answer now (`platform::db::is_unavailable`).
    Unavailable,
    /// Any other error, logged by the writer.
    Failed,
}

/// Where a write's outcome goes.
pub type Answer<T> = oneshot::Sender<Result<T, WriteFailure>>;

/// One write waiting for its batch.
#[derive(Debug)]
pub enum QueuedWrite {
    /// A credential to spend: its key in its table, how long it must be
    /// remembered; answered `true` when spent now, `false` when spent
    /// before.
    Spend {
        table: SpentJtis,
        key: String,
        expires_at: i64,
        answer: Answer<bool>,
    },
    /// An exchanged token descending from `subject_jti` (and from its
    /// ancestors).
    Lineage {
        jti: String,
        subject_jti: String,
        user_id: Option<String>,
        expires_at: i64,
        answer: Answer<()>,
    },
}

/// Where such writes go: the writer's queue once it runs, else (the
/// command line, a handle without a server) written by the caller.
#[derive(Debug, Clone, Default)]
pub struct WriteQueue(Arc<OnceLock<mpsc::Sender<QueuedWrite>>>);

impl WriteQueue {
    /// Hands the queue to the writer; `Err` when a writer already has one.
    pub fn start(
        &self,
        sender: mpsc::Sender<QueuedWrite>,
    ) -> Result<(), mpsc::Sender<QueuedWrite>> {
        self.0.set(sender)
    }

    /// Queues `write`; it comes back when no writer takes it (none runs,
    /// or it stopped with the server), for the caller to write itself.
    pub async fn submit(&self, write: QueuedWrite) -> Result<(), QueuedWrite> {
        match self.0.get() {
            Some(writer) => writer.send(write).await.map_err(|returned| returned.0),
            None => Err(write),
        }
    }
}

/// What a queued write's waiter makes of the answer it got: the writer's
/// failure as an error of the same kind, or none at all (dropped as the
/// server stopped) as the database not answering.
pub async fn outcome<T>(
    answered: oneshot::Receiver<Result<T, WriteFailure>>,
) -> Result<T, sqlx::Error> {
    match answered.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(WriteFailure::Failed)) => {
            Err(sqlx::Error::Protocol("a batched write failed".to_owned()))
        }
        Ok(Err(WriteFailure::Unavailable)) | Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}
