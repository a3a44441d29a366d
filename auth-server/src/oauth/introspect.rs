//! Token introspection (RFC 7662, `POST /oauth/introspect`) and the check
//! of our own access tokens that revocation shares.
//!
//! Only an authenticated confidential client may ask (a resource server, in
//! practice); anything else gets `401 invalid_client`. Access and refresh
//! tokens are both looked up whatever `token_type_hint` says (it only
//! orders the lookups, RFC 7662 §2.1). A token that is not ours, expired,
//! used or revoked is simply `{"active": false}`: RFC 7662 §2.2 wants no
//! reason given. Answers carry the user's email, so they are never cached.

use rocket::data::Data;
use rocket::http::{ContentType, Header};
use rocket::serde::json::Json;
use rocket::{Responder, post};
use serde_json::{Value, json};
use shared::claims::AccessTokenClaims;
use shared::verifier::{ClaimRules, Jws, MAX_LEEWAY_SECS, TokenKind};

use super::{GrantContext, TokenFailure, client_auth, read_form};
use crate::config::AppConfig;
use crate::errors::OAuthError;
use crate::keys::KeyStore;
use crate::store::refresh_families as refresh_tokens;
use shared::oauth::OAuthErrorBody;

/// The claims of an access token we signed, whatever its expiry and its
/// audience; `None` for anything else (bad signature, unknown key, another
/// issuer, not an access token). The workspace's one JWS verifier
/// ([`shared::verifier::Jws`]) over the local key ring, whose keys were
/// turned into verifying keys when the ring was loaded.
pub fn own_access_token(
    keys: &KeyStore,
    config: &AppConfig,
    token: &str,
) -> Option<AccessTokenClaims> {
    let jws = Jws::parse(token, TokenKind::Access).ok()?;
    let ring = keys.current();
    let key = ring.keys.iter().find(|key| key.kid == jws.kid())?;
    // A handful of small allocations, next to an RSA verification.
    let rules = ClaimRules::access_tokens(&config.issuer, None, MAX_LEEWAY_SECS);
    let (_, claims) = jws.access_token(&key.verifying, &rules, None).ok()?;
    Some(claims)
}

/// The form of an introspection request (RFC 7662 §2.1).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct IntrospectionForm {
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// An introspection answer: JSON, never stored by a cache (RFC 7662 §4).
#[derive(Responder)]
pub struct Introspection {
    body: Json<Value>,
    cache: Header<'static>,
    pragma: Header<'static>,
}

impl Introspection {
    fn new(body: Value) -> Introspection {
        Introspection {
            body: Json(body),
            cache: Header::new("Cache-Control", "no-store"),
            pragma: Header::new("Pragma", "no-cache"),
        }
    }

    fn inactive() -> Introspection {
        Introspection::new(json!({ "active": false }))
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
#[post("/oauth/introspect", data = "<data>")]
pub async fn introspect(
    mut context: GrantContext<'_>,
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<Introspection, TokenFailure> {
    context.params = read_form(content_type, data).await?;
    let (db, config, now) = (context.db, context.config, context.now);
    let caller = client_auth::authenticate(context.clients, &context.credentials()?).await?;
    // A public client cannot prove who it is, so it may not look into tokens.
    if caller.is_public() {
        return Err(OAuthError::invalid_client().into());
    }
    let token = context.params.require("token")?;
    let keys = context.tokens.keys();

    // A JWT is recognised by its signature without a database read, so
    // the hint need not order anything: a wrong hint changes nothing.
    if let Some(claims) = own_access_token(keys, config, token) {
        let live = claims.exp > now
            && claims.nbf <= now + shared::verifier::MAX_LEEWAY_SECS
            && !refresh_tokens::is_access_token_revoked(db, &claims.jti)
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
        if let Some(email) = claims.email {
            body["username"] = json!(email);
        }
        return Ok(Introspection::new(body));
    }

    let stored = refresh_tokens::find(db, token)
        .await
        .map_err(OAuthError::from)?;
    match stored {
        Some(stored) if stored.is_live(now) => Ok(Introspection::new(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": stored.scope,
            "client_id": stored.client_id,
            "sub": stored.user_id,
            "iss": config.issuer,
            "exp": stored.expires_at,
        }))),
        _ => Ok(Introspection::inactive()),
    }
}
