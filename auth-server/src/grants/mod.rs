//! The grants of the token endpoint (RFC 6749 §4, §6), one file each,
//! named by the grant: each checks what its grant requires of the request
//! and of the client, and gets a token response back from `oauth::mint`
//! (directly, or through the oxide-auth adapter's flows). [`issue`]
//! dispatches a token request to its grant.

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::TokenForm;
use crate::oauth::mint::TokenSuccess;
use crate::store::throttle::LoginThrottle;

/// The token response of `grant_type`'s grant, or why not.
pub async fn issue(
    grant_type: GrantType,
    ctx: &GrantContext<'_>,
    form: &TokenForm,
    throttle: &LoginThrottle,
) -> Result<TokenSuccess, OAuthError> {
    match grant_type {
        GrantType::Password => password::grant(ctx, form, throttle).await,
        GrantType::ClientCredentials => client_credentials::grant(ctx, form).await,
        GrantType::AuthorizationCode => authorization_code::grant(ctx, form).await,
        GrantType::RefreshToken => refresh_token::grant(ctx, form).await,
    }
}
