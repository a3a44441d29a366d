//! The audit event of a token response (`token_issued`): the grant, the
//! client, the subject and the access token's `jti` and scope, read back
//! from the token just signed, so that every grant, present or to come,
//! is recorded by the one door they share. Never the token itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use shared::oauth::TokenResponse;

use super::context::GrantContext;
use crate::store::events::{self, Event};

/// Records that `response` was answered to a `grant` request.
pub async fn token_issued(ctx: &GrantContext<'_>, grant: &str, response: &TokenResponse) {
    // Our own signature, just made: the claims are read, not verified.
    let claims: Value = response
        .access_token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or(Value::Null);
    let text = |name: &str| claims[name].as_str().map(str::to_owned);
    let mut event = Event::new("token_issued")
        .address(ctx.meta.client_ip)
        .detail("grant", grant)
        .detail("scope", response.scope.as_str())
        .detail("jti", text("jti").unwrap_or_default())
        .detail("refresh_token", response.refresh_token.is_some())
        .detail("id_token", response.id_token.is_some());
    if let Some(client_id) = text("client_id") {
        event = event.client(client_id);
    }
    if let Some(sub) = text("sub") {
        event = event.subject(sub);
    }
    events::record(ctx.db, event, ctx.now).await;
}
