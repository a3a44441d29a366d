//! The device authorization grant's token request (RFC 8628 §3.4, §3.5):
//! the device polls with its `device_code` until a person decides on
//! `/oauth/device`. Undecided: `authorization_pending`, or `slow_down` when
//! polled within the interval (which then grows by 5 s, in the database);
//! denied: `access_denied`; past its 600 s: `expired_token`. Approved, the
//! tokens are minted once, for the user who approved; any later poll, and
//! a poll by another client, is `invalid_grant`.

use shared::scope::ScopeSet;

use crate::errors::{OAuthError, OAuthErrorCode};
use crate::grant_type::GrantType;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm, required};
use crate::oauth::mint::{self, Holder, Issuance, Refresh, TokenSuccess};
use crate::store::device_codes::{self, Poll};
use crate::store::users;

const BAD_CODE: &str = "The device_code is invalid, or its tokens were already issued.";

#[tracing::instrument(skip_all, fields(grant = "device_code"))]
pub async fn grant(ctx: &GrantContext<'_>, form: &TokenForm) -> Result<TokenSuccess, OAuthError> {
    let presented = form.credentials(&ctx.meta)?;
    let client = client_auth::authenticate(ctx, &presented).await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "This client may not use the device_code grant.",
        ));
    }
    let device_code = required(&form.device_code, "device_code")?;
    let approval = match device_codes::poll(ctx.db, device_code, &client.id, ctx.now).await? {
        Poll::Approved(approval) => approval,
        Poll::Unknown | Poll::Used => return Err(OAuthError::invalid_grant(BAD_CODE)),
        Poll::Pending => {
            return Err(OAuthError::new(
                OAuthErrorCode::AuthorizationPending,
                "The user has not decided yet.",
            ));
        }
        Poll::SlowDown => {
            return Err(OAuthError::new(
                OAuthErrorCode::SlowDown,
                "Polled too often: wait 5 seconds more between polls.",
            ));
        }
        Poll::Denied => {
            return Err(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                "The user denied the request.",
            ));
        }
        Poll::Expired => {
            return Err(OAuthError::new(
                OAuthErrorCode::ExpiredToken,
                "The device_code has expired; start again.",
            ));
        }
    };
    // Deleted since approving: nothing to issue.
    let user = users::find_by_id(ctx.db, &approval.user_id)
        .await?
        .ok_or(OAuthError::invalid_grant(BAD_CODE))?;
    let issuance = Issuance {
        client: &client,
        holder: Holder::User(&user),
        scope: ScopeSet::parse(&approval.scope),
        resource: approval.resource,
        access_jti: None,
        nonce: None,
        auth_time: None,
        sid: None,
        grant_scope: None,
        refresh: Refresh::NewFamily,
    };
    let success = mint::mint(ctx, issuance).await?;
    tracing::info!(user_id = %user.id, client_id = %client.id, "device tokens issued");
    Ok(success)
}
