//! The authorizer: one-time authorization codes, stored hashed by
//! `codes`, spent before anything else about them is checked.

use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth_async::primitives::Authorizer;
use rocket::async_trait;
use shared::scope::ScopeSet;
use url::Url;

use super::extensions::{ext, from_oxide, private, set_private, to_oxide, wall_deadline};
use super::flow::Flow;
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::jwt::new_jti;
use crate::oauth::mint::BAD_CODE;
use crate::oauth::scope_rules;
use crate::store::{codes, refresh_families};

/// oxide-auth's `Authorizer` over the `authorization_codes` table.
pub struct CodeAuthorizer<'s> {
    flow: &'s Flow<'s>,
}

impl<'s> CodeAuthorizer<'s> {
    pub fn new(flow: &'s Flow<'s>) -> CodeAuthorizer<'s> {
        CodeAuthorizer { flow }
    }
}

#[async_trait]
impl Authorizer for CodeAuthorizer<'_> {
    /// Stores a code for a consenting user. The code never carries more
    /// than the user holds, whatever the client negotiated (RFC 6749 §3.3:
    /// the token response says what was granted), and never nothing.
    async fn authorize(&mut self, grant: Grant) -> Result<String, ()> {
        let flow = self.flow;
        let Some(user) = flow.user(&grant.owner_id).await? else {
            flow.refuse(OAuthError::server_error());
            return Err(());
        };
        let scope =
            scope_rules::narrowed(&from_oxide(&grant.scope), &scope_rules::user_scopes(&user))
                .map_err(|error| flow.refuse(error))?;
        let redirect_uri = private(&grant.extensions, ext::REDIRECT_URI)
            .unwrap_or_else(|| grant.redirect_uri.to_string());
        let challenge = private(&grant.extensions, ext::CHALLENGE);
        let nonce = private(&grant.extensions, ext::NONCE);
        let resource = private(&grant.extensions, ext::RESOURCE);
        let dpop_jkt = private(&grant.extensions, ext::DPOP_JKT);
        let auth_time = flow.auth_time();
        let sid = flow.sid();
        codes::create(
            flow.ctx.db,
            codes::NewCode {
                client_id: &grant.client_id,
                user_id: &user.id,
                redirect_uri: &redirect_uri,
                scope: &scope.to_string(),
                code_challenge: challenge.as_deref(),
                nonce: nonce.as_deref(),
                auth_time,
                sid: sid.as_deref(),
                resource: resource.as_deref(),
                dpop_jkt: dpop_jkt.as_deref(),
                now: flow.ctx.now,
            },
        )
        .await
        .map_err(|e| flow.db_failed(e))
    }

    /// Spends a code before anything else is checked: a code presented
    /// with a wrong verifier or redirect URI is as dead as a used one, so a
    /// stolen code gets one guess.
    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let flow = self.flow;
        let context = flow.ctx;
        let client = flow.authenticated_or_refuse()?;
        if !client.allows_grant(GrantType::AuthorizationCode) {
            flow.refuse(OAuthError::unauthorized_client(
                "This client may not use the authorization_code grant.",
            ));
            return Err(());
        }
        // What the exchange will issue is chosen now and bound to the code
        // as it is spent, so a concurrent replay always has it to revoke.
        let access_jti = new_jti();
        let family_id = client
            .allows_grant(GrantType::RefreshToken)
            .then(refresh_families::new_family_id);
        let plan = codes::Plan {
            client_id: &client.id,
            access_jti: &access_jti,
            family_id: family_id.as_deref(),
            max_lifetime: context.config.refresh_token_max_lifetime,
            // RFC 9449 §5: a public client's refresh tokens are bound to
            // the key of the proof that redeems its code.
            dpop_jkt: context.dpop_jkt().filter(|_| client.is_public()),
            now: context.now,
        };
        let redemption = codes::redeem(context.db, code, &plan)
            .await
            .map_err(|e| flow.db_failed(e))?;
        let stored = match redemption {
            codes::Redemption::Fresh(stored) => stored,
            codes::Redemption::Replayed(stored) => {
                tracing::warn!(client_id = %client.id, "authorization code replayed");
                if stored.client_id == client.id {
                    flow.revoke_what_code_issued(&stored).await?;
                }
                flow.refuse(OAuthError::invalid_grant(BAD_CODE));
                return Ok(None);
            }
            codes::Redemption::Invalid => {
                flow.refuse(OAuthError::invalid_grant(BAD_CODE));
                return Ok(None);
            }
        };
        if stored.client_id != client.id {
            flow.refuse(OAuthError::invalid_grant(BAD_CODE));
            return Ok(None);
        }
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::CODE, code);
        if let Some(jti) = &stored.access_jti {
            set_private(&mut extensions, ext::ACCESS_JTI, jti.as_str());
        }
        if let Some(family) = &stored.family_id {
            set_private(&mut extensions, ext::FAMILY, family.as_str());
        }
        set_private(
            &mut extensions,
            ext::REDIRECT_URI,
            stored.redirect_uri.as_str(),
        );
        if let Some(challenge) = &stored.code_challenge {
            set_private(&mut extensions, ext::CHALLENGE, challenge.as_str());
        }
        if let Some(nonce) = &stored.nonce {
            set_private(&mut extensions, ext::NONCE, nonce.as_str());
        }
        if let Some(auth_time) = stored.auth_time {
            set_private(&mut extensions, ext::AUTH_TIME, auth_time.to_string());
        }
        if let Some(resource) = &stored.resource {
            set_private(&mut extensions, ext::RESOURCE, resource.as_str());
        }
        if let Some(sid) = &stored.sid {
            set_private(&mut extensions, ext::SID, sid.as_str());
        }
        if let Some(jkt) = &stored.dpop_jkt {
            set_private(&mut extensions, ext::DPOP_JKT, jkt.as_str());
        }
        // oxide-auth compares redirect URIs as parsed URLs; GrantChecks
        // then compares the exact strings.
        let redirect_uri = Url::parse(&stored.redirect_uri).map_err(|_| {
            flow.refuse(OAuthError::invalid_grant(BAD_CODE));
        })?;
        Ok(Some(Grant {
            owner_id: stored.user_id,
            client_id: stored.client_id,
            scope: to_oxide(&ScopeSet::parse(&stored.scope))?,
            redirect_uri,
            until: wall_deadline(stored.expires_at, context.now),
            extensions,
        }))
    }
}
