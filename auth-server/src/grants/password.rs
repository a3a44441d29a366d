//! The resource owner password credentials grant (RFC 6749 §4.3), which
//! oxide-auth does not have. RFC 9700 §2.4 forbids it for third parties, so
//! only clients registered as first-party may use it; without `client_id`
//! the built-in public first-party client is assumed.
//!
//! The request flows one way: the client authenticated, the password
//! checked (throttled), the scope decided, the tokens minted.

use secrecy::SecretString;

use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm, required};
use crate::oauth::mint::{self, Holder, Issuance, Refresh, TokenSuccess};
use crate::oauth::scope_rules;
use crate::oauth::sign_in::{self, Undecided};
use crate::store::clients::FIRST_PARTY_CLIENT_ID;
use crate::store::throttle::{LoginThrottle, MAX_USERNAME_CHARS};

/// The same answer for an unknown email and a wrong password.
const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

#[tracing::instrument(skip_all, fields(grant = "password"))]
pub async fn grant(
    ctx: &GrantContext<'_>,
    form: &TokenForm,
    throttle: &LoginThrottle,
) -> Result<TokenSuccess, OAuthError> {
    let username = required(&form.username, "username")?;
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err(OAuthError::invalid_request(
            "The username is longer than 320 characters.",
        ));
    }
    let password = required(&form.password, "password")?;

    let presented = form.credentials(&ctx.meta)?;
    let client = match presented.client_id {
        None => ctx
            .clients
            .find(FIRST_PARTY_CLIENT_ID)
            .await?
            .ok_or_else(OAuthError::server_error)?,
        Some(_) => client_auth::authenticate(ctx, &presented).await?,
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
        Err(Undecided::Throttled(wait)) => return Err(OAuthError::throttled(wait)),
        Err(Undecided::Busy(busy)) => return Err(busy.into()),
        Err(Undecided::Database(error)) => return Err(error.into()),
    };

    let scope = scope_rules::granted(form.scope.as_deref(), &client, &user)?;
    let resource = ctx.resource_for(&client, form.resource.as_deref(), None)?;
    let issuance = Issuance {
        client: &client,
        holder: Holder::User(&user),
        scope,
        resource,
        access_jti: None,
        nonce: None,
        auth_time: None,
        sid: None,
        grant_scope: None,
        refresh: Refresh::NewFamily,
    };
    let success = mint::mint(ctx, issuance).await?;
    tracing::info!(user_id = %user.id, client_id = %client.id, "access token issued");
    Ok(success)
}
