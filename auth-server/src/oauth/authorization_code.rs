//! The authorization code grant's token request (RFC 6749 §4.1.3), on
//! oxide-auth-async's state machine: a client exchanges the code it got at
//! its redirect URI, proving with PKCE that it is the one that asked for it.
//! The rules live in the primitives: the code is spent before any check
//! ([`CodeAuthorizer`](super::primitives::CodeAuthorizer)), a replay revokes
//! what the code issued, and PKCE is checked by
//! [`GrantChecks`](super::primitives::GrantChecks).

use oxide_auth_async::code_grant::access_token::access_token;

use super::primitives::{GrantEndpoint, TokenRequest};
use super::{GrantContext, TokenSuccess};
use crate::errors::OAuthError;

#[tracing::instrument(skip_all, fields(grant = "authorization_code"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = ctx.named_client(&["code", "redirect_uri"])?;
    ctx.present(&presented);
    let request = TokenRequest::new(&ctx.params, &presented);
    let mut endpoint = GrantEndpoint::new(ctx);
    let outcome = access_token(&mut endpoint, &request).await;
    let success = ctx.conclude(outcome)?;
    tracing::info!(client_id = ?presented.client_id, "access token issued for a code");
    Ok(success)
}
