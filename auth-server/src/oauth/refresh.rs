//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700
//! §4.14.2), and [`issue_user_tokens`], the one way every user grant hands
//! out an access token with its refresh token.

use shared::scope::ScopeSet;

use super::password::granted_scope;
use super::{GrantContext, TokenSuccess, refresh_tokens};
use crate::clients::{self, Client, PresentedCredentials};
use crate::error::OAuthError;
use crate::token::Subject;
use crate::users::{self, User};

const BAD_TOKEN: &str = "The refresh token is invalid, expired, or revoked.";

/// What was issued, for callers that record it (a code remembers what its
/// exchange issued, to revoke it on replay).
pub struct Issued {
    pub access_jti: String,
    pub family_id: Option<String>,
}

/// Mints a user's access token with `scope`, and a refresh token for the
/// grant's `grant_scope` if the client may refresh. `family` continues a
/// rotation; `None` starts a new family.
pub async fn issue_user_tokens(
    ctx: &GrantContext<'_>,
    client: &Client,
    user: &User,
    scope: &ScopeSet,
    grant_scope: &ScopeSet,
    family: Option<&str>,
) -> Result<(TokenSuccess, Issued), OAuthError> {
    let minted = ctx
        .issuer
        .mint(
            Subject::User {
                id: &user.id,
                email: &user.email,
                name: &user.name,
            },
            &client.id,
            scope,
            ctx.now,
        )
        .map_err(|_| OAuthError::server_error())?;
    let access_jti = minted.jti.clone();
    let (refresh, family_id) = if client.allows_grant("refresh_token") {
        let issued = refresh_tokens::issue(
            ctx.db,
            refresh_tokens::NewRefreshToken {
                family_id: family,
                client_id: &client.id,
                user_id: &user.id,
                scope: &grant_scope.to_string(),
                access_jti: &access_jti,
                ttl: ctx.config.refresh_token_ttl,
                now: ctx.now,
            },
        )
        .await?;
        (Some(issued.token), Some(issued.family_id))
    } else {
        (None, None)
    };
    Ok((
        TokenSuccess::new(minted, scope.to_string(), refresh),
        Issued {
            access_jti,
            family_id,
        },
    ))
}

#[tracing::instrument(skip_all, fields(grant = "refresh_token"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = PresentedCredentials::extract(
        ctx.meta.authorization.as_deref(),
        ctx.params.get("client_id"),
        ctx.params.get("client_secret"),
    )?;
    let client = clients::authenticate(ctx.db, &presented).await?;
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "This client may not use the refresh_token grant.",
        ));
    }
    let token = ctx.params.require("refresh_token")?;
    let Some(stored) = refresh_tokens::find(ctx.db, token).await? else {
        return Err(OAuthError::invalid_grant(BAD_TOKEN));
    };
    // Issued to another client: refuse without touching it (RFC 6749 §6).
    if stored.client_id != client.id {
        return Err(OAuthError::invalid_grant(BAD_TOKEN));
    }
    let access_expires_at = ctx.now + ctx.issuer.ttl();
    if stored.used_at.is_some() && stored.revoked_at.is_none() {
        tracing::warn!(client_id = %client.id, "rotated refresh token presented again");
        refresh_tokens::revoke_family(ctx.db, &stored.family_id, ctx.now, access_expires_at)
            .await?;
        return Err(OAuthError::invalid_grant(BAD_TOKEN));
    }
    if !stored.is_live(ctx.now) {
        return Err(OAuthError::invalid_grant(BAD_TOKEN));
    }
    let grant_scope = ScopeSet::parse(&stored.scope);
    let scope = granted_scope(ctx.params.get("scope"), &grant_scope)?;
    let user = users::find_by_id(ctx.db, &stored.user_id)
        .await?
        .ok_or(OAuthError::invalid_grant(BAD_TOKEN))?;

    // Two requests with the same token: only one wins the update; the other
    // is a reuse, exactly like a later replay.
    if !refresh_tokens::consume(ctx.db, token, ctx.now).await? {
        refresh_tokens::revoke_family(ctx.db, &stored.family_id, ctx.now, access_expires_at)
            .await?;
        return Err(OAuthError::invalid_grant(BAD_TOKEN));
    }
    let (success, _) = issue_user_tokens(
        ctx,
        &client,
        &user,
        &scope,
        &grant_scope,
        Some(&stored.family_id),
    )
    .await?;
    tracing::info!(user_id = %user.id, client_id = %client.id, "access token refreshed");
    Ok(success)
}
