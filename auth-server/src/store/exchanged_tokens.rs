//! The lineage of exchanged access tokens (RFC 8693): which tokens each
//! one descends from, so that revocation reaches it. An exchanged token is
//! revoked when any ancestor is listed in `revoked_access_tokens`
//! (`refresh_families::is_access_token_revoked` joins the two), and when its
//! user's rights change ([`revoke_user`]).
//!
//! The lineage is written before the new token is handed out, so a
//! revocation of an ancestor that races the exchange still reaches it:
//! whichever commits first, the check at introspection joins both.

use platform::db::Backend;
use tokio::sync::oneshot;

use super::db::{Db, Tx};
use super::write_queue::{QueuedWrite, outcome};

/// What an exchanged token came from.
pub struct Lineage<'a> {
    /// The new token's jti.
    pub jti: &'a str,
    /// Its subject token's jti; that token's own ancestors are added too.
    pub subject_jti: &'a str,
    /// The subject's user, `None` when the subject is a client.
    pub user_id: Option<&'a str>,
    /// The new token's exp.
    pub expires_at: i64,
}

/// Records the lineage of a new exchanged token, committed when this
/// returns: batched with the exchanges of the same moment
/// (`write_batches`), or written here when no writer runs.
pub async fn record(db: &Db, lineage: Lineage<'_>) -> Result<(), sqlx::Error> {
    let (answer, answered) = oneshot::channel();
    let queued = QueuedWrite::Lineage {
        jti: lineage.jti.to_owned(),
        subject_jti: lineage.subject_jti.to_owned(),
        user_id: lineage.user_id.map(str::to_owned),
        expires_at: lineage.expires_at,
        answer,
    };
    match db.writes.submit(queued).await {
        Ok(()) => outcome(answered).await,
        Err(_) => record_all(db, &[lineage]).await,
    }
}

/// Records the lineages of new exchanged tokens in one statement, itself
/// one commit: each token descends from its subject token and from that
/// token's own ancestors.
pub(super) async fn record_all(db: &Db, lineages: &[Lineage<'_>]) -> Result<(), sqlx::Error> {
    // sqlx takes only static SQL: the rows travel as one JSON array of
    // [jti, subject_jti, user_id, expires_at], so that one statement takes
    // any number. (`where true`: SQLite's parser needs it before an
    // upsert's `on conflict`.)
    let insert = match db.backend {
        Backend::Sqlite => {
            "insert into exchanged_tokens (jti, ancestor_jti, user_id, expires_at) \
             select json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
             json_extract(value, '$[2]'), json_extract(value, '$[3]') from json_each($1) \
             union all \
             select json_extract(r.value, '$[0]'), e.ancestor_jti, \
             json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]') \
             from json_each($1) r join exchanged_tokens e on e.jti = json_extract(r.value, '$[1]') \
             where true \
             on conflict (jti, ancestor_jti) do nothing"
        }
        Backend::Postgres => {
            "insert into exchanged_tokens (jti, ancestor_jti, user_id, expires_at) \
             select r.v->>0, r.v->>1, r.v->>2, (r.v->>3)::bigint \
             from jsonb_array_elements($1::jsonb) as r(v) \
             union all \
             select r.v->>0, e.ancestor_jti, r.v->>2, (r.v->>3)::bigint \
             from jsonb_array_elements($1::jsonb) as r(v) \
             join exchanged_tokens e on e.jti = r.v->>1 \
             on conflict (jti, ancestor_jti) do nothing"
        }
    };
    let rows: Vec<(&str, &str, Option<&str>, i64)> = lineages
        .iter()
        .map(|l| (l.jti, l.subject_jti, l.user_id, l.expires_at))
        .collect();
    let rows =
        serde_json::to_string(&rows).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query(insert)
        .bind(rows)
        .execute(&mut *db.writer().await?)
        .await?;
    Ok(())
}

/// Lists every live exchanged token of a user as revoked, inside the
/// caller's transaction (their rights changed, or they were deleted).
/// The caller (`refresh_families::revoke_user_families`) moves the
/// revocations' version in the same transaction.
pub async fn revoke_user(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into revoked_access_tokens (jti, expires_at) \
         select distinct jti, expires_at from exchanged_tokens \
         where user_id = $1 and expires_at > $2 \
         on conflict (jti) do nothing",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the lineage of tokens expired at `now`.
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("delete from exchanged_tokens where expires_at < $1")
            .bind(now)
            .execute(&mut *db.writer().await?)
            .await?
            .rows_affected(),
    )
}
