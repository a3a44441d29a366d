//! Credentials that work once, whichever instance sees them first: the
//! `jti` of every client assertion (RFC 7523, table
//! `client_assertion_jtis`) and of every DPoP proof (RFC 9449 §11.1, table
//! `dpop_proof_jtis`) accepted, kept for as long as it could pass again.
//! The key is the SHA-256 of who may use the jti (the client id, or the
//! proof key's thumbprint, so that one party's jti cannot spend
//! another's) and the jti: the unique key decides a race, not a read.

use super::db::Db;
use super::secrets::hash_secret;

/// Which once-only credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpentJtis {
    /// Client assertions, by client id.
    ClientAssertions,
    /// DPoP proofs, by the thumbprint of the key that signed them.
    DpopProofs,
}

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
        // sqlx takes only static SQL: one statement per table.
        let insert = match self {
            SpentJtis::ClientAssertions => {
                "insert into client_assertion_jtis (jti_hash, expires_at) values ($1, $2) \
                 on conflict (jti_hash) do nothing"
            }
            SpentJtis::DpopProofs => {
                "insert into dpop_proof_jtis (jti_hash, expires_at) values ($1, $2) \
                 on conflict (jti_hash) do nothing"
            }
        };
        let key = hash_secret(&format!("{owner}\n{jti}"));
        // One statement is atomic by itself: no BEGIN and COMMIT around it,
        // whose two more round trips to SQLite's worker thread each held
        // the one write turn.
        let inserted = sqlx::query(insert)
            .bind(key)
            .bind(expires_at)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected();
        Ok(inserted == 1)
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
