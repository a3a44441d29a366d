//! The four primitives as oxide-auth-async's flows want them
//! ([`GrantEndpoint`]), and the three token flows run on them as the
//! grants call them ([`run`]).

use oxide_auth_async::code_grant::{access_token, authorization, client_credentials, refresh};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};

use super::authorizer::CodeAuthorizer;
use super::checks::GrantChecks;
use super::flow::Flow;
use super::issuer::GrantIssuer;
use super::registrar::ClientRegistrar;
use super::token_request::TokenRequest;
use crate::errors::OAuthError;
use crate::oauth::client_auth::{self, PresentedCredentials};
use crate::oauth::context::GrantContext;
use crate::oauth::forms::TokenForm;
use crate::oauth::mint::TokenSuccess;

/// Our endpoint as oxide-auth-async's flows see it: the authorization
/// request and the three token grants it drives.
pub struct GrantEndpoint<'s> {
    registrar: ClientRegistrar<'s>,
    authorizer: CodeAuthorizer<'s>,
    issuer: GrantIssuer<'s>,
    checks: GrantChecks<'s>,
}

impl<'s> GrantEndpoint<'s> {
    pub fn new(flow: &'s Flow<'s>) -> GrantEndpoint<'s> {
        GrantEndpoint {
            registrar: ClientRegistrar::new(flow),
            authorizer: CodeAuthorizer::new(flow),
            issuer: GrantIssuer::new(flow),
            checks: GrantChecks::new(flow),
        }
    }
}

/// The accessors each flow's `Endpoint` trait asks for, by the part they
/// hand out; every flow's trait names them alike.
macro_rules! parts {
    (registrar) => {
        fn registrar(&self) -> &(dyn Registrar + Sync) {
            &self.registrar
        }
    };
    (authorizer) => {
        fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
            &mut self.authorizer
        }
    };
    (issuer) => {
        fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
            &mut self.issuer
        }
    };
    ($($part:ident),+) => { $(parts!($part);)+ };
}

impl authorization::Endpoint for GrantEndpoint<'_> {
    parts!(registrar, authorizer);
    fn extension(&mut self) -> &mut (dyn authorization::Extension + Send) {
        &mut self.checks
    }
}

impl access_token::Endpoint for GrantEndpoint<'_> {
    parts!(registrar, authorizer, issuer);
    fn extension(&mut self) -> &mut (dyn access_token::Extension + Send) {
        &mut self.checks
    }
}

impl refresh::Endpoint for GrantEndpoint<'_> {
    parts!(registrar, issuer);
}

impl client_credentials::Endpoint for GrantEndpoint<'_> {
    parts!(registrar, authorizer, issuer);
    fn extension(&mut self) -> &mut (dyn client_credentials::Extension + Send) {
        &mut self.checks
    }
}

/// The token flows of oxide-auth-async that the grants run.
pub enum TokenFlow {
    /// The authorization code's exchange (RFC 6749 §4.1.3): the code is
    /// spent before any check ([`CodeAuthorizer`]), a replay revokes what
    /// the code issued, and PKCE is checked by [`GrantChecks`].
    ExchangeCode,
    /// A refresh (RFC 6749 §6): oxide-auth authenticates the client,
    /// checks that the scope only narrows and asks the issuer to rotate,
    /// which revokes the whole family when a used token comes back.
    Refresh,
    /// A confidential client's token for itself (RFC 6749 §4.4), the
    /// client named by `client_id`.
    ClientCredentials { client_id: String },
}

/// Runs `which` for a token request: the token response, or the precise
/// RFC 6749 error.
pub async fn run(
    which: TokenFlow,
    ctx: &GrantContext<'_>,
    form: &TokenForm,
    presented: &PresentedCredentials,
) -> Result<TokenSuccess, OAuthError> {
    let flow = Flow::token(ctx, form, presented);
    // oxide-auth knows only secrets: an assertion is checked before the
    // flow runs, and the registrar then takes its client as proven.
    if presented.assertion.is_some() {
        flow.proven_by_assertion(client_auth::authenticate(ctx, presented).await?);
    }
    let request = TokenRequest::new(form, presented);
    let mut endpoint = GrantEndpoint::new(&flow);
    match which {
        TokenFlow::ExchangeCode => {
            flow.conclude(access_token::access_token(&mut endpoint, &request).await)
        }
        TokenFlow::Refresh => flow.conclude(refresh::refresh(&mut endpoint, &request).await),
        TokenFlow::ClientCredentials { client_id } => {
            let outcome =
                match client_credentials::client_credentials(&mut endpoint, &request).await {
                    Ok(pending) => pending.issue(&mut endpoint, client_id, false).await,
                    Err(error) => Err(error),
                };
            flow.conclude(outcome)
        }
    }
}
