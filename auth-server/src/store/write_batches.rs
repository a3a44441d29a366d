//! The one task per process that does the writes of [`WriteQueue`]: a jti
//! spent (`spent_jtis`), an exchanged token's lineage (`exchanged_tokens`).
//! Whatever waits when it looks, at most [`BATCH`], is written by one
//! statement per table, and each waiter answered once that commit is done;
//! it never waits for more to come.
//!
//! Why: a request that wrote its own row held the process's turn at
//! SQLite's one write lock (`platform::db::WriteTurns`) until its task ran
//! again, and that task waited behind requests signing tokens on the same
//! threads. Every such writer queued behind the last: client_credentials
//! with private_key_jwt (a jti per token) ran at 0.4 of the rate with a
//! secret, a quarter of the CPU idle. Batched, the requests of a moment
//! share one turn and one commit (`tests/load/run.sh`: 1.5× the rate, 5 %
//! idle).
//!
//! [`WriteQueue`]: super::write_queue::WriteQueue

use std::collections::HashSet;

use platform::db::is_unavailable;
use tokio::sync::mpsc;

use super::db::Db;
use super::exchanged_tokens::{self, Lineage};
use super::spent_jtis;
use super::write_queue::{Answer, QueuedWrite, SpentJtis, WriteFailure};

/// Most writes done by one pass.
const BATCH: usize = 256;
/// Most writes waiting; past this a request waits for room.
const QUEUE: usize = 4096;

/// Drains the queue for as long as the server runs (`Services::open`
/// starts it).
pub async fn run_writer(db: Db) {
    let (sender, mut receiver) = mpsc::channel(QUEUE);
    if db.writes.start(sender).is_err() {
        return;
    }
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let mut assertions = Vec::new();
        let mut proofs = Vec::new();
        let mut lineages = Vec::new();
        for write in batch.drain(..) {
            match write {
                QueuedWrite::Spend {
                    table: SpentJtis::ClientAssertions,
                    key,
                    expires_at,
                    answer,
                } => assertions.push((key, expires_at, answer)),
                QueuedWrite::Spend {
                    table: SpentJtis::DpopProofs,
                    key,
                    expires_at,
                    answer,
                } => proofs.push((key, expires_at, answer)),
                QueuedWrite::Lineage {
                    jti,
                    subject_jti,
                    user_id,
                    expires_at,
                    answer,
                } => lineages.push((jti, subject_jti, user_id, expires_at, answer)),
            }
        }
        spend(&db, SpentJtis::ClientAssertions, assertions).await;
        spend(&db, SpentJtis::DpopProofs, proofs).await;
        record(&db, lineages).await;
    }
}

type SpendRow = (String, i64, Answer<bool>);

/// Spends one table's jtis and answers each. Of two spends of one key in
/// a batch, the first is the one that may be new.
async fn spend(db: &Db, table: SpentJtis, spends: Vec<SpendRow>) {
    if spends.is_empty() {
        return;
    }
    let mut keys = HashSet::with_capacity(spends.len());
    let (firsts, repeats): (Vec<SpendRow>, Vec<SpendRow>) = spends
        .into_iter()
        .partition(|(key, ..)| keys.insert(key.clone()));
    let rows: Vec<(&str, i64)> = firsts
        .iter()
        .map(|(key, expires_at, _)| (key.as_str(), *expires_at))
        .collect();
    match spent_jtis::insert_new(db, table, &rows).await {
        Ok(new) => {
            // A request that went away takes no answer.
            for (key, _, answer) in firsts {
                let _ = answer.send(Ok(new.contains(&key)));
            }
            for (_, _, answer) in repeats {
                let _ = answer.send(Ok(false));
            }
        }
        Err(error) => {
            let failure = failure(&error, "spending jtis");
            for (_, _, answer) in firsts.into_iter().chain(repeats) {
                let _ = answer.send(Err(failure));
            }
        }
    }
}

type LineageRow = (String, String, Option<String>, i64, Answer<()>);

async fn record(db: &Db, lineages: Vec<LineageRow>) {
    if lineages.is_empty() {
        return;
    }
    let rows: Vec<Lineage<'_>> = lineages
        .iter()
        .map(|(jti, subject_jti, user_id, expires_at, _)| Lineage {
            jti,
            subject_jti,
            user_id: user_id.as_deref(),
            expires_at: *expires_at,
        })
        .collect();
    let outcome = exchanged_tokens::record_all(db, &rows)
        .await
        .map_err(|error| failure(&error, "recording exchanged tokens"));
    for (.., answer) in lineages {
        let _ = answer.send(outcome);
    }
}

/// What the waiters of a failed batch are told; the error is logged here.
fn failure(error: &sqlx::Error, what: &str) -> WriteFailure {
    if is_unavailable(error) {
        tracing::debug!(%error, "{what}: the database cannot answer now");
        WriteFailure::Unavailable
    } else {
        tracing::error!(%error, "{what} failed");
        WriteFailure::Failed
    }
}
