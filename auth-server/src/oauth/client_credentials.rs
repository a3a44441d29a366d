//! The client credentials grant (RFC 6749 §4.4), on oxide-auth-async's
//! state machine: a confidential client gets a token for itself (`sub` is
//! its client id). No refresh token: the client can always ask again
//! (RFC 6749 §4.4.3).

use oxide_auth_async::code_grant::client_credentials::client_credentials;
use oxide_auth_async::primitives::Registrar;

use super::primitives::{ClientRegistrar, GrantEndpoint, TokenRequest};
use super::{GrantContext, TokenSuccess};
use crate::errors::OAuthError;

const NOT_ALLOWED: &str = "This client may not use the client_credentials grant.";

#[tracing::instrument(skip_all, fields(grant = "client_credentials"))]
pub async fn grant(ctx: &GrantContext<'_>) -> Result<TokenSuccess, OAuthError> {
    let presented = ctx.credentials()?;
    let Some(client_id) = presented.client_id.clone() else {
        return Err(OAuthError::invalid_client());
    };
    ctx.present(&presented);
    if presented.client_secret.is_none() {
        // oxide-auth's flow admits confidential clients only. A public
        // client naming itself is told the grant is not for it; an unknown
        // or secretless confidential one that authentication failed.
        let registrar = ClientRegistrar::new(ctx);
        return Err(match registrar.check(&client_id, None).await {
            Ok(()) => OAuthError::unauthorized_client(NOT_ALLOWED),
            Err(_) => ctx.failure(OAuthError::invalid_client()),
        });
    }
    let request = TokenRequest::new(&ctx.params, &presented);
    let mut endpoint = GrantEndpoint::new(ctx);
    let outcome = match client_credentials(&mut endpoint, &request).await {
        Ok(pending) => pending.issue(&mut endpoint, client_id.clone(), false).await,
        Err(error) => Err(error),
    };
    let success = ctx.conclude(outcome)?;
    tracing::info!(%client_id, "access token issued");
    Ok(success)
}
