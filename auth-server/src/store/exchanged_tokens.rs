//! The lineage of exchanged access tokens (RFC 8693): which tokens each
//! one descends from, so that revocation reaches it. An exchanged token is
//! revoked when any ancestor is listed in `revoked_access_tokens`
//! (`refresh_families::is_access_token_revoked` joins the two), and when its
//! user's rights change ([`revoke_user`]).
//!
//! The lineage is written before the new token is handed out, so a
//! revocation of an ancestor that races the exchange still reaches it:
//! whichever commits first, the check at introspection joins both.

use super::db::{Db, Tx};

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

/// Records the lineage of a new exchanged token: one statement, so one
/// commit on the exchange's path.
pub async fn record(db: &Db, lineage: Lineage<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into exchanged_tokens (jti, ancestor_jti, user_id, expires_at) \
         select $1, $2, $3, $4 \
         union all \
         select $1, ancestor_jti, $3, $4 from exchanged_tokens where jti = $2 \
         on conflict (jti, ancestor_jti) do nothing",
    )
    .bind(lineage.jti)
    .bind(lineage.subject_jti)
    .bind(lineage.user_id)
    .bind(lineage.expires_at)
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
