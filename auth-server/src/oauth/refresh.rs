//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700
//! §4.14.2), on oxide-auth-async's state machine. oxide-auth authenticates
//! the client, checks that the scope only narrows and asks the issuer to
//! refresh; [`GrantIssuer`](super::primitives::GrantIssuer) rotates the token
//! and revokes the whole family when a used one comes back.

use oxide_auth_async::code_grant::refresh::refresh;

use super::primitives::{GrantEndpoint, TokenRequest};
use super::{GrantContext, TokenSuccess};
use crate::errors::OAuthError;

#[tracing::instrument(skip_all, fields(grant = "refresh_token"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = ctx.credentials()?.or_first_party();
    ctx.params.require("refresh_token")?;
    if presented.client_id.is_none() {
        // A secret with no id to check it against.
        return Err(OAuthError::invalid_client());
    }
    ctx.present(&presented);
    let request = TokenRequest::new(&ctx.params, &presented);
    let mut endpoint = GrantEndpoint::new(ctx);
    let outcome = refresh(&mut endpoint, &request).await;
    let success = ctx.conclude(outcome)?;
    tracing::info!(client_id = ?presented.client_id, "access token refreshed");
    Ok(success)
}
