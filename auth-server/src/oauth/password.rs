//! The resource owner password credentials grant (RFC 6749 §4.3), which
//! oxide-auth does not have. RFC 9700 §2.4 forbids it for third parties, so
//! only clients registered as first-party may use it; without `client_id`
//! the built-in public first-party client is assumed.

use oxide_auth::primitives::grant::Extensions;
use oxide_auth_async::primitives::Registrar;
use secrecy::SecretString;

use super::primitives::{ClientRegistrar, Issuance};
use super::sign_in;
use super::{GrantContext, TokenSuccess, scope_rules};
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::store::clients::FIRST_PARTY_CLIENT_ID;
use crate::store::throttle::{LoginThrottle, MAX_USERNAME_CHARS};

/// The same answer for an unknown email and a wrong password.
const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

#[tracing::instrument(skip_all, fields(grant = "password"))]
pub async fn grant(
    ctx: &GrantContext<'_>,
    throttle: &LoginThrottle,
) -> Result<TokenSuccess, OAuthError> {
    let username = ctx.params.require("username")?;
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(
            "The username is longer than 320 characters.",
        ));
    }
    let password = ctx.params.require("password")?;

    let presented = ctx.credentials()?;
    ctx.present(&presented);
    let client = match presented.client_id.as_deref() {
        None => {
            let client = ctx
                .clients
                .find(FIRST_PARTY_CLIENT_ID)
                .await?
                .ok_or_else(OAuthError::server_error)?;
            ctx.authenticated_as(client.clone());
            client
        }
        Some(client_id) => {
            let secret = presented.client_secret.as_deref().map(str::as_bytes);
            ClientRegistrar::new(ctx)
                .check(client_id, secret)
                .await
                .map_err(|_| ctx.failure(OAuthError::invalid_client()))?;
            ctx.authenticated().ok_or_else(OAuthError::server_error)?
        }
    };
    if !client.metadata.first_party || !client.allows_grant(GrantType::Password) {
        return Err(OAuthError::unauthorized_client(
            "The password grant is only for first-party clients.",
        ));
    }

    let account = username.trim().to_lowercase();
    let password = SecretString::from(password.to_owned());
    let checked = sign_in::check(
        ctx.db,
        throttle,
        &account,
        ctx.meta.client_ip,
        password,
        ctx.now,
    )
    .await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => return Err(OAuthError::invalid_grant(BAD_CREDENTIALS)),
        Err(sign_in::Refusal::Throttled(wait)) => return Err(OAuthError::throttled(wait)),
        Err(sign_in::Refusal::Busy(busy)) => return Err(busy.into()),
        Err(sign_in::Refusal::Database(error)) => return Err(error.into()),
    };

    let scope = scope_rules::granted(ctx.params.get("scope"), &client, &user)?;
    // Access and refresh token through the issuer every grant uses.
    let issuance = Issuance {
        owner_id: &user.id,
        client_id: &client.id,
        scope,
        extensions: &Extensions::new(),
    };
    let outcome = ctx.mint(issuance, None).await;
    let success = ctx.conclude(outcome)?;
    tracing::info!(user_id = %user.id, client_id = %client.id, "access token issued");
    Ok(success)
}
