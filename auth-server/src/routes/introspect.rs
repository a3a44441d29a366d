//! Token introspection (RFC 7662, `POST /oauth/introspect`).
//!
//! Only an authenticated confidential client may ask (a resource server, in
//! practice); anything else gets `401 invalid_client`. Access and refresh
//! tokens are both looked up whatever `token_type_hint` says (it only
//! orders the lookups, RFC 7662 §2.1). A token that is not ours, expired,
//! used or revoked is simply `{"active": false}`: RFC 7662 §2.2 wants no
//! reason given. Answers carry the user's email, so they are never cached.

use rocket::http::Status;
use rocket::post;
use rocket::request::Request;
use rocket::response::{self, Responder};
use serde_json::{Value, json};
use shared::oauth::OAuthErrorBody;

use super::form::{OAuthForm, TokenFailure};
use crate::errors::OAuthError;
use crate::errors::oauth::json_answer;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, required};
use crate::oauth::own_tokens::own_access_token_members;
use crate::store::refresh_families;

/// The form of an introspection request (RFC 7662 §2.1).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct IntrospectionForm {
    #[schema(value_type = String, required = true)]
    pub token: Option<String>,
    // A hint only: both kinds of token are looked up whatever it says.
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

impl CarriesCredentials for IntrospectionForm {
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

/// An introspection answer: JSON, never stored by a cache (RFC 7662 §4).
pub struct Introspection(Value);

impl Introspection {
    fn inactive() -> Introspection {
        Introspection(json!({ "active": false }))
    }
}

impl<'r> Responder<'r, 'static> for Introspection {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(json_answer(Status::Ok, &self.0))
    }
}

/// Introspect a token (RFC 7662); confidential clients only.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = IntrospectionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": false}`, or the token's claims with `active: true`",
         body = Object),
        (status = 400, description = "RFC 6749 §5.2 error", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    )
)]
#[post("/oauth/introspect", data = "<form>")]
pub async fn introspect(
    context: GrantContext<'_>,
    form: Result<OAuthForm<IntrospectionForm>, TokenFailure>,
) -> Result<Introspection, TokenFailure> {
    let OAuthForm(form) = form?;
    let (db, config, now) = (context.db, context.config, context.now);
    let presented = form.credentials(&context.meta)?;
    let caller = client_auth::authenticate(&context, &presented).await?;
    // A public client cannot prove who it is, so it may not look into tokens.
    if caller.is_public() {
        return Err(OAuthError::invalid_client().into());
    }
    let token = required(&form.token, "token")?;
    let keys = context.tokens.keys();

    // A JWT is recognised by its signature without a database read, so
    // the hint need not order anything: a wrong hint changes nothing.
    if let Some(verified) = own_access_token_members(keys, config, token) {
        let (claims, members) = (&verified.claims, &verified.members);
        let live = claims.exp > now
            && claims.nbf <= now + shared::verifier::MAX_LEEWAY_SECS
            && !refresh_families::is_access_token_revoked(db, &claims.jti)
                .await
                .map_err(OAuthError::from)?;
        if !live {
            return Ok(Introspection::inactive());
        }
        let mut body = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "aud": claims.aud,
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "jti": claims.jti,
        });
        if let Some(email) = &claims.email {
            body["username"] = json!(email);
        }
        // RFC 8693 §4.1: who acts for the subject, in an exchanged token.
        if let Some(act) = members.get("act") {
            body["act"] = act.clone();
        }
        // RFC 9449 §6.2: a bound token says so, and to which key.
        if let Some(cnf) = &claims.cnf {
            body["token_type"] = json!("DPoP");
            body["cnf"] = json!({ "jkt": cnf.jkt });
        }
        return Ok(Introspection(body));
    }

    let stored = refresh_families::find(db, token)
        .await
        .map_err(OAuthError::from)?;
    match stored {
        Some(stored) if stored.is_live(now) => {
            let mut body = json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": stored.scope,
                "client_id": stored.client_id,
                "sub": stored.user_id,
                "iss": config.issuer,
                "exp": stored.expires_at,
            });
            // A public client's refresh token bound to its DPoP key.
            if let Some(jkt) = stored.dpop_jkt {
                body["token_type"] = json!("DPoP");
                body["cnf"] = json!({ "jkt": jkt });
            }
            Ok(Introspection(body))
        }
        _ => Ok(Introspection::inactive()),
    }
}
