//! The one context of an OAuth request: the server's state it works with
//! (the tables, the settings, the token minter), when it arrived, and what
//! the request says besides its form (its `Authorization` header and the
//! client's address). Every OAuth endpoint and grant takes it as it is; no
//! step writes to it, so what a step finds out it returns.

use std::net::IpAddr;
use std::sync::Arc;

use platform::client_addr::ClientAddr;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use shared::clock::AppClock;
use shared::dpop::VerifiedProof;

use super::client_keys::ClientKeySets;
use super::jwt::TokenMinter;
use crate::config::AppConfig;
use crate::errors::OAuthError;
use crate::store::Db;
use crate::store::clients::{Client, Clients};
use crate::store::users::AccountView;

/// One OAuth request's view of the server.
pub struct GrantContext<'r> {
    pub db: &'r Db,
    pub clients: &'r Clients,
    pub config: &'r AppConfig,
    pub tokens: &'r TokenMinter,
    /// The `private_key_jwt` clients' key sets fetched by this process.
    pub client_keys: ClientKeySets,
    /// Accounts remembered for token exchange (`users::AccountView`).
    pub accounts: AccountView,
    /// The server's clock when the request arrived (Unix seconds).
    pub now: i64,
    pub meta: RequestMeta,
    /// A token request's DPoP proof (RFC 9449), set by the token endpoint
    /// once the proof passed, before any grant runs: its key is what the
    /// tokens are bound to, and its `jti` is spent as they are minted.
    pub dpop_proof: Option<VerifiedProof>,
}

/// What a request says besides its parameters.
#[derive(Debug, Default)]
pub struct RequestMeta {
    pub authorization: Option<String>,
    /// The TCP peer, or what a trusted proxy says (`TRUSTED_PROXIES`);
    /// never `X-Real-IP` or a forwarding header from anyone else.
    pub client_ip: Option<IpAddr>,
    /// Every `DPoP` header (RFC 9449 §4.1), to be checked; more than one
    /// is refused.
    pub dpop: Vec<String>,
}

impl RequestMeta {
    pub fn of(request: &Request<'_>) -> RequestMeta {
        RequestMeta {
            authorization: request
                .headers()
                .get_one("Authorization")
                .map(str::to_owned),
            client_ip: ClientAddr::of(request).0,
            dpop: request.headers().get("DPoP").map(str::to_owned).collect(),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for GrantContext<'r> {
    type Error = &'static str;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let rocket = request.rocket();
        let state = (|| {
            Some((
                rocket.state::<Db>()?,
                rocket.state::<Clients>()?,
                rocket.state::<AppConfig>()?,
                rocket.state::<Arc<TokenMinter>>()?,
                rocket.state::<AppClock>()?,
                rocket.state::<ClientKeySets>()?,
                rocket.state::<AccountView>()?,
            ))
        })();
        let Some((db, clients, config, tokens, clock, client_keys, accounts)) = state else {
            return Outcome::Error((Status::InternalServerError, "grant state is not managed"));
        };
        let mut context = GrantContext::new(db, clients, config, tokens, clock.0.now());
        context.meta = RequestMeta::of(request);
        context.client_keys = client_keys.clone();
        context.accounts = accounts.clone();
        Outcome::Success(context)
    }
}

impl<'r> GrantContext<'r> {
    /// A request with no `Authorization` header from no address, at `now`,
    /// with no client key set fetched and no account remembered yet.
    pub fn new(
        db: &'r Db,
        clients: &'r Clients,
        config: &'r AppConfig,
        tokens: &'r TokenMinter,
        now: i64,
    ) -> GrantContext<'r> {
        GrantContext {
            db,
            clients,
            config,
            tokens,
            client_keys: ClientKeySets::default(),
            accounts: AccountView::default(),
            now,
            meta: RequestMeta::default(),
            dpop_proof: None,
        }
    }

    /// The thumbprint of the key the token request's proof proved (RFC
    /// 7638), when it sent one.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_proof.as_ref().map(|proof| proof.jkt.as_str())
    }

    /// May `client` have tokens for `resource`? `AUDIENCE` always; others
    /// only when registered for the client (`clients create --audience`).
    pub fn allows_resource(&self, client: &Client, resource: &str) -> bool {
        resource == self.tokens.audience()
            || client.metadata.audiences.iter().any(|a| a == resource)
    }

    /// The resource an access token is for: the one `requested` now, which
    /// must be the one authorized if there was one (RFC 8707 §2.2), or else
    /// the authorized one (`granted`); `None` is `AUDIENCE`.
    pub fn resource_for(
        &self,
        client: &Client,
        requested: Option<&str>,
        granted: Option<String>,
    ) -> Result<Option<String>, OAuthError> {
        let target = match (requested, granted) {
            (Some(requested), Some(granted)) if requested == granted => Some(granted),
            (Some(requested), None) if self.allows_resource(client, requested) => {
                Some(requested.to_owned())
            }
            (Some(_), _) => return Err(OAuthError::invalid_target()),
            (None, granted) => granted,
        };
        Ok(target.filter(|r| r != self.tokens.audience()))
    }
}
