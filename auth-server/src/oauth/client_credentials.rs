//! The client credentials grant (RFC 6749 §4.4): a confidential client gets
//! a token for itself (`sub` is its client id). No refresh token: the client
//! can always ask again (RFC 6749 §4.4.3).

use super::password::granted_scope;
use super::{GrantContext, TokenSuccess};
use crate::clients::{self, PresentedCredentials};
use crate::error::OAuthError;
use crate::token::Subject;

#[tracing::instrument(skip_all, fields(grant = "client_credentials"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = PresentedCredentials::extract(
        ctx.meta.authorization.as_deref(),
        ctx.params.get("client_id"),
        ctx.params.get("client_secret"),
    )?;
    let client = clients::authenticate(ctx.db, &presented).await?;
    // A public client has nothing to prove who it is with (RFC 6749 §4.4).
    if client.is_public() || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "This client may not use the client_credentials grant.",
        ));
    }
    let scope = granted_scope(ctx.params.get("scope"), &client.scopes)?;
    let minted = ctx
        .issuer
        .mint(Subject::Client, &client.id, &scope, ctx.now)
        .map_err(|_| OAuthError::server_error())?;
    tracing::info!(client_id = %client.id, "access token issued");
    Ok(TokenSuccess::new(minted, scope.to_string(), None))
}
