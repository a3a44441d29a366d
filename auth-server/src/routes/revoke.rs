//! Token revocation (RFC 7009, `POST /oauth/revoke`).
//!
//! The client authenticates as at the token endpoint (a public client by
//! its `client_id`; none at all is the built-in first-party client). A
//! refresh token dies with its whole family; an access
//! token is listed as revoked so introspection reports it inactive (the
//! resource server, which only checks signatures, keeps accepting it until
//! it expires: access tokens are short-lived for that reason). Unknown
//! tokens and tokens of other clients get the same `200` (RFC 7009 §2.2),
//! so the endpoint tells nobody which tokens exist.

use rocket::http::Header;
use rocket::post;
use shared::oauth::OAuthErrorBody;

use super::form::{OAuthForm, TokenFailure};
use crate::errors::OAuthError;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, required};
use crate::oauth::own_tokens::own_access_token;
use crate::store::events::{self, Event};
use crate::store::refresh_families;

/// `200` with an empty body, never cached.
#[derive(rocket::Responder)]
#[response(status = 200)]
pub struct Revoked((), Header<'static>);

/// The form of a revocation request (RFC 7009 §2.1).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct RevocationForm {
    #[schema(value_type = String, required = true)]
    pub token: Option<String>,
    /// `refresh_token` or `access_token`: a hint; either kind is revoked.
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl CarriesCredentials for RevocationForm {
    fn in_body(&self) -> (Option<&str>, Option<&str>) {
        (self.client_id.as_deref(), self.client_secret.as_deref())
    }
    fn assertion(&self) -> (Option<&str>, Option<&str>) {
        (
            self.client_assertion_type.as_deref(),
            self.client_assertion.as_deref(),
        )
    }
}

/// Revoke a token (RFC 7009).
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = RevocationForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or unknown: the same answer"),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    )
)]
#[post("/oauth/revoke", data = "<form>")]
pub async fn revoke(
    context: GrantContext<'_>,
    form: Result<OAuthForm<RevocationForm>, TokenFailure>,
) -> Result<Revoked, TokenFailure> {
    let OAuthForm(form) = form?;
    let (db, config, now) = (context.db, context.config, context.now);
    let presented = form.credentials(&context.meta)?.or_first_party();
    let caller = client_auth::authenticate(&context, &presented).await?;
    let token = required(&form.token, "token")?;
    let (issuer, keys) = (context.tokens, context.tokens.keys());
    let done = Revoked((), Header::new("Cache-Control", "no-store"));

    // The hint only orders the lookups (RFC 7009 §2.1); both are tried.
    let try_refresh_first = form.token_type_hint.as_deref() != Some("access_token");
    for kind in if try_refresh_first {
        [true, false]
    } else {
        [false, true]
    } {
        if kind {
            let stored = refresh_families::find(db, token)
                .await
                .map_err(OAuthError::from)?;
            if let Some(stored) = stored {
                if stored.client_id == caller.id {
                    refresh_families::revoke_family(db, &stored.family_id, now, now + issuer.ttl())
                        .await
                        .map_err(OAuthError::from)?;
                    let revoked = Event::new("token_revoked")
                        .address(context.meta.client_ip)
                        .client(caller.id.as_str())
                        .subject(stored.user_id.as_str())
                        .detail("token_type", "refresh_token")
                        .detail("family_id", stored.family_id.as_str());
                    events::record(db, revoked, now).await;
                }
                return Ok(done);
            }
        } else if let Some(claims) = own_access_token(keys, config, token) {
            if claims.client_id == caller.id {
                refresh_families::revoke_access_token(db, &claims.jti, claims.exp)
                    .await
                    .map_err(OAuthError::from)?;
                let revoked = Event::new("token_revoked")
                    .address(context.meta.client_ip)
                    .client(caller.id.as_str())
                    .subject(claims.sub.as_str())
                    .detail("token_type", "access_token")
                    .detail("jti", claims.jti.as_str());
                events::record(db, revoked, now).await;
            }
            return Ok(done);
        }
    }
    Ok(done)
}
