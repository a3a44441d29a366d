//! The authorization code grant's token request (RFC 6749 §4.1.3): a client
//! exchanges the code it got at its redirect URI, proving with PKCE that it
//! is the one that asked for it.
//!
//! Every check happens after the code is spent: a code that was presented
//! with a wrong verifier or redirect URI is as dead as a used one, so an
//! attacker holding a stolen code gets one guess.

use shared::scope::ScopeSet;

use super::refresh::issue_user_tokens;
use super::{GrantContext, TokenSuccess, codes, pkce, refresh_tokens};
use crate::clients::{self, PresentedCredentials};
use crate::error::OAuthError;
use crate::users;

const BAD_CODE: &str = "The authorization code is invalid, expired, or was already used.";

#[tracing::instrument(skip_all, fields(grant = "authorization_code"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = PresentedCredentials::extract(
        ctx.meta.authorization.as_deref(),
        ctx.params.get("client_id"),
        ctx.params.get("client_secret"),
    )?;
    let client = clients::authenticate(ctx.db, &presented).await?;
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "This client may not use the authorization_code grant.",
        ));
    }
    let code = ctx.params.require("code")?;
    let redirect_uri = ctx.params.require("redirect_uri")?;

    let stored = match codes::redeem(ctx.db, code, ctx.now).await? {
        codes::Redemption::Fresh(stored) => stored,
        codes::Redemption::Replayed(stored) => {
            tracing::warn!(client_id = %client.id, "authorization code replayed");
            if stored.client_id == client.id {
                revoke_what_it_issued(ctx, &stored).await?;
            }
            return Err(OAuthError::invalid_grant(BAD_CODE));
        }
        codes::Redemption::Invalid => return Err(OAuthError::invalid_grant(BAD_CODE)),
    };
    if stored.client_id != client.id {
        return Err(OAuthError::invalid_grant(BAD_CODE));
    }
    if stored.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "The redirect_uri does not match the authorization request.",
        ));
    }
    match (&stored.code_challenge, ctx.params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "The code_verifier does not match the challenge.",
            ));
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "The code_verifier parameter is required.",
            ));
        }
        // RFC 9700 §2.1.1: a verifier without a challenge is refused, or a
        // downgrade would go unnoticed.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "No code_challenge was sent for this code.",
            ));
        }
        (None, None) if client.is_public() => {
            return Err(OAuthError::invalid_grant("Public clients must use PKCE."));
        }
        (None, None) => {}
    }

    let user = users::find_by_id(ctx.db, &stored.user_id)
        .await?
        .ok_or(OAuthError::invalid_grant(BAD_CODE))?;
    let scope = ScopeSet::parse(&stored.scope);
    let (success, issued) = issue_user_tokens(ctx, &client, &user, &scope, &scope, None).await?;
    codes::record_issued(
        ctx.db,
        code,
        issued.family_id.as_deref(),
        &issued.access_jti,
    )
    .await?;
    tracing::info!(user_id = %user.id, client_id = %client.id, "access token issued");
    Ok(success)
}

/// RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens it issued.
async fn revoke_what_it_issued(
    ctx: &GrantContext<'_>,
    stored: &codes::StoredCode,
) -> Result<(), OAuthError> {
    let access_expires_at = ctx.now + ctx.issuer.ttl();
    if let Some(jti) = &stored.access_jti {
        refresh_tokens::revoke_access_token(ctx.db, jti, access_expires_at).await?;
    }
    if let Some(family) = &stored.family_id {
        refresh_tokens::revoke_family(ctx.db, family, ctx.now, access_expires_at).await?;
    }
    Ok(())
}
