//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700
//! §4.14.2), on oxide-auth-async's state machine
//! ([`endpoint::run`]): the client authenticates, the scope may only
//! narrow, the used token dies, and a used one presented again revokes
//! its whole family. Without `client_id`, the built-in first-party client
//! is assumed (API.md).

use crate::errors::OAuthError;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm, required};
use crate::oauth::mint::TokenSuccess;
use crate::oxide::endpoint::{self, TokenFlow};

#[tracing::instrument(skip_all, fields(grant = "refresh_token"))]
pub async fn grant(ctx: &GrantContext<'_>, form: &TokenForm) -> Result<TokenSuccess, OAuthError> {
    let presented = form.credentials(&ctx.meta)?.or_first_party();
    required(&form.refresh_token, "refresh_token")?;
    if presented.client_id.is_none() {
        // A secret with no id to check it against.
        return Err(OAuthError::invalid_client());
    }
    let success = endpoint::run(TokenFlow::Refresh, ctx, form, &presented).await?;
    tracing::info!(client_id = ?presented.client_id, "access token refreshed");
    Ok(success)
}
