//! The client credentials grant (RFC 6749 §4.4), on oxide-auth-async's
//! state machine: a confidential client gets a token for itself (`sub` is
//! its client id). No refresh token: the client can always ask again
//! (RFC 6749 §4.4.3).

use crate::errors::OAuthError;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm};
use crate::oauth::mint::TokenSuccess;
use crate::oxide::endpoint::{self, TokenFlow};

const NOT_ALLOWED: &str = "This client may not use the client_credentials grant.";

#[tracing::instrument(skip_all, fields(grant = "client_credentials"))]
pub async fn grant(ctx: &GrantContext<'_>, form: &TokenForm) -> Result<TokenSuccess, OAuthError> {
    let presented = form.credentials(&ctx.meta)?;
    let Some(client_id) = presented.client_id.clone() else {
        return Err(OAuthError::invalid_client());
    };
    if presented.client_secret.is_none() && presented.assertion.is_none() {
        // oxide-auth's flow admits confidential clients only. A public
        // client naming itself is told the grant is not for it; an unknown
        // or secretless confidential one that authentication failed.
        client_auth::authenticate(ctx, &presented).await?;
        return Err(OAuthError::unauthorized_client(NOT_ALLOWED));
    }
    let which = TokenFlow::ClientCredentials {
        client_id: client_id.clone(),
    };
    let success = endpoint::run(which, ctx, form, &presented).await?;
    tracing::info!(%client_id, "access token issued");
    Ok(success)
}
