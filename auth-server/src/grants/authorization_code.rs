//! The authorization code grant's token request (RFC 6749 §4.1.3): a
//! client exchanges the code it got at its redirect URI, proving with PKCE
//! that it is the one that asked for it. The exchange runs on
//! oxide-auth-async's state machine ([`endpoint::run`]), where
//! the code is spent before any check, a replay revokes what the code
//! issued, and PKCE is checked.

use crate::errors::OAuthError;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm, required};
use crate::oauth::mint::TokenSuccess;
use crate::oxide::endpoint::{self, TokenFlow};

#[tracing::instrument(skip_all, fields(grant = "authorization_code"))]
pub async fn grant(ctx: &GrantContext<'_>, form: &TokenForm) -> Result<TokenSuccess, OAuthError> {
    // Checked in this order before any flow runs.
    let presented = form.credentials(&ctx.meta)?;
    required(&form.code, "code")?;
    required(&form.redirect_uri, "redirect_uri")?;
    if presented.client_id.is_none() {
        return Err(OAuthError::invalid_client());
    }
    let success = endpoint::run(TokenFlow::ExchangeCode, ctx, form, &presented).await?;
    tracing::info!(client_id = ?presented.client_id, "access token issued for a code");
    Ok(success)
}
