//! Token exchange (RFC 8693): a confidential service, acting for a user,
//! trades the user's access token for one that is narrower: for another
//! audience, with a subset of the scope, and with `act` naming who acts
//! for whom (§4.1).
//!
//! The subject and actor tokens must be access tokens this issuer signed,
//! checked by the one JWS verifier against our key ring (`own_tokens`, which
//! remembers a verified token while its key is in the ring), and live:
//! unexpired and not revoked, themselves or any token they were exchanged
//! from. Revocation is read from the remembered view of
//! `store::revocations`: one made at this instance is seen by the next
//! exchange, one made at another instance within 2 seconds.
//! Every refusal of a token is `invalid_request` (§2.2.2).
//! A token bound to a DPoP key (`cnf`) is exchanged only with a proof of
//! that key (RFC 9449 §6 would let anyone holding it trade it for a bearer
//! token otherwise); the exchanged token is bound to the proof's key
//! whenever a proof is sent.

use std::sync::Arc;

use serde_json::{Value, json};
use shared::claims::AccessTokenClaims;
use shared::scope::ScopeSet;

use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::keys::verified::VerifiedToken;
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{CarriesCredentials, TokenForm, required};
use crate::oauth::mint::{self, ACCESS_TOKEN_TYPE, Exchange, TokenSuccess};
use crate::oauth::own_tokens::own_access_token_members;
use crate::oauth::scope_rules;
use crate::store::clients::Client;
use crate::store::{revocations, users};

/// How deep `act` may nest in an issued token: a longer chain of services
/// acting for one another is more likely a loop than a design.
pub const MAX_ACT_DEPTH: usize = 5;

const NOT_ALLOWED: &str =
    "Only a confidential client registered for token exchange may exchange tokens.";
const BAD_SUBJECT: &str = "The subject_token is invalid, expired or revoked.";
const BAD_ACTOR: &str = "The actor_token is invalid, expired or revoked.";
const UNKNOWN_TYPE: &str = "Only urn:ietf:params:oauth:token-type:access_token is supported.";

#[tracing::instrument(skip_all, fields(grant = "token_exchange"))]
pub async fn grant(ctx: &GrantContext<'_>, form: &TokenForm) -> Result<TokenSuccess, OAuthError> {
    let presented = form.credentials(&ctx.meta)?;
    let client = client_auth::authenticate(ctx, &presented).await?;
    if client.is_public() || !client.allows_grant(GrantType::TokenExchange) {
        return Err(OAuthError::unauthorized_client(NOT_ALLOWED));
    }
    let subject_token = required(&form.subject_token, "subject_token")?;
    if required(&form.subject_token_type, "subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(UNKNOWN_TYPE));
    }
    if form
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(UNKNOWN_TYPE));
    }
    let audience = target(&client, form)?;

    let verified = live_token(ctx, subject_token)
        .await?
        .ok_or(OAuthError::invalid_request(BAD_SUBJECT))?;
    let (subject, members) = (&verified.claims, &verified.members);
    if let Some(cnf) = members.get("cnf") {
        let bound_to = cnf.get("jkt").and_then(Value::as_str);
        if bound_to.is_none() || bound_to != ctx.dpop_jkt() {
            return Err(OAuthError::invalid_request(
                "A sender-constrained subject_token is exchanged only with a DPoP proof of its key.",
            ));
        }
    }
    let actor = match (
        form.actor_token.as_deref(),
        form.actor_token_type.as_deref(),
    ) {
        (None, None) => None,
        (Some(token), Some(ACCESS_TOKEN_TYPE)) => Some(
            live_token(ctx, token)
                .await?
                .ok_or(OAuthError::invalid_request(BAD_ACTOR))?,
        ),
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request(UNKNOWN_TYPE)),
        // RFC 8693 §2.1: each of the two comes with the other.
        _ => {
            return Err(OAuthError::invalid_request(
                "actor_token and actor_token_type must be sent together.",
            ));
        }
    };
    let prior = members.get("act");
    // The new token's `act` is one deeper than the subject token's.
    if act_depth(prior) >= MAX_ACT_DEPTH {
        return Err(OAuthError::invalid_request(
            "The delegation chain would be deeper than 5 actors.",
        ));
    }
    let actor_sub = actor.map_or_else(|| client.id.clone(), |actor| actor.claims.sub.clone());
    let act = match prior {
        Some(prior) => json!({ "sub": actor_sub, "act": prior }),
        None => json!({ "sub": actor_sub }),
    };

    let scope = narrowed_scope(form.scope.as_deref(), subject)?;
    let user = users::find_by_id_viewed(ctx.db, &ctx.accounts, &subject.sub).await?;
    // A client's own token (client credentials) has its client as subject;
    // any other subject must still be an account.
    if user.is_none() && subject.sub != subject.client_id {
        return Err(OAuthError::invalid_request(BAD_SUBJECT));
    }
    let success = mint::mint_exchanged(
        ctx,
        Exchange {
            client: &client,
            subject,
            user: user.as_ref(),
            scope,
            audience,
            act,
        },
    )
    .await?;
    tracing::info!(client_id = %client.id, subject = %subject.sub, "token exchanged");
    Ok(success)
}

/// The audience of the new token: `resource` or `audience` (the same when
/// both are sent), one the client is registered for (`--audience`).
fn target(client: &Client, form: &TokenForm) -> Result<String, OAuthError> {
    let target = match (form.resource.as_deref(), form.audience.as_deref()) {
        (Some(resource), Some(audience)) if resource != audience => {
            return Err(OAuthError::invalid_target());
        }
        (Some(target), _) | (None, Some(target)) => target,
        (None, None) => {
            return Err(OAuthError::invalid_request(
                "A target is required: resource or audience.",
            ));
        }
    };
    if !client.metadata.audiences.iter().any(|a| a == target) {
        return Err(OAuthError::invalid_target());
    }
    Ok(target.to_owned())
}

/// The scope asked for, which may only narrow the subject token's; without
/// one, the subject token's (narrowed to the client's when minted).
fn narrowed_scope(
    requested: Option<&str>,
    subject: &AccessTokenClaims,
) -> Result<ScopeSet, OAuthError> {
    let held = ScopeSet::parse(&subject.scope);
    let scope = match requested {
        None => held,
        Some(requested) => {
            let requested = ScopeSet::parse(requested);
            if !requested.is_subset(&held) {
                return Err(OAuthError::invalid_scope());
            }
            requested
        }
    };
    if scope.is_empty() {
        return Err(scope_rules::nothing_to_grant());
    }
    Ok(scope)
}

/// An access token we signed that is live now: unexpired, valid already,
/// and neither it nor any token it descends from revoked. Its claims and
/// the members of its payload; `None` for any other token.
async fn live_token(
    ctx: &GrantContext<'_>,
    token: &str,
) -> Result<Option<Arc<VerifiedToken>>, OAuthError> {
    let Some(verified) = own_access_token_members(ctx.tokens.keys(), ctx.config, token) else {
        return Ok(None);
    };
    let claims = &verified.claims;
    let leeway = shared::verifier::MAX_LEEWAY_SECS;
    if claims.exp <= ctx.now || claims.nbf > ctx.now + leeway {
        return Ok(None);
    }
    if revocations::is_revoked(ctx.db, &claims.jti).await? {
        return Ok(None);
    }
    Ok(Some(verified))
}

/// How many actors an `act` claim nests (RFC 8693 §4.1): 0 without one.
fn act_depth(act: Option<&Value>) -> usize {
    let mut depth = 0;
    let mut current = act;
    while let Some(Value::Object(actor)) = current {
        depth += 1;
        current = actor.get("act");
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_depth_counts_nested_actors() {
        assert_eq!(act_depth(None), 0);
        assert_eq!(act_depth(Some(&json!({"sub": "a"}))), 1);
        let three = json!({"sub": "a", "act": {"sub": "b", "act": {"sub": "c"}}});
        assert_eq!(act_depth(Some(&three)), 3);
    }
}
