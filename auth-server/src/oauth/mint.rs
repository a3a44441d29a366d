//! Minting: the one path every grant's tokens take, and the token response
//! (RFC 6749 §5.1) it answers with. A grant says who the tokens are for,
//! with what scope and for which resource ([`Issuance`]); [`mint`] narrows
//! the scope to what the client and the user hold now, signs the access
//! token, adds an id_token when `openid` was granted, and a refresh token
//! where the client may refresh: a new family, the first token of the
//! family a code bound as it was spent, or the successor of the token
//! presented.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};
use shared::claims::{AccessTokenClaims, Audience, Confirmation};
use shared::oauth::TokenResponse;
use shared::scope::{Scope, ScopeSet};

use super::context::GrantContext;
use super::dpop;
use super::id_token::{self, IdTokenFacts};
use super::jwt::{Subject, new_jti};
use super::scope_rules;
use crate::errors::OAuthError;
use crate::errors::oauth::json_answer;
use crate::grant_type::GrantType;
use crate::store::clients::Client;
use crate::store::exchanged_tokens::{self, Lineage};
use crate::store::refresh_families::{self, Continued, NewRefreshToken};
use crate::store::users::User;

/// The refusal of a code that is unknown, expired, spent or another's.
pub const BAD_CODE: &str = "The authorization code is invalid, expired, or was already used.";
/// The refusal of a refresh token that is unknown, expired, spent or revoked.
pub const BAD_REFRESH: &str = "The refresh token is invalid, expired, or revoked.";

/// Who the tokens are for.
pub enum Holder<'a> {
    /// A user, through a user grant.
    User(&'a User),
    /// The client acting for itself (client credentials): `sub` is its id,
    /// and it gets no refresh token (RFC 6749 §4.4.3).
    Client,
}

/// Where a user grant's refresh token comes from, when the client may
/// refresh.
pub enum Refresh<'a> {
    /// A fresh grant begins a family.
    NewFamily,
    /// A code exchange continues the family bound to the code as it was
    /// spent; `None` when none was begun (the client may not refresh).
    CodeFamily(Option<String>),
    /// A rotation (RFC 9700 §4.14.2): `presented` is spent and its
    /// successor joins `family`, in one transaction under the family lock.
    Rotation { family: String, presented: &'a str },
}

/// What a grant asks to be minted.
pub struct Issuance<'a> {
    pub client: &'a Client,
    pub holder: Holder<'a>,
    /// The grant's scope; narrowed here to what the client is registered
    /// for and the user holds now.
    pub scope: ScopeSet,
    /// The resource (RFC 8707) the access token is for, already checked
    /// against the client ([`GrantContext::resource_for`]); `None` is
    /// `AUDIENCE`.
    pub resource: Option<String>,
    /// The access token's `jti` when it was chosen beforehand (a code
    /// exchange binds it to the code as the code is spent).
    pub access_jti: Option<String>,
    /// OpenID Connect: the authorization request's `nonce`.
    pub nonce: Option<String>,
    /// OpenID Connect: when the user signed in.
    pub auth_time: Option<i64>,
    /// OpenID Connect: the session signed in (`sid`), when there was one.
    pub sid: Option<String>,
    /// The scope of the original grant, which a narrowed refresh keeps for
    /// the next rotation (RFC 6749 §6); `None` is the token's own.
    pub grant_scope: Option<String>,
    pub refresh: Refresh<'a>,
}

/// A successful token response (RFC 6749 §5.1): never cached.
#[derive(Debug)]
pub struct TokenSuccess(pub TokenResponse);

impl<'r> Responder<'r, 'static> for TokenSuccess {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(json_answer(Status::Ok, &self.0))
    }
}

/// `DPoP` for tokens bound to the request's proof (RFC 9449 §5), else
/// `Bearer`.
fn token_type(ctx: &GrantContext<'_>) -> &'static str {
    if ctx.dpop_jkt().is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// Mints the tokens of a grant, or says why not.
pub async fn mint(
    ctx: &GrantContext<'_>,
    issuance: Issuance<'_>,
) -> Result<TokenSuccess, OAuthError> {
    let client = issuance.client;
    dpop::spend_for_minting(ctx, client).await?;
    let resource = issuance.resource.as_deref();
    let signing_failed = |_| OAuthError::server_error();
    let user = match issuance.holder {
        Holder::User(user) => user,
        Holder::Client => {
            let scope = scope_rules::for_token(&issuance.scope, client, None)?;
            let minted = ctx
                .tokens
                .sign_bound_access_token(
                    Subject::Client,
                    &client.id,
                    &scope,
                    ctx.now,
                    new_jti(),
                    resource,
                    ctx.dpop_jkt(),
                )
                .map_err(signing_failed)?;
            return Ok(TokenSuccess(TokenResponse {
                access_token: minted.token,
                token_type: token_type(ctx).into(),
                expires_in: minted.expires_in,
                scope: scope.to_string(),
                refresh_token: None,
                id_token: None,
                issued_token_type: None,
            }));
        }
    };
    let scope = scope_rules::for_token(&issuance.scope, client, Some(user))?;
    // Personal data goes to the product's own clients, and to a third
    // party only with the scope that names it (API.md).
    let first_party = client.metadata.first_party;
    let subject = Subject::User {
        id: &user.id,
        email: (first_party || scope.has(Scope::Email)).then_some(&*user.email),
        name: (first_party || scope.has(Scope::Profile)).then_some(&*user.name),
    };
    let jti = issuance.access_jti.unwrap_or_else(new_jti);
    // Signed before any transaction, so no lock waits on RSA.
    let minted = ctx
        .tokens
        .sign_bound_access_token(
            subject,
            &client.id,
            &scope,
            ctx.now,
            jti,
            resource,
            ctx.dpop_jkt(),
        )
        .map_err(signing_failed)?;
    let id_token = if scope.has(Scope::OpenId) {
        let claims = id_token::id_token_claims(IdTokenFacts {
            user,
            client_id: &client.id,
            scope: &scope,
            auth_time: issuance.auth_time,
            sid: issuance.sid.as_deref(),
            nonce: issuance.nonce.as_deref(),
            access_token: &minted.token,
        });
        Some(
            ctx.tokens
                .sign_id_token(claims, ctx.now)
                .map_err(signing_failed)?,
        )
    } else {
        None
    };
    let refresh_token = if client.allows_grant(GrantType::RefreshToken) {
        let grant_scope = issuance.grant_scope.unwrap_or_else(|| scope.to_string());
        let new = NewRefreshToken {
            client_id: &client.id,
            user_id: &user.id,
            scope: &grant_scope,
            access_jti: &minted.jti,
            ttl: ctx.config.refresh_token_ttl,
            now: ctx.now,
        };
        // RFC 9449 §5: a public client's refresh tokens are bound to its
        // key; a confidential client's are bound to its authentication.
        let family_key = ctx.dpop_jkt().filter(|_| client.is_public());
        issue_refresh(ctx, issuance.refresh, new, family_key).await?
    } else {
        None
    };
    Ok(TokenSuccess(TokenResponse {
        access_token: minted.token,
        token_type: token_type(ctx).into(),
        expires_in: minted.expires_in,
        scope: scope.to_string(),
        refresh_token,
        id_token,
        issued_token_type: None,
    }))
}

/// The refresh token of a user grant. The first token of a code's family
/// and a rotation's successor are refused, with the access token minted for
/// them listed as revoked, when the family was revoked meanwhile (a
/// concurrent replay).
async fn issue_refresh(
    ctx: &GrantContext<'_>,
    refresh: Refresh<'_>,
    new: NewRefreshToken<'_>,
    family_key: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let (family, presented, refused) = match refresh {
        Refresh::NewFamily => {
            let max_lifetime = ctx.config.refresh_token_max_lifetime;
            let issued =
                refresh_families::start_family(ctx.db, new, max_lifetime, family_key).await?;
            return Ok(Some(issued.token));
        }
        Refresh::CodeFamily(None) => return Ok(None),
        Refresh::CodeFamily(Some(family)) => (family, None, BAD_CODE),
        Refresh::Rotation { family, presented } => (family, Some(presented), BAD_REFRESH),
    };
    let access_jti = new.access_jti.to_owned();
    let access_expires_at = ctx.now + ctx.tokens.ttl();
    let continued =
        refresh_families::continue_family(ctx.db, &family, presented, new, access_expires_at)
            .await?;
    match continued {
        Continued::Issued(issued) => Ok(Some(issued.token)),
        Continued::IssuedRevoked(issued) => {
            // This exchange spent the code first, and a replay of it
            // revoked what it issues: answered, and dead already.
            refresh_families::revoke_access_token(ctx.db, &access_jti, access_expires_at).await?;
            tracing::warn!("a code's tokens were revoked by its replay as they were issued");
            Ok(Some(issued.token))
        }
        Continued::Replayed | Continued::FamilyEnded | Continued::TokenDead => {
            // Never handed out, but a code's jti may already be known to
            // whoever revoked the family: keep the list complete.
            refresh_families::revoke_access_token(ctx.db, &access_jti, access_expires_at).await?;
            Err(OAuthError::invalid_grant(refused))
        }
    }
}

/// The type of every token an exchange takes and issues (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What a token exchange (RFC 8693) asks to be minted: a token for the
/// subject token's subject, obtained by `client`, for `audience`, with
/// `act` naming who acts for the subject.
pub struct Exchange<'a> {
    pub client: &'a Client,
    /// The subject token's claims, already checked live.
    pub subject: &'a AccessTokenClaims,
    /// The subject's account; `None` when the subject is a client.
    pub user: Option<&'a User>,
    /// The scope asked for, within the subject token's.
    pub scope: ScopeSet,
    /// A target the client is registered for.
    pub audience: String,
    /// RFC 8693 §4.1: the actor, with the subject token's own `act` inside.
    pub act: serde_json::Value,
}

/// The claims of an exchanged token: an access token's and `act`.
#[derive(serde::Serialize)]
struct ExchangedClaims<'a> {
    #[serde(flatten)]
    claims: &'a AccessTokenClaims,
    act: &'a serde_json::Value,
}

/// Mints an exchanged access token: never a refresh token nor an id_token,
/// and never living past its subject token. Its lineage is stored before it
/// is handed out, so revoking the subject token (or its family) revokes it.
pub async fn mint_exchanged(
    ctx: &GrantContext<'_>,
    exchange: Exchange<'_>,
) -> Result<TokenSuccess, OAuthError> {
    let client = exchange.client;
    dpop::spend_for_minting(ctx, client).await?;
    let scope = scope_rules::for_token(&exchange.scope, client, exchange.user)?;
    let first_party = client.metadata.first_party;
    let (email, name) = match exchange.user {
        Some(user) => (
            (first_party || scope.has(Scope::Email)).then(|| user.email.clone()),
            (first_party || scope.has(Scope::Profile)).then(|| user.name.clone()),
        ),
        None => (None, None),
    };
    let exp = (ctx.now + ctx.tokens.ttl()).min(exchange.subject.exp);
    let claims = AccessTokenClaims {
        iss: ctx.config.issuer.clone(),
        sub: exchange.subject.sub.clone(),
        aud: Audience::One(exchange.audience),
        exp,
        iat: ctx.now,
        nbf: ctx.now,
        jti: new_jti(),
        client_id: client.id.clone(),
        scope: scope.to_string(),
        email,
        name,
        // Bound to the key of the request's proof, if it sent one (the
        // subject token's own key, when that was bound).
        cnf: ctx
            .dpop_jkt()
            .map(str::to_owned)
            .map(|jkt| Confirmation { jkt }),
    };
    let token = ctx
        .tokens
        .sign_access_claims(
            &ExchangedClaims {
                claims: &claims,
                act: &exchange.act,
            },
            claims.iat,
        )
        .map_err(|_| OAuthError::server_error())?;
    let lineage = Lineage {
        jti: &claims.jti,
        subject_jti: &exchange.subject.jti,
        user_id: exchange.user.map(|user| &*user.id),
        expires_at: exp,
    };
    exchanged_tokens::record(ctx.db, lineage).await?;
    Ok(TokenSuccess(TokenResponse {
        access_token: token,
        token_type: token_type(ctx).into(),
        expires_in: exp - ctx.now,
        scope: claims.scope,
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE.into()),
    }))
}
