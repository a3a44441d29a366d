//! The issuer: oxide-auth's `Issuer` over [`mint`], the path every
//! grant's tokens take. It turns oxide-auth's `Grant` (with the facts the
//! earlier primitives put in its extensions) into an [`Issuance`], keeps
//! the [`TokenSuccess`] for the response, and answers oxide-auth what it
//! asks; it recovers the grants of our access and refresh tokens.

use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth_async::primitives::Issuer;
use rocket::async_trait;
use shared::scope::ScopeSet;

use super::extensions::{
    ext, from_oxide, no_redirect, private, set_private, to_oxide, wall_deadline,
};
use super::flow::Flow;
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::mint::{self, BAD_REFRESH, Holder, Issuance, Refresh};
use crate::oauth::own_tokens::own_access_token;
use crate::oauth::scope_rules;
use crate::store::refresh_families;

/// oxide-auth's `Issuer`: RFC 9068 JWT access tokens and rotating refresh
/// tokens, through [`mint`].
pub struct GrantIssuer<'c> {
    flow: &'c Flow<'c>,
}

impl<'c> GrantIssuer<'c> {
    pub fn new(flow: &'c Flow<'c>) -> GrantIssuer<'c> {
        GrantIssuer { flow }
    }

    /// Mints for `grant`; `rotating` is the refresh token presented, when
    /// this is a rotation.
    async fn mint(&self, grant: &Grant, rotating: Option<&str>) -> Result<IssuedToken, ()> {
        let flow = self.flow;
        let ctx = flow.ctx;
        let client = flow.authenticated_or_refuse()?;
        if client.id != grant.client_id {
            tracing::error!("a grant for another client reached the issuer");
            flow.refuse(OAuthError::server_error());
            return Err(());
        }
        let extensions = &grant.extensions;
        let granted = private(extensions, ext::RESOURCE);
        let resource = ctx
            .resource_for(&client, flow.requested_resource(), granted)
            .map_err(|error| flow.refuse(error))?;
        let user = if private(extensions, ext::CLIENT_SUBJECT).is_some() {
            None
        } else {
            let Some(user) = flow.user(&grant.owner_id).await? else {
                flow.refuse(OAuthError::invalid_grant(
                    "The user of this grant no longer exists.",
                ));
                return Err(());
            };
            Some(user)
        };
        let family = private(extensions, ext::FAMILY);
        let refresh = match (rotating, family) {
            (Some(presented), Some(family)) => Refresh::Rotation { family, presented },
            (Some(_), None) => {
                tracing::error!("a rotation reached the issuer without its family");
                flow.refuse(OAuthError::server_error());
                return Err(());
            }
            (None, family) if private(extensions, ext::CODE).is_some() => {
                Refresh::CodeFamily(family)
            }
            (None, _) => Refresh::NewFamily,
        };
        let issuance = Issuance {
            client: &client,
            holder: user.as_ref().map_or(Holder::Client, Holder::User),
            scope: from_oxide(&grant.scope),
            resource,
            access_jti: private(extensions, ext::ACCESS_JTI),
            nonce: private(extensions, ext::NONCE),
            auth_time: private(extensions, ext::AUTH_TIME).and_then(|t| t.parse().ok()),
            sid: private(extensions, ext::SID),
            grant_scope: private(extensions, ext::GRANT_SCOPE),
            refresh,
        };
        let success = mint::mint(ctx, issuance)
            .await
            .map_err(|error| flow.refuse(error))?;
        let issued = IssuedToken {
            token: success.0.access_token.clone(),
            refresh: success.0.refresh_token.clone(),
            until: wall_deadline(ctx.now + success.0.expires_in, ctx.now),
            token_type: TokenType::Bearer,
        };
        flow.record_issued(success);
        Ok(issued)
    }
}

#[async_trait]
impl Issuer for GrantIssuer<'_> {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        self.mint(&grant, None).await
    }

    /// Rotation (RFC 9700 §4.14.2): the presented token is spent, a new one
    /// of the same family issued, in one transaction. Of two requests with
    /// the same token only one wins; the other is a reuse and kills the
    /// family, the winner's successor included.
    async fn refresh(&mut self, token: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let flow = self.flow;
        let client = flow.authenticated_or_refuse()?;
        if !client.allows_grant(GrantType::RefreshToken) {
            flow.refuse(OAuthError::unauthorized_client(
                "This client may not use the refresh_token grant.",
            ));
            return Err(());
        }
        // Rights taken away since the family began can leave nothing.
        if grant.scope.iter().next().is_none() {
            flow.refuse(scope_rules::nothing_to_grant());
            return Err(());
        }
        let issued = self.mint(&grant, Some(token)).await?;
        Ok(RefreshedToken {
            token: issued.token,
            refresh: issued.refresh,
            until: issued.until,
            token_type: issued.token_type,
        })
    }

    /// A live access token of ours: signed by one of our keys, for our
    /// issuer, not expired, not revoked.
    async fn recover_token(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let flow = self.flow;
        let ctx = flow.ctx;
        let Some(claims) = own_access_token(ctx.tokens.keys(), ctx.config, token) else {
            return Ok(None);
        };
        if claims.exp <= ctx.now {
            return Ok(None);
        }
        let revoked = refresh_families::is_access_token_revoked(ctx.db, &claims.jti)
            .await
            .map_err(|e| flow.db_failed(e))?;
        if revoked {
            return Ok(None);
        }
        Ok(Some(Grant {
            owner_id: claims.sub,
            client_id: claims.client_id,
            scope: to_oxide(&ScopeSet::parse(&claims.scope))?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(claims.exp, ctx.now),
            extensions: Extensions::new(),
        }))
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let flow = self.flow;
        let ctx = flow.ctx;
        let no_grant = || {
            flow.refuse(OAuthError::invalid_grant(BAD_REFRESH));
            Ok(None)
        };
        let stored = refresh_families::find(ctx.db, token)
            .await
            .map_err(|e| flow.db_failed(e))?;
        let Some(stored) = stored else {
            return no_grant();
        };
        // Another client's token is refused without being touched (RFC 6749 §6).
        if flow
            .presented_client()
            .is_some_and(|id| id != stored.client_id)
        {
            return no_grant();
        }
        // RFC 9449 §5: a bound token is refreshed only with a proof of its
        // key; refused here, nothing is rotated or revoked.
        if let Some(jkt) = &stored.dpop_jkt
            && ctx.dpop_jkt() != Some(jkt.as_str())
        {
            flow.refuse(OAuthError::invalid_dpop_proof(
                "The refresh token is bound to a DPoP key this request does not prove.",
            ));
            return Ok(None);
        }
        if stored.used_at.is_some() && stored.revoked_at.is_none() {
            tracing::warn!(client_id = %stored.client_id, "rotated refresh token presented again");
            let access_expires_at = ctx.now + ctx.tokens.ttl();
            refresh_families::revoke_replayed_family(ctx.db, &stored, ctx.now, access_expires_at)
                .await
                .map_err(|e| flow.db_failed(e))?;
            return no_grant();
        }
        if !stored.is_live(ctx.now) {
            return no_grant();
        }
        // The grant as the user's rights stand now: a deleted user gets
        // nothing, a demoted admin loses `profiles:read` here and in every
        // later token of the family. When that leaves nothing, `refresh`
        // answers invalid_scope once the client has authenticated, and the
        // token stays unspent.
        let Some(user) = flow.user(&stored.user_id).await? else {
            return no_grant();
        };
        let rights = scope_rules::user_scopes(&user);
        let scope = ScopeSet::parse(&stored.scope).intersection(&rights);
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::FAMILY, stored.family_id.as_str());
        set_private(&mut extensions, ext::GRANT_SCOPE, scope.to_string());
        // The id_token of a refresh names the original sign-in (OIDC Core
        // §12.2); the access token keeps the grant's resource.
        let family = refresh_families::family_context(ctx.db, &stored.family_id)
            .await
            .map_err(|e| flow.db_failed(e))?;
        if let Some(auth_time) = family.auth_time {
            set_private(&mut extensions, ext::AUTH_TIME, auth_time.to_string());
        }
        if let Some(resource) = family.resource {
            set_private(&mut extensions, ext::RESOURCE, resource);
        }
        if let Some(sid) = family.sid {
            set_private(&mut extensions, ext::SID, sid);
        }
        Ok(Some(Grant {
            owner_id: stored.user_id,
            client_id: stored.client_id,
            scope: to_oxide(&scope)?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(stored.expires_at, ctx.now),
            extensions,
        }))
    }
}
