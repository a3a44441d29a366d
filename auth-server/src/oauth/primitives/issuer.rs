//! The issuer: every grant's tokens are minted by [`GrantContext::mint`],
//! whether oxide-auth's flows get there through [`GrantIssuer`] or the
//! password grant directly. An access token from the
//! [`TokenMinter`](crate::token::TokenMinter), an id_token when `openid`
//! was granted, and a refresh token where the client may refresh: a new
//! family, the first token of the family a code bound, or the successor of
//! the token presented.

use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth_async::primitives::Issuer;
use rocket::async_trait;
use shared::scope::{Scope, ScopeSet};

use super::{
    BAD_CODE, BAD_REFRESH, ext, from_oxide, no_redirect, private, set_private, to_oxide,
    wall_deadline,
};
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::{GrantContext, TokenSuccess, oidc, scope_rules};
use crate::store::codes;
use crate::store::refresh_families as refresh_tokens;
use crate::store::users;
use crate::token::{Subject, new_jti};

/// What a grant asks the issuer for, whichever way it got there.
pub struct Issuance<'g> {
    /// The user, for a user grant.
    pub owner_id: &'g str,
    pub client_id: &'g str,
    pub scope: ScopeSet,
    /// Facts the earlier primitives recorded (see [`ext`]).
    pub extensions: &'g Extensions,
}

impl<'g> Issuance<'g> {
    fn of(grant: &'g Grant) -> Issuance<'g> {
        Issuance {
            owner_id: &grant.owner_id,
            client_id: &grant.client_id,
            scope: from_oxide(&grant.scope),
            extensions: &grant.extensions,
        }
    }
}

/// oxide-auth's `Issuer`: RFC 9068 JWT access tokens and rotating refresh
/// tokens, through [`GrantContext::mint`].
pub struct GrantIssuer<'c> {
    context: &'c GrantContext<'c>,
}

impl<'c> GrantIssuer<'c> {
    pub fn new(context: &'c GrantContext<'c>) -> GrantIssuer<'c> {
        GrantIssuer { context }
    }
}

impl GrantContext<'_> {
    /// Mints the access token (and refresh token, where the client may
    /// refresh) for a grant: the one path every grant's tokens take.
    /// `rotating` is the refresh token presented, when this is a rotation.
    pub async fn mint(
        &self,
        grant: Issuance<'_>,
        rotating: Option<&str>,
    ) -> Result<IssuedToken, ()> {
        let client = self.authenticated_or_refuse()?;
        if client.id != grant.client_id {
            tracing::error!("a grant for another client reached the issuer");
            self.refuse(OAuthError::server_error());
            return Err(());
        }
        let scope = grant.scope;
        let signing_failed = |_| self.refuse(OAuthError::server_error());
        let extensions = grant.extensions;

        let resource = self.resource_for(&client, private(extensions, ext::RESOURCE))?;
        let resource = resource.as_deref();
        let mut id_token = None;

        let (minted, scope, refresh) = if private(extensions, ext::CLIENT_SUBJECT).is_some() {
            let scope = self.token_scope(&scope, &client, None)?;
            let minted = self
                .tokens
                .mint_for(
                    Subject::Client,
                    &client.id,
                    &scope,
                    self.now,
                    new_jti(),
                    resource,
                )
                .map_err(signing_failed)?;
            (minted, scope, None)
        } else {
            let user = users::find_by_id(self.db, grant.owner_id)
                .await
                .map_err(|e| self.db_failed(e))?;
            let Some(user) = user else {
                self.refuse(OAuthError::invalid_grant(
                    "The user of this grant no longer exists.",
                ));
                return Err(());
            };
            let scope = self.token_scope(&scope, &client, Some(&user))?;
            // Personal data goes to the product's own clients, and to a
            // third party only with the scope that names it (API.md).
            let subject = Subject::User {
                id: &user.id,
                email: (client.metadata.first_party || scope.has(Scope::Email))
                    .then_some(&*user.email),
                name: (client.metadata.first_party || scope.has(Scope::Profile))
                    .then_some(&*user.name),
            };
            // A code exchange chose its jti when it spent the code.
            let jti = private(extensions, ext::ACCESS_JTI).unwrap_or_else(new_jti);
            // Signed before any transaction, so no lock waits on RSA.
            let minted = self
                .tokens
                .mint_for(subject, &client.id, &scope, self.now, jti, resource)
                .map_err(signing_failed)?;
            if scope.has(Scope::OpenId) {
                let auth_time = private(extensions, ext::AUTH_TIME).and_then(|t| t.parse().ok());
                let claims = oidc::id_token_claims(oidc::IdTokenFacts {
                    user: &user,
                    client_id: &client.id,
                    scope: &scope,
                    auth_time,
                    nonce: private(extensions, ext::NONCE).as_deref(),
                    access_token: &minted.token,
                });
                let signed = self
                    .tokens
                    .sign_id_token(claims, self.now)
                    .map_err(signing_failed)?;
                id_token = Some(signed);
            }
            let refresh = if client.allows_grant(GrantType::RefreshToken) {
                let grant_scope =
                    private(extensions, ext::GRANT_SCOPE).unwrap_or_else(|| scope.to_string());
                let new = refresh_tokens::NewRefreshToken {
                    client_id: &client.id,
                    user_id: &user.id,
                    scope: &grant_scope,
                    access_jti: &minted.jti,
                    ttl: self.config.refresh_token_ttl,
                    now: self.now,
                };
                self.issue_refresh(extensions, rotating, new).await?
            } else {
                None
            };
            (minted, scope, refresh)
        };

        let until = wall_deadline(minted.expires_at, self.now);
        let token = minted.token.clone();
        let mut success = TokenSuccess::new(minted, scope.to_string(), refresh.clone());
        success.0.id_token = id_token;
        self.record_issued(success);
        Ok(IssuedToken {
            token,
            refresh,
            until,
            token_type: TokenType::Bearer,
        })
    }

    /// The scope a token is minted with ([`scope_rules::for_token`]), or
    /// the refusal recorded.
    fn token_scope(
        &self,
        scope: &ScopeSet,
        client: &crate::store::clients::Client,
        user: Option<&users::User>,
    ) -> Result<ScopeSet, ()> {
        scope_rules::for_token(scope, client, user).map_err(|error| self.refuse(error))
    }

    /// The refresh token of a grant: a new family for a fresh grant, the
    /// first token of the family a code bound at redemption, or the
    /// successor of the presented token. The last two are refused, with
    /// the access token minted for them listed as revoked, when the family
    /// was revoked meanwhile (a concurrent replay).
    pub(super) async fn issue_refresh(
        &self,
        extensions: &Extensions,
        rotating: Option<&str>,
        new: refresh_tokens::NewRefreshToken<'_>,
    ) -> Result<Option<String>, ()> {
        let family = private(extensions, ext::FAMILY);
        let is_code = private(extensions, ext::CODE).is_some();
        let (family, refused) = match (rotating, family) {
            (Some(_), Some(family)) => (family, BAD_REFRESH),
            (None, Some(family)) if is_code => (family, BAD_CODE),
            // A code exchange for which no family was begun issues none.
            (None, None) if is_code => return Ok(None),
            (None, _) => {
                let max_lifetime = self.config.refresh_token_max_lifetime;
                let issued = refresh_tokens::start_family(self.db, new, max_lifetime)
                    .await
                    .map_err(|e| self.db_failed(e))?;
                return Ok(Some(issued.token));
            }
            (Some(_), None) => {
                tracing::error!("a rotation reached the issuer without its family");
                self.refuse(OAuthError::server_error());
                return Err(());
            }
        };
        let access_jti = new.access_jti.to_owned();
        let access_expires_at = self.now + self.tokens.ttl();
        let continued =
            refresh_tokens::continue_family(self.db, &family, rotating, new, access_expires_at)
                .await
                .map_err(|e| self.db_failed(e))?;
        match continued {
            refresh_tokens::Continued::Issued(issued) => Ok(Some(issued.token)),
            refresh_tokens::Continued::IssuedRevoked(issued) => {
                // This exchange spent the code first, and a replay of it
                // revoked what it issues: answered, and dead already.
                refresh_tokens::revoke_access_token(self.db, &access_jti, access_expires_at)
                    .await
                    .map_err(|e| self.db_failed(e))?;
                tracing::warn!("a code's tokens were revoked by its replay as they were issued");
                Ok(Some(issued.token))
            }
            refresh_tokens::Continued::Replayed
            | refresh_tokens::Continued::FamilyEnded
            | refresh_tokens::Continued::TokenDead => {
                // Never handed out, but a code's jti may already be known
                // to whoever revoked the family: keep the list complete.
                refresh_tokens::revoke_access_token(self.db, &access_jti, access_expires_at)
                    .await
                    .map_err(|e| self.db_failed(e))?;
                self.refuse(OAuthError::invalid_grant(refused));
                Err(())
            }
        }
    }

    /// RFC 6749 §4.1.2: a code used twice SHOULD revoke what it issued.
    pub(super) async fn revoke_what_code_issued(
        &self,
        stored: &codes::StoredCode,
    ) -> Result<(), ()> {
        let access_expires_at = self.now + self.tokens.ttl();
        if let Some(jti) = &stored.access_jti {
            refresh_tokens::revoke_access_token(self.db, jti, access_expires_at)
                .await
                .map_err(|e| self.db_failed(e))?;
        }
        if let Some(family) = &stored.family_id {
            self.revoke_family(family).await?;
        }
        Ok(())
    }

    pub(super) async fn revoke_family(&self, family: &str) -> Result<(), ()> {
        let access_expires_at = self.now + self.tokens.ttl();
        refresh_tokens::revoke_family(self.db, family, self.now, access_expires_at)
            .await
            .map_err(|e| self.db_failed(e))
    }
}

#[async_trait]
impl Issuer for GrantIssuer<'_> {
    async fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        self.context.mint(Issuance::of(&grant), None).await
    }

    /// Rotation (RFC 9700 §4.14.2): the presented token is spent, a new one
    /// of the same family issued, in one transaction. Of two requests with
    /// the same token only one wins; the other is a reuse and kills the
    /// family, the winner's successor included.
    async fn refresh(&mut self, token: &str, grant: Grant) -> Result<RefreshedToken, ()> {
        let context = self.context;
        let client = context.authenticated_or_refuse()?;
        if !client.allows_grant(GrantType::RefreshToken) {
            context.refuse(OAuthError::unauthorized_client(
                "This client may not use the refresh_token grant.",
            ));
            return Err(());
        }
        // Rights taken away since the family began can leave nothing.
        if grant.scope.iter().next().is_none() {
            context.refuse(scope_rules::nothing_to_grant());
            return Err(());
        }
        // Spending the presented token and storing its successor are one
        // transaction under the family lock; a reuse revokes the family.
        let issued = context.mint(Issuance::of(&grant), Some(token)).await?;
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
        let context = self.context;
        let Some(claims) = super::super::introspect::own_access_token(
            context.tokens.keys(),
            context.config,
            token,
        ) else {
            return Ok(None);
        };
        if claims.exp <= context.now {
            return Ok(None);
        }
        let revoked = refresh_tokens::is_access_token_revoked(context.db, &claims.jti)
            .await
            .map_err(|e| context.db_failed(e))?;
        if revoked {
            return Ok(None);
        }
        Ok(Some(Grant {
            owner_id: claims.sub,
            client_id: claims.client_id,
            scope: to_oxide(&ScopeSet::parse(&claims.scope))?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(claims.exp, context.now),
            extensions: Extensions::new(),
        }))
    }

    async fn recover_refresh(&mut self, token: &str) -> Result<Option<Grant>, ()> {
        let context = self.context;
        let no_grant = || {
            context.refuse(OAuthError::invalid_grant(BAD_REFRESH));
            Ok(None)
        };
        let stored = refresh_tokens::find(context.db, token)
            .await
            .map_err(|e| context.db_failed(e))?;
        let Some(stored) = stored else {
            return no_grant();
        };
        // Another client's token is refused without being touched (RFC 6749 §6).
        if context
            .presented_client()
            .is_some_and(|id| id != stored.client_id)
        {
            return no_grant();
        }
        if stored.used_at.is_some() && stored.revoked_at.is_none() {
            tracing::warn!(client_id = %stored.client_id, "rotated refresh token presented again");
            context.revoke_family(&stored.family_id).await?;
            return no_grant();
        }
        if !stored.is_live(context.now) {
            return no_grant();
        }
        // The grant as the user's rights stand now: a deleted user gets
        // nothing, a demoted admin loses `profiles:read` here and in every
        // later token of the family. When that leaves nothing, `refresh`
        // answers invalid_scope once the client has authenticated, and the
        // token stays unspent.
        let rights = scope_rules::current_rights(context.db, &stored.user_id)
            .await
            .map_err(|e| context.db_failed(e))?;
        let Some(rights) = rights else {
            return no_grant();
        };
        let scope = ScopeSet::parse(&stored.scope).intersection(&rights);
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::FAMILY, stored.family_id.as_str());
        set_private(&mut extensions, ext::GRANT_SCOPE, scope.to_string());
        // The id_token of a refresh names the original sign-in (OIDC Core
        // §12.2); the access token keeps the grant's resource.
        let (auth_time, resource) = refresh_tokens::family_context(context.db, &stored.family_id)
            .await
            .map_err(|e| context.db_failed(e))?;
        if let Some(auth_time) = auth_time {
            set_private(&mut extensions, ext::AUTH_TIME, auth_time.to_string());
        }
        if let Some(resource) = resource {
            set_private(&mut extensions, ext::RESOURCE, resource);
        }
        Ok(Some(Grant {
            owner_id: stored.user_id,
            client_id: stored.client_id,
            scope: to_oxide(&scope)?,
            redirect_uri: no_redirect()?,
            until: wall_deadline(stored.expires_at, context.now),
            extensions,
        }))
    }
}
