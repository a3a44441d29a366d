//! Credentials that work once, whichever instance sees them first: the
//! `jti` of every client assertion (RFC 7523, table
//! `client_assertion_jtis`) and of every DPoP proof (RFC 9449 §11.1, table
//! `dpop_proof_jtis`) accepted, kept for as long as it could pass again.
//! The key is the SHA-256 of who may use the jti (the client id, or the
//! proof key's thumbprint, so that one party's jti cannot spend
//! another's) and the jti: the unique key decides a race, not a read.
//!
//! Spends are batched (`write_batches`): one insert of every jti waiting
//! at that moment, which answers which of them were new. A request is
//! answered only once its jti is committed.

use std::collections::HashSet;

use platform::db::Backend;
use sqlx::Row;
use tokio::sync::oneshot;

use super::db::Db;
use super::secrets::hash_secret;
pub use super::write_queue::SpentJtis;
use super::write_queue::{QueuedWrite, outcome};

impl SpentJtis {
    /// Marks `jti` of `owner` used until `expires_at`; `false` when it was
    /// used already (by this instance or any other).
    pub async fn spend(
        self,
        db: &Db,
        owner: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let key = hash_secret(&format!("{owner}\n{jti}"));
        let (answer, answered) = oneshot::channel();
        let spend = QueuedWrite::Spend {
            table: self,
            key: key.clone(),
            expires_at,
            answer,
        };
        match db.writes.submit(spend).await {
            Ok(()) => outcome(answered).await,
            // No writer takes it: spent here.
            Err(_) => self.spend_here(db, key, expires_at).await,
        }
    }

    async fn spend_here(self, db: &Db, key: String, expires_at: i64) -> Result<bool, sqlx::Error> {
        let spent = insert_new(db, self, &[(key.as_str(), expires_at)]).await?;
        Ok(spent.contains(&key))
    }

    /// Forgets the jtis that can no longer pass at `now`.
    pub async fn prune(self, db: &Db, now: i64) -> Result<u64, sqlx::Error> {
        let delete = match self {
            SpentJtis::ClientAssertions => {
                "delete from client_assertion_jtis where expires_at < $1"
            }
            SpentJtis::DpopProofs => "delete from dpop_proof_jtis where expires_at < $1",
        };
        Ok(sqlx::query(delete)
            .bind(now)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected())
    }
}

/// Inserts `rows` (key, expiry) into `table` in one statement, itself one
/// commit; the keys that were not there yet.
pub(super) async fn insert_new(
    db: &Db,
    table: SpentJtis,
    rows: &[(&str, i64)],
) -> Result<HashSet<String>, sqlx::Error> {
    // sqlx takes only static SQL: one statement per table and backend. The
    // rows travel as one JSON array, so that one statement takes any number.
    let insert = match (table, db.backend) {
        (SpentJtis::ClientAssertions, Backend::Sqlite) => {
            "insert into client_assertion_jtis (jti_hash, expires_at) \
             select json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             from json_each($1) where true \
             on conflict (jti_hash) do nothing returning jti_hash"
        }
        (SpentJtis::DpopProofs, Backend::Sqlite) => {
            "insert into dpop_proof_jtis (jti_hash, expires_at) \
             select json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             from json_each($1) where true \
             on conflict (jti_hash) do nothing returning jti_hash"
        }
        (SpentJtis::ClientAssertions, Backend::Postgres) => {
            "insert into client_assertion_jtis (jti_hash, expires_at) \
             select value->>0, (value->>1)::bigint from jsonb_array_elements($1::jsonb) \
             on conflict (jti_hash) do nothing returning jti_hash"
        }
        (SpentJtis::DpopProofs, Backend::Postgres) => {
            "insert into dpop_proof_jtis (jti_hash, expires_at) \
             select value->>0, (value->>1)::bigint from jsonb_array_elements($1::jsonb) \
             on conflict (jti_hash) do nothing returning jti_hash"
        }
    };
    let rows = serde_json::to_string(rows).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query(insert)
        .bind(rows)
        .fetch_all(&mut *db.writer().await?)
        .await?
        .iter()
        .map(|row| row.try_get::<String, _>("jti_hash"))
        .collect()
}
