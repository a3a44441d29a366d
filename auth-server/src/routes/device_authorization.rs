//! The device authorization endpoint (RFC 8628 §3.1,
//! `POST /oauth/device_authorization`): a device that cannot show a
//! browser gets a `device_code` to poll the token endpoint with and a short
//! `user_code` for a person to type on `/oauth/device`.
//!
//! The client authenticates as at the token endpoint (a public one by its
//! `client_id`) and must be registered with `--grant device_code`; the scope
//! and resource are checked now, as the authorization endpoint checks them,
//! so that the person is shown only what can be granted.

use rocket::http::Status;
use rocket::post;
use rocket::request::Request;
use rocket::response::{self, Responder};
use serde::Serialize;
use shared::oauth::OAuthErrorBody;

use super::form::{OAuthForm, TokenFailure};
use crate::errors::OAuthError;
use crate::errors::oauth::json_answer;
use crate::grant_type::GrantType;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::CarriesCredentials;
use crate::oauth::scope_rules;
use crate::store::device_codes::{self, DEVICE_CODE_TTL, NewDeviceCode, POLL_INTERVAL};

/// The page where a person types the user code.
pub const VERIFICATION_PATH: &str = "/oauth/device";

/// The form of a device authorization request (RFC 8628 §3.1).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct DeviceAuthorizationForm {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated; defaults to the client's registered scopes.
    pub scope: Option<String>,
    /// RFC 8707: AUDIENCE or an audience the client was registered with.
    pub resource: Option<String>,
}

impl CarriesCredentials for DeviceAuthorizationForm {
    fn in_body(&self) -> (Option<&str>, Option<&str>) {
        (self.client_id.as_deref(), self.client_secret.as_deref())
    }
}

/// RFC 8628 §3.2.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// `XXXX-XXXX`, from `BCDFGHJKLMNPQRSTVWXZ`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

impl<'r> Responder<'r, 'static> for DeviceAuthorization {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(json_answer(Status::Ok, &self))
    }
}

/// Start a device authorization (RFC 8628).
#[utoipa::path(
    post, path = "/oauth/device_authorization", tag = "oauth",
    request_body(content = DeviceAuthorizationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes", body = DeviceAuthorization),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    )
)]
#[post("/oauth/device_authorization", data = "<form>")]
pub async fn device_authorization(
    context: GrantContext<'_>,
    form: Result<OAuthForm<DeviceAuthorizationForm>, TokenFailure>,
) -> Result<DeviceAuthorization, TokenFailure> {
    let OAuthForm(form) = form?;
    let presented = form.credentials(&context.meta)?;
    let client = client_auth::authenticate(&context, &presented).await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::unauthorized_client(
            "This client may not use the device_code grant.",
        )
        .into());
    }
    let scope = scope_rules::asked(form.scope.as_deref(), &client.metadata.scopes)?;
    let resource = context.resource_for(&client, form.resource.as_deref(), None)?;
    let scope = scope.to_string();
    let new = NewDeviceCode {
        client_id: &client.id,
        scope: &scope,
        resource: resource.as_deref(),
        now: context.now,
    };
    let issued = device_codes::create(context.db, new)
        .await
        .map_err(OAuthError::from)?;
    let verification_uri = format!("{}{VERIFICATION_PATH}", context.config.issuer);
    tracing::info!(client_id = %client.id, "device authorization started");
    Ok(DeviceAuthorization {
        device_code: issued.device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={}", issued.user_code),
        user_code: issued.user_code,
        verification_uri,
        expires_in: DEVICE_CODE_TTL,
        interval: POLL_INTERVAL,
    })
}
